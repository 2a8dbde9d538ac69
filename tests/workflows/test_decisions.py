"""Send-backs, findings, holds and blockers on a real Temporal dev server with the real activities and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities.provisioning import BuiltinProvisioner
from schemas.contract import DECISION_REFUSED
from schemas.decisions import (
    ApproveInput,
    HoldInput,
    ReportBlockerInput,
    RequestChangesInput,
    ResolveFindingInput,
    ResumeInput,
    ScrapInput,
    SubmitPocResultsInput,
    WaiveFindingInput,
)
from schemas.findings import FindingStatus
from schemas.integrations import DeprovisionInput, Resource
from schemas.policy import Policy
from schemas.stages import InitiativeStatus, Role, Stage
from schemas.status import InitiativeStatusView
from schemas.taxonomy import ReasonCode
from tests.conftest import SUBMITTER, make_spec, make_start
from tests.workflows.helpers import accepted_update_count, start, status, update
from worker.wiring import WORKFLOWS, build_activities

IAN = "ian@example.com"


async def _refused(handle: WorkflowHandle[Any, Any], name: str, payload: object) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update(name, payload)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == DECISION_REFUSED
    return cause.message


async def _rows_when(
    pool: asyncpg.Pool, ready: Callable[[list[asyncpg.Record]], bool], query: str, *args: object
) -> list[asyncpg.Record]:
    """Rows of ``query`` once ``ready`` holds (entry actions may be recorded just after an update returns)."""
    rows: list[asyncpg.Record] = []
    for _ in range(200):
        rows = await pool.fetch(query, *args)
        if ready(rows):
            return rows
        await asyncio.sleep(0.05)
    pytest.fail(f"rows never became ready: {[dict(r) for r in rows]}")


async def _events(pool: asyncpg.Pool, iid: str, ready: Callable[[list[str]], bool]) -> list[asyncpg.Record]:
    return await _rows_when(
        pool,
        lambda rows: ready([r["kind"] for r in rows]),
        "SELECT seq, kind, stage, actor, role, reason_code, reason_family, detail, data "
        "FROM lifecycle_events WHERE initiative_id=$1 ORDER BY seq",
        iid,
    )


def _only(rows: list[asyncpg.Record], kind: str) -> dict[str, Any]:
    matching = [dict(r) for r in rows if r["kind"] == kind]
    assert len(matching) == 1, f"expected one {kind} event, got {matching}"
    return matching[0]


async def _intervals(pool: asyncpg.Pool, iid: str) -> list[tuple[str, int, str | None, str | None]]:
    rows = await pool.fetch(
        "SELECT stage, visit, outcome, reason_code FROM stage_intervals WHERE initiative_id=$1 "
        "ORDER BY entered_at, visit",
        iid,
    )
    return [(r["stage"], r["visit"], r["outcome"], r["reason_code"]) for r in rows]


async def _poc_sandboxes(pool: asyncpg.Pool, iid: str, ready: Callable[[list[str]], bool]) -> list[asyncpg.Record]:
    return await _rows_when(
        pool,
        lambda rows: ready([r["status"] for r in rows]),
        "SELECT ref, status, deprovisioned_at FROM provisioned_resources "
        "WHERE initiative_id=$1 AND environment='poc' ORDER BY created_at",
        iid,
    )


async def _at_poc(handle: WorkflowHandle[Any, Any]) -> InitiativeStatusView:
    view = await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    assert view.stage is Stage.POC
    return view


async def _through_poc(handle: WorkflowHandle[Any, Any]) -> InitiativeStatusView:
    view = await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
    assert view.poc is not None
    assert view.poc.met is True
    view = await update(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
    assert view.stage is Stage.INFRA_REVIEW
    return view


async def _at_infra_review(handle: WorkflowHandle[Any, Any]) -> InitiativeStatusView:
    await _at_poc(handle)
    return await _through_poc(handle)


# ---------------------------------------------------------------------------------------------- request_changes


async def test_request_changes_at_infra_review_reruns_the_poc_in_a_new_sandbox(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    inp = make_start(policy)
    iid = inp.initiative_id
    handle = await start(client, task_queue, inp)
    await _at_infra_review(handle)
    first = await _poc_sandboxes(pool, iid, lambda statuses: statuses == ["deprovisioned"])

    view = await update(
        handle,
        "request_changes",
        RequestChangesInput(
            approver=IAN,
            role=Role.INFRASTRUCTURE,
            reason_code=ReasonCode.SCALABILITY_UNPROVEN,
            detail="load test at 10x peak",
            stage=Stage.INFRA_REVIEW,
        ),
    )
    assert view.stage is Stage.POC
    assert view.status is InitiativeStatus.ACTIVE
    assert view.poc is None
    assert view.approvals == []
    assert view.awaiting_roles == ["business_owner"]
    assert view.visited == [Stage.PROPOSED, Stage.POC, Stage.INFRA_REVIEW]

    sandboxes = await _poc_sandboxes(pool, iid, lambda statuses: statuses == ["deprovisioned", "ready"])
    assert sandboxes[0]["ref"] == first[0]["ref"]
    assert sandboxes[0]["deprovisioned_at"] is not None
    assert sandboxes[1]["ref"] != sandboxes[0]["ref"]

    rows = await _events(pool, iid, lambda kinds: kinds.count("sandbox_provisioned") == 2)
    sent_back = next(i for i, r in enumerate(rows) if r["kind"] == "changes_requested")
    assert [r["kind"] for r in rows[sent_back:]] == [
        "changes_requested",
        "stage_left",
        "stage_entered",
        "sandbox_provisioned",
    ]
    changes, left, entered = (dict(r) for r in rows[sent_back : sent_back + 3])
    assert {k: changes[k] for k in ("stage", "actor", "role", "reason_code", "reason_family", "detail")} == {
        "stage": "infra_review",
        "actor": IAN,
        "role": "infrastructure",
        "reason_code": "SCALABILITY_UNPROVEN",
        "reason_family": "TECHNICAL",
        "detail": "load test at 10x peak",
    }
    assert (left["stage"], left["reason_code"], left["actor"]) == ("infra_review", "SCALABILITY_UNPROVEN", IAN)
    assert left["data"] == {"outcome": "sent_back", "to": "poc"}
    assert entered["stage"] == "poc"

    assert await _intervals(pool, iid) == [
        ("proposed", 1, "advanced", None),
        ("poc", 1, "advanced", None),
        ("infra_review", 1, "sent_back", "SCALABILITY_UNPROVEN"),
        ("poc", 2, None, None),
    ]
    row = await pool.fetchrow("SELECT stage, status, awaiting_roles FROM initiatives WHERE id=$1", iid)
    assert row is not None
    assert dict(row) == {"stage": "poc", "status": "active", "awaiting_roles": ["business_owner"]}

    # the PoC gate is closed again until results are submitted anew
    message = await _refused(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
    assert "PoC results meeting the success criteria must be submitted" in message

    await _through_poc(handle)
    view = await update(handle, "approve", ApproveInput(approver=IAN, role=Role.INFRASTRUCTURE))
    assert view.stage is Stage.IT_SIGNOFF
    assert view.visited == [Stage.PROPOSED, Stage.POC, Stage.INFRA_REVIEW, Stage.IT_SIGNOFF]

    await _poc_sandboxes(pool, iid, lambda statuses: statuses == ["deprovisioned", "deprovisioned"])
    assert await _intervals(pool, iid) == [
        ("proposed", 1, "advanced", None),
        ("poc", 1, "advanced", None),
        ("infra_review", 1, "sent_back", "SCALABILITY_UNPROVEN"),
        ("poc", 2, "advanced", None),
        ("infra_review", 2, "advanced", None),
        ("it_signoff", 1, None, None),
    ]


async def test_request_changes_at_it_signoff_cancels_the_ticket_and_reassesses(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    inp = make_start(policy, budget_usd=900_000)
    iid = inp.initiative_id
    handle = await start(client, task_queue, inp)
    view = await _at_infra_review(handle)
    assert [(f.id, f.rule, f.status) for f in view.findings] == [("F-1", "budget", FindingStatus.OPEN)]
    await update(
        handle,
        "waive_finding",
        WaiveFindingInput(approver=IAN, role=Role.INFRASTRUCTURE, finding_id="F-1", justification="CFO approved"),
    )
    view = await update(handle, "approve", ApproveInput(approver=IAN, role=Role.INFRASTRUCTURE))
    assert view.stage is Stage.IT_SIGNOFF
    await _rows_when(
        pool,
        lambda rows: [r["status"] for r in rows] == ["open"],
        "SELECT status FROM tickets WHERE initiative_id=$1 AND kind='signoff'",
        iid,
    )

    view = await update(
        handle,
        "request_changes",
        RequestChangesInput(
            approver="olga@example.com",
            role=Role.IT_OPERATIONS,
            reason_code=ReasonCode.INTEGRATION_COMPLEXITY,
            detail="CRM integration needs a design review",
        ),
    )
    assert view.stage is Stage.INFRA_REVIEW
    assert view.assessment_pending is False
    assert view.approvals == []
    assert view.awaiting_roles == ["infrastructure"]
    # the assessment ran again: the earlier waiver does not carry over to the new findings
    assert [(f.id, f.rule, f.blocking, f.status, f.closed_by) for f in view.findings] == [
        ("F-1", "budget", True, FindingStatus.OPEN, None)
    ]
    message = await _refused(handle, "approve", ApproveInput(approver=IAN, role=Role.INFRASTRUCTURE))
    assert "blocking findings are still open (F-1)" in message

    tickets = await _rows_when(
        pool,
        lambda rows: [r["status"] for r in rows] == ["cancelled"],
        "SELECT status, closed_at FROM tickets WHERE initiative_id=$1 AND kind='signoff'",
        iid,
    )
    assert tickets[0]["closed_at"] is not None

    rows = await _events(pool, iid, lambda kinds: kinds.count("finding_raised") == 2)
    left = [dict(r) for r in rows if r["kind"] == "stage_left" and r["stage"] == "it_signoff"]
    assert len(left) == 1
    assert (left[0]["reason_code"], left[0]["data"]) == (
        "INTEGRATION_COMPLEXITY",
        {"outcome": "sent_back", "to": "infra_review"},
    )
    changes = _only(rows, "changes_requested")
    assert (changes["stage"], changes["actor"], changes["role"], changes["reason_family"]) == (
        "it_signoff",
        "olga@example.com",
        "it_operations",
        "TECHNICAL",
    )
    assert await _intervals(pool, iid) == [
        ("proposed", 1, "advanced", None),
        ("poc", 1, "advanced", None),
        ("infra_review", 1, "advanced", None),
        ("it_signoff", 1, "sent_back", "INTEGRATION_COMPLEXITY"),
        ("infra_review", 2, None, None),
    ]


async def test_request_changes_refused_without_an_earlier_stage_or_by_a_role_the_gate_does_not_need(
    client: Client, task_queue: str, policy: Policy
) -> None:
    handle = await start(client, task_queue, make_start(policy))

    message = await _refused(
        handle,
        "request_changes",
        RequestChangesInput(
            approver="paula@example.com", role=Role.PORTFOLIO, reason_code=ReasonCode.BIZ_VALUE_UNPROVEN
        ),
    )
    assert "no earlier stage" in message
    assert message == "stage proposed has no earlier stage to send the initiative back to; reject it instead"

    message = await _refused(
        handle,
        "request_changes",
        RequestChangesInput(approver=IAN, role=Role.INFRASTRUCTURE, reason_code=ReasonCode.SCALABILITY_UNPROVEN),
    )
    assert message == "role infrastructure does not decide stage proposed; it needs: portfolio"
    assert await accepted_update_count(handle) == 0

    await _at_poc(handle)
    message = await _refused(
        handle,
        "request_changes",
        RequestChangesInput(approver=IAN, role=Role.INFRASTRUCTURE, reason_code=ReasonCode.SCALABILITY_UNPROVEN),
    )
    assert message == "role infrastructure does not decide stage poc; it needs: business_owner"
    view = await status(handle)
    assert view.stage is Stage.POC
    assert await accepted_update_count(handle) == 1


# ---------------------------------------------------------------------------------------------- findings


async def test_findings_block_approval_until_waived_or_resolved(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    infra = make_spec().infrastructure.model_copy(update={"containerized": False})
    inp = make_start(policy, budget_usd=900_000, infrastructure=infra)
    iid = inp.initiative_id
    handle = await start(client, task_queue, inp)
    view = await _at_infra_review(handle)
    assert [(f.id, f.rule, f.blocking, f.status) for f in view.findings] == [
        ("F-1", "containerized", True, FindingStatus.OPEN),
        ("F-2", "budget", True, FindingStatus.OPEN),
    ]
    containerized, budget = (f.id for f in view.findings)

    message = await _refused(handle, "approve", ApproveInput(approver=IAN, role=Role.INFRASTRUCTURE))
    assert message == (
        f"blocking findings are still open ({containerized}, {budget}); resolve or waive them before approving"
    )
    accepted = await accepted_update_count(handle)

    justification = "a VM workload is accepted for the pilot year; containerize before renewal"
    # only infrastructure may waive
    message = await _refused(
        handle,
        "waive_finding",
        WaiveFindingInput(
            approver="olga@example.com", role=Role.IT_OPERATIONS, finding_id=containerized, justification="ok"
        ),
    )
    assert message == "only role infrastructure may waive a finding, not it_operations"
    # an unknown finding
    message = await _refused(
        handle,
        "waive_finding",
        WaiveFindingInput(approver=IAN, role=Role.INFRASTRUCTURE, finding_id="F-9", justification="ok"),
    )
    assert message == f"no finding F-9; findings: {containerized}, {budget}"
    assert await accepted_update_count(handle) == accepted

    view = await update(
        handle,
        "waive_finding",
        WaiveFindingInput(
            approver=IAN, role=Role.INFRASTRUCTURE, finding_id=containerized, justification=justification
        ),
    )
    assert view.stage is Stage.INFRA_REVIEW
    waived = view.findings[0]
    assert (waived.id, waived.status, waived.closed_by, waived.note) == (
        containerized,
        FindingStatus.WAIVED,
        IAN,
        justification,
    )
    assert view.findings[1].status is FindingStatus.OPEN

    message = await _refused(
        handle,
        "waive_finding",
        WaiveFindingInput(approver=IAN, role=Role.INFRASTRUCTURE, finding_id=containerized, justification="again"),
    )
    assert message == f"finding {containerized} is already waived"
    message = await _refused(
        handle, "resolve_finding", ResolveFindingInput(actor=SUBMITTER, finding_id=containerized, evidence="done")
    )
    assert message == f"finding {containerized} is already waived"
    # one blocking finding is still open
    message = await _refused(handle, "approve", ApproveInput(approver=IAN, role=Role.INFRASTRUCTURE))
    assert f"blocking findings are still open ({budget})" in message

    evidence = "budget revised to 450k USD, see FIN-1234"
    view = await update(
        handle, "resolve_finding", ResolveFindingInput(actor=SUBMITTER, finding_id=budget, evidence=evidence)
    )
    resolved = view.findings[1]
    assert (resolved.id, resolved.status, resolved.closed_by, resolved.note) == (
        budget,
        FindingStatus.RESOLVED,
        SUBMITTER,
        evidence,
    )
    assert view.stage is Stage.INFRA_REVIEW
    assert view.awaiting_roles == ["infrastructure"]

    view = await update(handle, "approve", ApproveInput(approver=IAN, role=Role.INFRASTRUCTURE))
    assert view.stage is Stage.IT_SIGNOFF

    rows = await _events(pool, iid, lambda kinds: "finding_resolved" in kinds)
    waived_event = _only(rows, "finding_waived")
    assert {k: waived_event[k] for k in ("stage", "actor", "role", "reason_code", "reason_family", "detail")} == {
        "stage": "infra_review",
        "actor": IAN,
        "role": "infrastructure",
        "reason_code": "PLATFORM_MISALIGNED",
        "reason_family": "INFRASTRUCTURE",
        "detail": justification,
    }
    assert waived_event["data"] == {"finding_id": containerized, "blocking": True}
    resolved_event = _only(rows, "finding_resolved")
    assert {k: resolved_event[k] for k in ("stage", "actor", "role", "reason_code", "detail")} == {
        "stage": "infra_review",
        "actor": SUBMITTER,
        "role": None,
        "reason_code": "PROD_COST_OVER_BUDGET",
        "detail": evidence,
    }
    assert resolved_event["data"] == {"finding_id": budget}
    assert waived_event["seq"] < resolved_event["seq"]


# ---------------------------------------------------------------------------------------------- hold and resume


async def _assert_on_hold_refuses_decisions(handle: WorkflowHandle[Any, Any]) -> None:
    """While on hold, nothing that would move the gate is accepted, and a second hold is refused."""
    accepted = await accepted_update_count(handle)
    message = await _refused(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
    assert "on hold" in message
    message = await _refused(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
    assert message == "the initiative is on hold; resume it before any approval"
    message = await _refused(
        handle,
        "request_changes",
        RequestChangesInput(
            approver="bob@example.com", role=Role.BUSINESS_OWNER, reason_code=ReasonCode.BIZ_VALUE_UNPROVEN
        ),
    )
    assert "on hold" in message
    message = await _refused(handle, "hold", HoldInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT))
    assert message == "the initiative is already on hold"
    assert await accepted_update_count(handle) == accepted


async def test_hold_pauses_the_gate_and_the_sla_clock(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    inp = make_start(policy)
    iid = inp.initiative_id
    handle = await start(client, task_queue, inp)
    view = await _at_poc(handle)
    sla = policy.stages[Stage.POC].sla
    entered_at = datetime.fromisoformat(view.stage_entered_at)
    assert view.sla_due_at is not None
    assert datetime.fromisoformat(view.sla_due_at) == entered_at + sla

    message = await _refused(handle, "resume", ResumeInput(actor=SUBMITTER))
    assert message == "the initiative is not on hold"

    view = await update(
        handle, "hold", HoldInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT, detail="Q3 spending freeze")
    )
    assert view.stage is Stage.POC
    assert view.status is InitiativeStatus.ON_HOLD
    assert view.hold is not None
    assert (view.hold.reason_code, view.hold.detail, view.hold.actor) == (
        ReasonCode.BUDGET_CUT,
        "Q3 spending freeze",
        SUBMITTER,
    )
    assert view.sla_due_at is None
    row = await pool.fetchrow("SELECT stage, status FROM initiatives WHERE id=$1", iid)
    assert row is not None
    assert dict(row) == {"stage": "poc", "status": "on_hold"}
    await _assert_on_hold_refuses_decisions(handle)

    await asyncio.sleep(0.2)  # some time on hold, so that the SLA allowance visibly grows
    view = await update(handle, "resume", ResumeInput(actor=SUBMITTER, detail="budget restored"))
    assert view.status is InitiativeStatus.ACTIVE
    assert view.hold is None
    assert view.stage_entered_at == entered_at.isoformat()
    assert view.sla_due_at is not None
    due = datetime.fromisoformat(view.sla_due_at)
    assert due >= entered_at + sla

    rows = await _events(pool, iid, lambda kinds: "resumed" in kinds)
    held = _only(rows, "held")
    assert {k: held[k] for k in ("stage", "actor", "reason_code", "reason_family", "detail")} == {
        "stage": "poc",
        "actor": SUBMITTER,
        "reason_code": "BUDGET_CUT",
        "reason_family": "COST",
        "detail": "Q3 spending freeze",
    }
    resumed = _only(rows, "resumed")
    assert (resumed["stage"], resumed["actor"], resumed["detail"]) == ("poc", SUBMITTER, "budget restored")
    held_seconds = resumed["data"]["held_seconds"]
    assert held_seconds >= 0
    # the time on hold is exactly what was added to the stage's SLA allowance
    assert abs((due - (entered_at + sla)) - timedelta(seconds=held_seconds)) < timedelta(milliseconds=1)
    row = await pool.fetchrow("SELECT status FROM initiatives WHERE id=$1", iid)
    assert row is not None
    assert row["status"] == "active"

    # after resuming, the gate works again
    view = await update(
        handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}, stage=Stage.POC)
    )
    assert view.poc is not None
    assert view.poc.met is True


async def test_scrap_while_on_hold_ends_scrapped(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    inp = make_start(policy)
    handle = await start(client, task_queue, inp)
    await _at_poc(handle)
    view = await update(handle, "hold", HoldInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT))
    assert view.status is InitiativeStatus.ON_HOLD

    view = await update(handle, "scrap", ScrapInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT))
    assert view.stage is Stage.SCRAPPED
    assert view.status is InitiativeStatus.SCRAPPED
    assert view.hold is None
    assert view.reason_code is ReasonCode.BUDGET_CUT
    final: InitiativeStatusView = await handle.result()
    assert (final.stage, final.status) == (Stage.SCRAPPED, InitiativeStatus.SCRAPPED)

    row = await pool.fetchrow("SELECT stage, status, reason_code FROM initiatives WHERE id=$1", inp.initiative_id)
    assert row is not None
    assert dict(row) == {"stage": "scrapped", "status": "scrapped", "reason_code": "BUDGET_CUT"}
    await _poc_sandboxes(pool, inp.initiative_id, lambda statuses: statuses == ["deprovisioned"])


# ---------------------------------------------------------------------------------------------- blockers


async def test_report_blocker_is_shown_and_recorded(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    inp = make_start(policy)
    iid = inp.initiative_id
    handle = await start(client, task_queue, inp)
    await _at_poc(handle)

    view = await update(
        handle,
        "report_blocker",
        ReportBlockerInput(
            actor=SUBMITTER, reason_code=ReasonCode.DATA_ACCESS_BLOCKED, detail="no read access to the CRM yet"
        ),
    )
    assert view.stage is Stage.POC
    assert view.status is InitiativeStatus.ACTIVE
    assert view.blocker is not None
    assert (view.blocker.reason_code, view.blocker.detail, view.blocker.actor) == (
        ReasonCode.DATA_ACCESS_BLOCKED,
        "no read access to the CRM yet",
        SUBMITTER,
    )

    rows = await _events(pool, iid, lambda kinds: "blocker_reported" in kinds)
    blocker = _only(rows, "blocker_reported")
    assert {k: blocker[k] for k in ("stage", "actor", "reason_code", "reason_family", "detail")} == {
        "stage": "poc",
        "actor": SUBMITTER,
        "reason_code": "DATA_ACCESS_BLOCKED",
        "reason_family": "DATA",
        "detail": "no read access to the CRM yet",
    }

    await update(handle, "scrap", ScrapInput(actor=SUBMITTER, reason_code=ReasonCode.DATA_ACCESS_BLOCKED))
    await handle.result()
    # A scrapped initiative's workflow has completed, so the server itself refuses the update.
    with pytest.raises(RPCError) as info:
        await handle.execute_update(
            "report_blocker", ReportBlockerInput(actor=SUBMITTER, reason_code=ReasonCode.DATA_ACCESS_BLOCKED)
        )
    assert info.value.status is RPCStatusCode.NOT_FOUND
    kinds = [r["kind"] for r in await pool.fetch("SELECT kind FROM lifecycle_events WHERE initiative_id=$1", iid)]
    assert kinds.count("blocker_reported") == 1


def _worker_with_slow_deprovision(client: Client, pool: asyncpg.Pool, queue: str, release: asyncio.Event) -> Worker:
    builtin = BuiltinProvisioner(pool)

    @activity.defn(name="deprovision")
    async def deprovision(inp: DeprovisionInput) -> Resource:
        await release.wait()
        return await builtin.deprovision(inp)

    def keep(fn: Callable[..., Any]) -> bool:
        return activity._Definition.must_from_callable(fn).name != "deprovision"

    activities = [fn for fn in build_activities(pool) if keep(fn)] + [deprovision]
    return Worker(client, task_queue=queue, workflows=list(WORKFLOWS), activities=activities)


async def test_decisions_while_being_scrapped_are_refused(client: Client, pool: asyncpg.Pool, policy: Policy) -> None:
    queue = f"test-{uuid.uuid4()}"
    release = asyncio.Event()
    async with _worker_with_slow_deprovision(client, pool, queue, release):
        handle = await start(client, queue, make_start(policy))
        await _at_poc(handle)
        scrap = await handle.start_update(
            "scrap",
            ScrapInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            result_type=InitiativeStatusView,
        )
        # the sandbox release is still running: the scrap is accepted but not finished
        message = await _refused(
            handle, "report_blocker", ReportBlockerInput(actor=SUBMITTER, reason_code=ReasonCode.DATA_ACCESS_BLOCKED)
        )
        assert message == "the initiative is being scrapped; no further decisions are accepted"
        message = await _refused(handle, "hold", HoldInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT))
        assert message == "the initiative is being scrapped; no further decisions are accepted"
        release.set()
        view: InitiativeStatusView = await scrap.result()
        assert view.stage is Stage.SCRAPPED
        assert view.blocker is None
        await handle.result()


# ---------------------------------------------------------------------------------------------- stale stage guards


async def test_stale_stage_guard_is_refused(client: Client, task_queue: str, policy: Policy) -> None:
    handle = await start(client, task_queue, make_start(policy))
    await _at_poc(handle)
    accepted = await accepted_update_count(handle)

    message = await _refused(
        handle,
        "request_changes",
        RequestChangesInput(
            approver="bob@example.com",
            role=Role.BUSINESS_OWNER,
            reason_code=ReasonCode.BIZ_VALUE_UNPROVEN,
            stage=Stage.INFRA_REVIEW,
        ),
    )
    assert "meant for stage infra_review" in message
    assert message == (
        "this request for changes was meant for stage infra_review, but the initiative is now at poc; "
        "reload and decide again"
    )
    message = await _refused(
        handle, "hold", HoldInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT, stage=Stage.PROPOSED)
    )
    assert "meant for stage proposed" in message
    message = await _refused(handle, "resume", ResumeInput(actor=SUBMITTER, stage=Stage.PROPOSED))
    assert "meant for stage proposed" in message
    assert await accepted_update_count(handle) == accepted

    # the same decisions with the current stage are accepted
    view = await update(handle, "hold", HoldInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT, stage=Stage.POC))
    assert view.status is InitiativeStatus.ON_HOLD
    view = await update(handle, "resume", ResumeInput(actor=SUBMITTER, stage=Stage.POC))
    assert view.status is InitiativeStatus.ACTIVE
    view = await update(
        handle,
        "request_changes",
        RequestChangesInput(
            approver="bob@example.com",
            role=Role.BUSINESS_OWNER,
            reason_code=ReasonCode.BIZ_VALUE_UNPROVEN,
            stage=Stage.POC,
        ),
    )
    assert view.stage is Stage.PROPOSED
    assert view.awaiting_roles == ["portfolio"]


async def test_blockers_and_findings_do_not_leak_into_other_stages(
    client: Client, task_queue: str, policy: Policy
) -> None:
    inp = make_start(policy, budget_usd=900_000)
    handle = await start(client, task_queue, inp)
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    view = await update(
        handle,
        "report_blocker",
        ReportBlockerInput(actor=SUBMITTER, reason_code=ReasonCode.DATA_ACCESS_BLOCKED, detail="no ERP access"),
    )
    assert view.blocker is not None
    await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
    view = await update(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
    assert view.stage is Stage.INFRA_REVIEW
    assert view.blocker is None  # the PoC's blocker does not follow the initiative into infra review
    assert [f.id for f in view.findings] == ["F-1"]
    view = await update(
        handle,
        "request_changes",
        RequestChangesInput(
            approver="ian@example.com", role=Role.INFRASTRUCTURE, reason_code=ReasonCode.PROD_COST_OVER_BUDGET
        ),
    )
    assert view.stage is Stage.POC
    assert view.findings == []  # stale findings are not shown outside the review that raised them

    await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
    await update(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
    await update(
        handle,
        "waive_finding",
        WaiveFindingInput(approver="ian@example.com", role=Role.INFRASTRUCTURE, finding_id="F-1", justification="ok"),
    )
    await update(handle, "approve", ApproveInput(approver="ian@example.com", role=Role.INFRASTRUCTURE))
    await update(handle, "approve", ApproveInput(approver="olga@example.com", role=Role.IT_OPERATIONS))
    await update(handle, "approve", ApproveInput(approver="beth@example.com", role=Role.BUSINESS_OWNER))
    final = await handle.result()
    assert final.stage is Stage.PRODUCTION
    assert final.hold is None


async def test_a_poc_sandbox_that_cost_more_than_the_budget_blocks_the_infrastructure_gate(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    # the default policy's PoC sandbox is provisioned with 20,000 USD; the whole initiative has 15,000
    inp = make_start(policy, budget_usd=15_000)
    handle = await start(client, task_queue, inp)
    view = await _at_infra_review(handle)

    [finding] = view.findings
    assert (finding.rule, finding.blocking, finding.reason_code) == ("cost", True, ReasonCode.PROD_COST_OVER_BUDGET)
    assert finding.message == "provisioned cost so far, 20,000 USD, passes the budget of 15,000 USD"
    refused = await _refused(handle, "approve", ApproveInput(approver=IAN, role=Role.INFRASTRUCTURE))
    assert "blocking findings are still open (F-1)" in refused
    # the team is told: the gate waits for it to deal with the finding (its queue, and a notice)
    await _rows_when(
        pool,
        lambda rows: [r["team_action"] for r in rows] == ["resolve_findings"],
        "SELECT team_action FROM initiatives WHERE id = $1",
        inp.initiative_id,
    )
