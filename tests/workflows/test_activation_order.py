"""An update and an activity completion in one workflow task: applied in one fixed order, replay-safe.

The situation of the evidence histories (``tests/histories/evidence_*``) made on purpose: the
workflow worker is away while the PoC approval's ``deprovision`` completes and a blocker report meant for
``infra_review`` (valid only once that completion moved the initiative there) arrives. Both reach the next
worker in one workflow task. The SDK's own order applies the update first (and refuses it); liftoff's
worker applies the completion first, as a reader expects, and the history it records replays in a cold
worker.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, Worker

from schemas.decisions import ApproveInput, ReportBlockerInput, SubmitPocResultsInput
from schemas.policy import Policy
from schemas.stages import Role, Stage
from schemas.taxonomy import ReasonCode
from tests.conftest import SUBMITTER, make_start
from tests.workflows.helpers import start, update, update_with_completion_in_one_task
from worker.activation_order import steps
from worker.replay import replay_history
from worker.temporal_client import DATA_CONVERTER
from worker.wiring import WORKFLOWS, build_activities, build_workflow_worker
from workflows.patches import BASELINE_2026_12, ORDERED_BY

ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
TASK_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


def _commands_before_accept(history: WorkflowHistory, update_name: str) -> list[str]:
    """The command events its workflow task recorded before accepting ``update_name``."""
    events = list(history.events)
    for i, event in enumerate(events):
        if (
            event.event_type == ACCEPTED
            and event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == update_name
        ):
            start_of_task = max(j for j in range(i) if events[j].event_type == TASK_COMPLETED)
            return [EventType.Name(e.event_type) for e in events[start_of_task + 1 : i]]
    raise AssertionError(f"{update_name} was never accepted")


async def test_completion_applies_before_an_update_of_the_same_task(
    client: Client, pool: asyncpg.Pool, policy: Policy
) -> None:
    queue = f"test-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, activities=build_activities(pool)) as activities:
        async with build_workflow_worker(client, pool, task_queue=queue):
            handle = await start(client, queue, make_start(policy))
            await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
            await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.93}))
        view = await update_with_completion_in_one_task(
            client,
            pool,
            activities,
            queue,
            handle,
            ("approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER)),
            (
                "report_blocker",
                ReportBlockerInput(
                    actor=SUBMITTER, reason_code=ReasonCode.DATA_ACCESS_BLOCKED, stage=Stage.INFRA_REVIEW
                ),
            ),
        )
        assert view.stage is Stage.INFRA_REVIEW
        assert view.blocker is not None

        history = await handle.fetch_history()
        # The shape of the evidence: the task reacted to the completion, then accepted the update.
        assert "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" in _commands_before_accept(history, "report_blocker")
        assert (await replay_history(history)).replay_failure is None
        stock = Replayer(workflows=list(WORKFLOWS), data_converter=DATA_CONVERTER)
        assert (await stock.replay_workflow(history, raise_on_replay_failure=False)).replay_failure is not None

        # A cold worker (fresh cache, full replay) carries the initiative on.
        async with build_workflow_worker(client, pool, task_queue=queue):
            view = await update(handle, "approve", ApproveInput(approver="ian@example.com", role=Role.INFRASTRUCTURE))
        assert view.stage is Stage.IT_SIGNOFF


async def test_every_new_run_records_the_order(client: Client, task_queue: str, policy: Policy) -> None:
    handle = await start(client, task_queue, make_start(policy))
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    history = await handle.fetch_history()
    markers = [
        e.marker_recorded_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    patch_ids = {
        json.loads(m.details["patch-data"].payloads[0].data)["id"] for m in markers if m.marker_name == "core_patch"
    }
    # one marker, the baseline, stands for every patch of its time, the fixed order among them
    assert patch_ids == {BASELINE_2026_12}
    assert BASELINE_2026_12 in ORDERED_BY


def _job(variant: str) -> Any:
    from temporalio.bridge.proto.workflow_activation import WorkflowActivationJob

    job = WorkflowActivationJob()
    getattr(job, variant).SetInParent()
    return job


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        (["do_update", "resolve_activity", "fire_timer"], [["resolve_activity"], ["fire_timer"], ["do_update"]]),
        (
            ["notify_has_patch", "do_update", "do_update", "resolve_activity"],
            [["notify_has_patch", "resolve_activity"], ["do_update", "do_update"]],
        ),
        (["initialize_workflow", "notify_has_patch"], [["initialize_workflow", "notify_has_patch"]]),
        (["do_update"], [["do_update"]]),
    ],
)
def test_steps_put_each_resolution_alone_and_messages_last(variants: list[str], expected: list[list[str]]) -> None:
    result = steps([_job(v) for v in variants])
    assert [[j.WhichOneof("variant") for j in step] for step in result] == expected
