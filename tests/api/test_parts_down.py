"""Right answers while a part is down: 503 or 504 with a sentence, 202 for a decision not yet applied, never 500."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities.events import EventActivities
from api.app import create_app
from api.context import ApiContext
from api.principals import Directory
from api.temporal import translate
from db.pool import create_pool
from schemas.events import RecordedEvents, RecordEventsInput
from schemas.policy import Policy
from tests.api.conftest import auth, submission
from worker.activation_order import RecordedOrderRunner
from worker.heartbeat import heartbeat
from worker.wiring import WORKFLOWS, build_activities


def _app(ctx: ApiContext) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ctx)), base_url="http://api.test", timeout=60)


def _ctx(client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory, queue: str, **kw: Any) -> ApiContext:
    return ApiContext(
        client=client, pool=pool, directory=directory, policy=policy, task_queue=queue, ui_base_url="http://ui", **kw
    )


@pytest_asyncio.fixture(loop_scope="session")
async def dead_pool() -> AsyncIterator[asyncpg.Pool]:
    """A pool on a port where no database listens: the API's view of PostgreSQL being down."""
    pool = await create_pool("postgresql://postgres@127.0.0.1:9/postgres", min_size=0)
    try:
        yield pool
    finally:
        await pool.close()


async def test_database_down_answers_503_or_succeeds_from_temporal(
    client: Client, task_queue: str, dead_pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> None:
    async with _app(_ctx(client, dead_pool, policy, directory, task_queue)) as api:
        created = await api.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))
        assert created.status_code == 201  # Temporal alone suffices
        iid = created.json()["id"]
        for path in ("/v1/initiatives", "/v1/reports/funnel", f"/v1/initiatives/{iid}/events"):
            response = await api.get(path, headers=auth("vic@example.com"))
            assert response.status_code == 503, path
            assert response.json()["detail"] == "the database is unavailable right now; try again in a few seconds"
            assert response.headers["Retry-After"] == "5"
        live = await api.get(f"/v1/initiatives/{iid}", headers=auth("vic@example.com"))
        assert live.status_code == 200
        # A team decision: team membership comes from the workflow when the read model cannot answer.
        held = await api.post(
            f"/v1/initiatives/{iid}/hold", json={"reason_code": "BUDGET_CUT"}, headers=auth("alice@example.com")
        )
        assert held.status_code == 200, held.text
        assert held.json()["status"] == "on_hold"
        outsider = await api.post(f"/v1/initiatives/{iid}/resume", json={}, headers=auth("mallory@example.com"))
        assert outsider.status_code == 403
        ready = await api.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["postgres"].startswith("unreachable")


async def test_temporal_not_answering_is_504(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> None:
    queue = f"nobody-{uuid.uuid4()}"  # no worker: queries and updates wait for one
    async with _app(_ctx(client, pool, policy, directory, queue, temporal_timeout=0.5)) as api:
        created = await api.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))
        assert created.status_code == 201
        iid = created.json()["id"]
        read = await api.get(f"/v1/initiatives/{iid}", headers=auth("vic@example.com"))
        assert read.status_code == 504
        assert read.json()["detail"].startswith("Temporal did not answer within 0.5 s")
        decided = await api.post(
            f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=auth("paula@example.com")
        )
        assert decided.status_code == 504
        assert "reload before trying again" in decided.json()["detail"]


class FlakyEvents:
    """``record_events`` that fails while ``down`` (the database as the worker sees it), then records."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.real = EventActivities(pool)
        self.down = False

    @activity.defn(name="record_events")
    async def record_events(self, record: RecordEventsInput) -> RecordedEvents:
        if self.down:
            raise ApplicationError("connection refused (the test's database is down)")
        return await self.real.record_events(record)


async def test_decision_while_the_event_log_is_down_is_202_then_applied(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> None:
    queue = f"flaky-{uuid.uuid4()}"
    events = FlakyEvents(pool)
    activities = [events.record_events, *(a for a in build_activities(pool) if a.__name__ != "record_events")]
    worker = Worker(
        client,
        task_queue=queue,
        workflows=list(WORKFLOWS),
        activities=activities,
        workflow_runner=RecordedOrderRunner(),
    )
    async with (
        worker,
        heartbeat(pool, queue, interval=1.0),
        _app(_ctx(client, pool, policy, directory, queue, decision_wait=1.0)) as api,
    ):
        created = await api.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))
        iid = created.json()["id"]
        path, key = f"/v1/initiatives/{iid}/approve", {"Idempotency-Key": "approve-once", **auth("paula@example.com")}
        first = await api.post(path, json={"role": "portfolio"}, headers=key)
        assert first.status_code == 200  # the log is up: applied at once
        events.down = True
        poc = f"/v1/initiatives/{iid}/submit-poc-results"
        body = {"metrics": {"f1": 0.95}}
        pending = await api.post(poc, json=body, headers={"Idempotency-Key": "poc-1", **auth("alice@example.com")})
        assert pending.status_code == 202, pending.text
        answer = pending.json()
        assert answer["state"] == "accepted"
        assert answer["status_url"] == f"/v1/initiatives/{iid}"
        events.down = False
        for _ in range(150):
            view = (await api.get(f"/v1/initiatives/{iid}", headers=auth("vic@example.com"))).json()
            if view["poc"] is not None and view["awaiting_roles"] == ["business_owner"]:
                break
            await asyncio.sleep(0.1)
        assert view["poc"]["met"] is True
        # The same key is the same decision: its outcome, not a second submission.
        again = await api.post(poc, json=body, headers={"Idempotency-Key": "poc-1", **auth("alice@example.com")})
        assert again.status_code == 200
        assert again.json()["poc"]["met"] is True
        log = (await api.get(f"/v1/initiatives/{iid}/events", headers=auth("vic@example.com"))).json()["events"]
        assert [e["kind"] for e in log].count("poc_results_submitted") == 1


@workflow.defn(name="InitiativeWorkflow", sandboxed=False)
class BrokenStatusWorkflow:
    """Answers ``status`` with an error, as a workflow whose worker fails does."""

    @workflow.run
    async def run(self, inp: Any) -> None:
        del inp
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def status(self) -> None:
        raise RuntimeError("cannot answer")


async def test_a_failing_query_is_503(client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory) -> None:
    queue = f"broken-{uuid.uuid4()}"
    async with (
        Worker(client, task_queue=queue, workflows=[BrokenStatusWorkflow]),
        _app(_ctx(client, pool, policy, directory, queue)) as api,
    ):
        iid = (await api.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))).json()["id"]
        response = await api.get(f"/v1/initiatives/{iid}", headers=auth("vic@example.com"))
        assert response.status_code == 503
        assert response.json()["detail"].startswith("the initiative's workflow cannot answer right now")
        await client.get_workflow_handle(f"initiative-{iid}").terminate()


def test_temporal_failures_map_to_sentences() -> None:
    too_big = RPCError("Blob data size exceeds limit.", RPCStatusCode.INVALID_ARGUMENT, b"")
    answer = translate(too_big, "x", 5, "sending")
    assert answer is not None
    assert answer.status_code == 413
    assert "Blob" not in str(answer.detail)
    down = translate(RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b""), "x", 5, "reading")
    assert down is not None
    assert down.status_code == 503
    assert "connection refused" not in str(down.detail)
    query = translate(WorkflowQueryFailedError("boom"), "x", 5, "reading")
    assert query is not None
    assert query.status_code == 503
    assert translate(ValueError("not temporal"), "x", 5, "reading") is None


async def test_idempotent_submission_answers_now_and_refuses_another_body(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}", **auth("alice@example.com")}
    first = await api.post("/v1/initiatives", json=submission(), headers=headers)
    assert first.status_code == 201
    iid = first.json()["id"]
    approved = await api.post(
        f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=auth("paula@example.com")
    )
    assert approved.status_code == 200
    again = await api.post("/v1/initiatives", json=submission(), headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == iid
    assert again.json()["stage"] == "poc"
    other = await api.post("/v1/initiatives", json=submission(title="Another"), headers=headers)
    assert other.status_code == 422
    [problem] = other.json()["detail"]
    assert problem["loc"] == ["header", "Idempotency-Key"]
    assert iid in problem["msg"]
