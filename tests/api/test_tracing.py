"""One trace follows a decision: the API's request, the update, the workflow's handling, the activities."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from api.app import create_app
from api.context import ApiContext
from api.principals import Directory
from schemas.policy import Policy
from tests.api.conftest import auth, submission
from worker.temporal_client import connect_client
from worker.tracing import temporal_tracing, trace_api
from worker.wiring import build_worker


async def test_one_trace_spans_the_request_the_update_and_the_activities(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = await connect_client(client.service_client.config.target_host, interceptors=temporal_tracing(provider))
    queue = f"tracing-{uuid.uuid4()}"
    ctx = ApiContext(client=traced, pool=pool, directory=directory, policy=policy, task_queue=queue, ui_base_url="x")
    app = create_app(ctx)
    trace_api(app, provider)
    async with (
        build_worker(traced, pool, task_queue=queue),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api,
    ):
        created = await api.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))
        iid = created.json()["id"]
        exporter.clear()
        approved = await api.post(
            f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=auth("paula@example.com")
        )
        assert approved.status_code == 200, approved.text
        await asyncio.sleep(1)  # the PoC sandbox is provisioned after the update has returned
        probe = await api.get("/readyz")
        assert probe.status_code in {200, 503}
    spans = exporter.get_finished_spans()
    request = next(s for s in spans if s.name == "POST /v1/initiatives/{initiative_id}/approve")
    in_trace = [s for s in spans if s.context.trace_id == request.context.trace_id]
    update = next(s for s in in_trace if s.name == "StartWorkflowUpdate:approve")
    assert update.parent is not None
    assert update.parent.trace_id == request.context.trace_id
    # what the approval led to, in its trace: the events recorded, the PoC sandbox provisioned
    followed = {s.name for s in in_trace if s.parent is not None and s.parent.span_id == update.context.span_id}
    assert {"RunActivity:record_events", "RunActivity:provision"} <= followed
    # the workflow's handling of the update is a span of the workflow's own trace, linked to the request's
    handled = next(s for s in spans if s.name == "HandleUpdate:approve")
    assert [link.context.span_id for link in handled.links] == [update.context.span_id]
    assert not any("readyz" in s.name for s in spans)  # probes are not traced
    provider.shutdown()
