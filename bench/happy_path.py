"""The happy path of ``InitiativeWorkflow`` and of the floor, driven through the Temporal client.

Also derives the floor's plan from a finished run's history, so the floor makes the same calls.
"""

from __future__ import annotations

import uuid
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle, WorkflowHistory

from bench.floor_workflow import FLOOR_WORKFLOW, LOCAL, REGULAR, FloorPlan
from schemas.classification import DataClassification, DeploymentTarget, Procurement, RiskTier
from schemas.contract import INITIATIVE_WORKFLOW, workflow_id_for
from schemas.decisions import ApproveInput, SubmitPocResultsInput
from schemas.initiative import InfrastructureSpec, InitiativeSpec, StartInitiativeInput, SuccessCriterion
from schemas.policy import Policy
from schemas.stages import Role, Stage
from schemas.status import InitiativeStatusView
from workflows import search_attributes as sa

SUBMITTER = "alice@example.com"
ROSTER = {
    "portfolio": ["paula@example.com"],
    "business_owner": ["bob@example.com", "beth@example.com"],
    "infrastructure": ["ian@example.com"],
    "it_operations": ["olga@example.com"],
}
#: The happy path of tests/workflows/test_initiative_lifecycle.py: proposal → production.
HAPPY_PATH: list[tuple[str, BaseModel]] = [
    ("approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO, stage=Stage.PROPOSED)),
    ("submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.91}, spend_usd=1200)),
    ("approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER)),
    ("approve", ApproveInput(approver="ian@example.com", role=Role.INFRASTRUCTURE)),
    ("approve", ApproveInput(approver="olga@example.com", role=Role.IT_OPERATIONS)),
    ("approve", ApproveInput(approver="beth@example.com", role=Role.BUSINESS_OWNER)),
]
Handle = WorkflowHandle[Any, Any]
#: The marker a local activity leaves in history.
LA_MARKER = "core_local_activity"


def start_input(policy: Policy) -> StartInitiativeInput:
    spec = InitiativeSpec(
        title="Churn prediction",
        summary="Predict churn for retention offers",
        team="ml-platform",
        business_unit="retail",
        sponsor="cfo@example.com",
        risk_tier=RiskTier.LIMITED,
        data_classification=DataClassification.INTERNAL,
        procurement=Procurement.IT_PLAN,
        budget_usd=50_000,
        infrastructure=InfrastructureSpec(
            deployment_target=DeploymentTarget.PUBLIC_CLOUD,
            containerized=True,
            gpu_type="nvidia-l4",
            gpu_count=1,
            storage_tb=1,
            integrations=["crm"],
            expected_peak_qps=5,
        ),
        poc_success_criteria=[SuccessCriterion(metric="auc", operator=">=", target=0.8)],
    )
    iid = uuid.uuid4().hex[:16]
    return StartInitiativeInput(
        initiative_id=iid,
        spec=spec,
        submitter=SUBMITTER,
        submitted_at_iso=datetime.now(UTC).isoformat(),
        policy=policy,
        roster=ROSTER,
    )


async def run_real(client: Client, queue: str, policy: Policy) -> Handle:
    """One initiative from proposal to production through the client, as the Web UI would drive it."""
    inp = start_input(policy)
    handle: Handle = await client.start_workflow(
        INITIATIVE_WORKFLOW,
        inp,
        id=workflow_id_for(inp.initiative_id),
        task_queue=queue,
        result_type=InitiativeStatusView,
        search_attributes=sa.for_start(inp, datetime.fromisoformat(inp.submitted_at_iso)),
    )
    for name, payload in HAPPY_PATH:
        await handle.execute_update(name, payload, result_type=InitiativeStatusView)
    final: InitiativeStatusView = await handle.result()
    if final.stage is not Stage.PRODUCTION:
        raise RuntimeError(f"{handle.id} ended at {final.stage.value}, not production")
    return handle


async def run_floor(client: Client, queue: str, plan: FloorPlan) -> Handle:
    """One floor workflow through the same updates."""
    handle: Handle = await client.start_workflow(
        FLOOR_WORKFLOW, plan, id=f"floor-{uuid.uuid4().hex[:16]}", task_queue=queue, result_type=int
    )
    for name, _ in HAPPY_PATH:
        await handle.execute_update(name, name, result_type=int)
    await handle.result()
    return handle


def _kind(event: HistoryEvent) -> str | None:
    return event.WhichOneof("attributes")


def _is_local_activity(event: HistoryEvent) -> bool:
    return _kind(event) == "marker_recorded_event_attributes" and (
        event.marker_recorded_event_attributes.marker_name == LA_MARKER
    )


def _activities(history: WorkflowHistory) -> int:
    return sum(1 for e in history.events if _kind(e) == "activity_task_scheduled_event_attributes")


async def plan_from_run(client: Client, handle: Handle) -> tuple[FloorPlan, int]:
    """Where a finished happy-path run called its activities (and its children's); returns (plan, children)."""
    plan = FloorPlan()
    in_flight = False
    child_ids: list[str] = []
    for event in (await handle.fetch_history()).events:
        kind = _kind(event)
        call = None
        if kind == "workflow_execution_update_accepted_event_attributes":
            in_flight = True
            plan.during.append("")
            plan.after.append("")
        elif kind == "workflow_execution_update_completed_event_attributes":
            in_flight = False
        elif kind == "start_child_workflow_execution_initiated_event_attributes":
            child_ids.append(event.start_child_workflow_execution_initiated_event_attributes.workflow_id)
        elif kind == "activity_task_scheduled_event_attributes":
            call = REGULAR
        elif (
            kind == "marker_recorded_event_attributes"
            and event.marker_recorded_event_attributes.marker_name == LA_MARKER
        ):
            call = LOCAL
        if call is None:
            continue
        if child_ids:
            plan.tail += call
        elif not plan.during:
            plan.head += call
        elif in_flight:
            plan.during[-1] += call
        else:
            plan.after[-1] += call
    for child_id in child_ids:
        plan.child += _activities(await client.get_workflow_handle(child_id).fetch_history())
    return plan, len(child_ids)


@dataclass(frozen=True)
class HistoryCost:
    """What one initiative (with its children) costs Temporal: history events and billable actions."""

    events: int
    actions: int
    upserts: int
    timers: int
    activities: int
    local_activity_tasks: int


#: Search attributes the SDK sets for ``workflow.patched`` (not billed).
_CHANGE_VERSION = "TemporalChangeVersion"


def _cost_of(history: WorkflowHistory) -> HistoryCost:
    """Billable actions as Temporal Cloud counts them from a history (docs: "Temporal Cloud Actions").

    A start (client, child or continue-as-new), each activity scheduled, timer started, update accepted or
    rejected, signal, and search-attribute upsert (``TemporalChangeVersion`` alone is exempt); local activities
    count once per workflow task that ran any. Queries are not in a history and are not counted here.
    """
    events = list(history.events)
    counts = {"upserts": 0, "timers": 0, "activities": 0, "local": 0, "other": 0}
    local_in_task = False
    for event in events:
        kind = _kind(event)
        if kind == "workflow_task_completed_event_attributes":
            local_in_task = False
        elif kind == "upsert_workflow_search_attributes_event_attributes":
            fields = set(event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
            counts["upserts"] += bool(fields - {_CHANGE_VERSION})
        elif kind == "timer_started_event_attributes":
            counts["timers"] += 1
        elif kind == "activity_task_scheduled_event_attributes":
            counts["activities"] += 1
        elif (
            kind == "marker_recorded_event_attributes"
            and event.marker_recorded_event_attributes.marker_name == LA_MARKER
        ):
            counts["local"] += not local_in_task
            local_in_task = True
        elif kind in _BILLED_ONCE:
            counts["other"] += 1
    return HistoryCost(
        events=len(events),
        actions=sum(counts.values()),
        upserts=counts["upserts"],
        timers=counts["timers"],
        activities=counts["activities"],
        local_activity_tasks=counts["local"],
    )


_BILLED_ONCE = {
    "workflow_execution_started_event_attributes",
    "workflow_execution_update_accepted_event_attributes",
    "workflow_execution_update_rejected_event_attributes",
    "workflow_execution_signaled_event_attributes",
    "signal_external_workflow_execution_initiated_event_attributes",
}


async def history_cost(client: Client, handle: Handle) -> tuple[HistoryCost, HistoryCost]:
    """The cost of a finished initiative: its own history, and with its children's (their starts are billed here)."""
    history = await handle.fetch_history()
    own = total = _cost_of(history)
    for event in history.events:
        if _kind(event) == "start_child_workflow_execution_initiated_event_attributes":
            child_id = event.start_child_workflow_execution_initiated_event_attributes.workflow_id
            child = _cost_of(await client.get_workflow_handle(child_id).fetch_history())
            total = HistoryCost(*(a + b for a, b in zip(astuple(total), astuple(child), strict=True)))
    return own, total
