"""The happy path of ``InitiativeWorkflow`` and of the floor, driven through the Temporal client.

Also derives the floor's plan from a finished run's history, so the floor makes the same calls.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle, WorkflowHistory

from bench.floor_workflow import FLOOR_WORKFLOW, FloorPlan
from schemas.classification import DataClassification, DeploymentTarget, Procurement, RiskTier
from schemas.contract import INITIATIVE_WORKFLOW, workflow_id_for
from schemas.decisions import ApproveInput, SubmitPocResultsInput
from schemas.initiative import InfrastructureSpec, InitiativeSpec, StartInitiativeInput, SuccessCriterion
from schemas.policy import Policy
from schemas.stages import Role, Stage
from schemas.status import InitiativeStatusView

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
    return StartInitiativeInput(initiative_id=iid, spec=spec, submitter=SUBMITTER, policy=policy, roster=ROSTER)


async def run_real(client: Client, queue: str, policy: Policy) -> Handle:
    """One initiative from proposal to production through the client, as the Web UI would drive it."""
    inp = start_input(policy)
    handle: Handle = await client.start_workflow(
        INITIATIVE_WORKFLOW,
        inp,
        id=workflow_id_for(inp.initiative_id),
        task_queue=queue,
        result_type=InitiativeStatusView,
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


def _activities(history: WorkflowHistory) -> int:
    return sum(1 for e in history.events if _kind(e) == "activity_task_scheduled_event_attributes")


async def plan_from_run(client: Client, handle: Handle) -> tuple[FloorPlan, int]:
    """Where a finished happy-path run scheduled its activities (and its children's); returns (plan, children)."""
    plan = FloorPlan()
    in_flight = False
    child_ids: list[str] = []
    for event in (await handle.fetch_history()).events:
        kind = _kind(event)
        if kind == "workflow_execution_update_accepted_event_attributes":
            in_flight = True
            plan.during.append(0)
            plan.after.append(0)
        elif kind == "workflow_execution_update_completed_event_attributes":
            in_flight = False
        elif kind == "start_child_workflow_execution_initiated_event_attributes":
            child_ids.append(event.start_child_workflow_execution_initiated_event_attributes.workflow_id)
        elif kind == "activity_task_scheduled_event_attributes":
            if child_ids:
                plan.tail += 1
            elif not plan.during:
                plan.head += 1
            elif in_flight:
                plan.during[-1] += 1
            else:
                plan.after[-1] += 1
    for child_id in child_ids:
        plan.child += _activities(await client.get_workflow_handle(child_id).fetch_history())
    return plan, len(child_ids)
