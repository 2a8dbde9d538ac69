"""What an initiative costs Temporal: the happy path's history and billable actions, and the recording fallback.

Counted from real histories with the bench's own counter (``bench.happy_path.history_cost``), which
follows Temporal Cloud's list of billable actions.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.events import EventActivities
from bench.happy_path import history_cost, run_real
from db import events_repo
from schemas.decisions import ApproveInput
from schemas.events import RecordedEvents, RecordEventsInput
from schemas.notifications import NotificationPolicy
from schemas.policy import Policy
from schemas.stages import Role, Stage
from tests.conftest import make_start
from tests.workflows.helpers import start, update
from worker.activation_order import RecordedOrderRunner
from worker.wiring import WORKFLOWS, build_activities
from workflows import search_attributes as sa

UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES


async def test_the_happy_path_costs_under_110_events_and_35_actions(
    client: Client, task_queue: str, policy: Policy
) -> None:
    # Without reminders, as the cost was first measured (issue 14); with them, below.
    quiet = policy.model_copy(update={"notifications": NotificationPolicy(reminders_at=[])})
    handle = await run_real(client, task_queue, quiet)
    own, with_rollout = await history_cost(client, handle)
    assert own.events < 110
    assert with_rollout.actions < 35
    assert own.timers <= 1  # one alarm, kept while each next deadline is later
    assert own.activities == 5  # provision, deprovision, assess, open and close the sign-off ticket
    # Upserts only when a value changes: never the same value twice in a row.
    history = await handle.fetch_history()
    seen: dict[str, bytes] = {}
    for event in history.events:
        if event.event_type != UPSERT:
            continue
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for name, payload in fields.items():
            if name != "TemporalChangeVersion":
                assert seen.get(name) != payload.data, f"{name} upserted again unchanged"
                seen[name] = payload.data
    # The attributes given at the start (as the API gives them) are not upserted again.
    assert "InitiativeTeam" not in seen
    assert "RiskTier" not in seen


async def test_reminders_cost_at_most_one_timer_per_stage(client: Client, task_queue: str, policy: Policy) -> None:
    # A stage whose first reminder comes before the alarm already set moves the alarm earlier: a cancelled
    # timer and a new one (one action). Decisions in seconds make every later stage do so; in real time
    # the alarm has usually rung by then, and a timer per reminder is what reminders cost.
    handle = await run_real(client, task_queue, policy)
    own, with_rollout = await history_cost(client, handle)
    gates = 4  # proposed, poc, infra_review, it_signoff
    assert own.timers <= gates
    assert with_rollout.actions < 35 + own.timers - 1
    assert own.events < 110 + 2 * (own.timers - 1)


async def test_search_attributes_at_start_match_what_the_workflow_would_publish(
    client: Client, task_queue: str, policy: Policy
) -> None:
    handle = await start(client, task_queue, make_start(policy))  # started without any
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    described = await handle.describe()
    attributes = described.typed_search_attributes
    assert attributes.get(sa.INITIATIVE_STAGE) == Stage.POC.value
    assert attributes.get(sa.INITIATIVE_TEAM) == make_start(policy).spec.team
    assert attributes.get(sa.STALLED) is False


class DownThenUp:
    """``record_events`` refused while ``down`` (the database as the worker sees it)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.real = EventActivities(pool)
        self.down = True
        self.attempts = 0

    @activity.defn(name="record_events")
    async def record_events(self, record: RecordEventsInput) -> RecordedEvents:
        self.attempts += 1
        if self.down:
            raise ApplicationError("connection refused (the test's database is down)")
        return await self.real.record_events(record)


async def test_a_database_down_past_the_local_budget_hands_events_to_a_regular_activity(
    client: Client, pool: asyncpg.Pool, policy: Policy
) -> None:
    queue = f"lean-{uuid.uuid4()}"
    events = DownThenUp(pool)
    activities = [events.record_events, *(a for a in build_activities(pool) if a.__name__ != "record_events")]
    async with Worker(
        client,
        task_queue=queue,
        workflows=list(WORKFLOWS),
        activities=activities,
        workflow_runner=RecordedOrderRunner(),
    ):
        inp = make_start(policy)
        handle = await start(client, queue, inp)
        async with asyncio.timeout(60):
            while not any(  # noqa: ASYNC110 - polling the server's history
                e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                for e in (await handle.fetch_history()).events
            ):
                await asyncio.sleep(0.5)
        local_attempts = events.attempts
        events.down = False
        view = await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    assert view.stage is Stage.POC
    assert local_attempts >= 3  # retried locally within the budget first
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled[0] == "record_events"
    async with pool.acquire() as conn:
        recorded = await events_repo.list_events(conn, inp.initiative_id)
    kinds = [e.kind for e in recorded]
    assert kinds[:2] == ["submitted", "stage_entered"]
    assert kinds.count("submitted") == 1
