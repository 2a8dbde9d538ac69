"""``InitiativeWorkflow``: one initiative's durable path from proposal to production.

Update handlers only record a decision (validators refuse anything invalid before it reaches
history); ``run`` records the events in PostgreSQL in order and advances the stages
(``workflows/initiative_stages.py``).
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():  # models only: liftoff's logic is imported below, sandboxed
    from schemas.decisions import (
        Approval,
        ApproveInput,
        Blocker,
        Hold,
        HoldInput,
        RejectInput,
        ReportBlockerInput,
        RequestChangesInput,
        ResolveFindingInput,
        ResumeInput,
        ScrapInput,
        SubmitPocResultsInput,
        WaiveFindingInput,
    )
    from schemas.events import EventKind
    from schemas.findings import FindingStatus
    from schemas.initiative import StartInitiativeInput
    from schemas.stages import Stage
    from schemas.status import InitiativeStatusView, PocEvaluation
    from schemas.taxonomy import ReasonCode

from workflows import gates, patches
from workflows import search_attributes as sa
from workflows.initiative_base import refuse
from workflows.initiative_stages import InitiativeStages


@workflow.defn(name="InitiativeWorkflow")
class InitiativeWorkflow(InitiativeStages):
    """The lifecycle of one initiative (see DESIGN.md, "The lifecycle")."""

    @workflow.init
    def __init__(self, inp: StartInitiativeInput) -> None:
        # Tells the worker to apply this run's jobs in the fixed order (worker/activation_order.py); runs
        # started before it keep the SDK's order, in which their histories were recorded.
        workflow.patched(patches.ACTIVATION_ORDER)
        self._init_state(inp)
        self._lean = workflow.patched(patches.LEAN_HISTORY)
        if inp.carried is not None:
            self._restore(inp.carried)
            return
        submitted = datetime_from(inp.submitted_at_iso) if inp.submitted_at_iso else None
        if self._lean and submitted is not None and submitted.tzinfo is not None:
            # The stage (and its SLA clock) starts when the API accepted the submission; the API starts
            # the workflow with StageEnteredAt set to that moment, so nothing needs upserting yet.
            self._stage_entered_at = self._clock_start = min(submitted, workflow.now())
        # The first events exist before any update can be handled, so an update admitted together with
        # the start is ordered after them and is evaluated against the proposed gate.
        self._visited.append(Stage.PROPOSED)
        self._emit(EventKind.SUBMITTED, actor=inp.submitter, data={"title": inp.spec.title})
        self._emit(EventKind.STAGE_ENTERED, data={"awaiting_roles": [r.value for r in self._awaiting()]})

    @workflow.run
    async def run(self, inp: StartInitiativeInput) -> InitiativeStatusView:
        """Walk the stages until production or scrapped."""
        spec = inp.spec
        if not self._lean:  # lean: published with the first change, or given at the start
            workflow.upsert_search_attributes(sa.identity(spec.team, spec.business_unit, spec.risk_tier.value))
        while True:
            await self._walk()
            if self._stage.is_terminal:
                break
            # The history grew past its limit: let answered updates return, then hand everything to a
            # fresh run with the same id. A decision arriving meanwhile is processed first.
            await workflow.wait_condition(lambda: workflow.all_handlers_finished() or self._has_work())
            if not self._has_work():
                workflow.logger.info("continuing as new", extra={"run": self._runs, "seq": self._seq})
                workflow.continue_as_new(inp.model_copy(update={"carried": self._carry()}))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view()

    def _ending_refusal(self) -> str | None:
        if self._ending is not None:
            return "the initiative is being scrapped; no further decisions are accepted"
        if self._send_back is not None:
            return "the initiative is being sent back; decide again once it has moved"
        return None

    # ------------------------------------------------------------------ gate decisions

    @workflow.update(description="Approve the current gate for one role. Payload: approver, role, stage?, comment?")
    async def approve(self, inp: ApproveInput) -> InitiativeStatusView:
        """Record an approval; the gate closes when every required role has approved."""
        self._approvals.append(
            Approval(approver=inp.approver, role=inp.role, comment=inp.comment, at=workflow.now().isoformat())
        )
        self._progress = True
        seq = self._emit(
            EventKind.APPROVED,
            actor=inp.approver,
            role=inp.role.value,
            detail=inp.comment,
            verified=inp.token is not None,
        )
        return await self._wait_settled(seq)

    @approve.validator
    def _validate_approve(self, inp: ApproveInput) -> None:
        refuse(gates.refuse_payload(inp) or self._ending_refusal() or gates.refuse_approve(self._gate(), inp), inp)

    @workflow.update(
        description="Reject at the current gate; ends the initiative. Payload: approver, role, reason_code"
    )
    async def reject(self, inp: RejectInput) -> InitiativeStatusView:
        """Record a rejection; ``run`` scraps the initiative with the reason."""
        seq = self._emit(
            EventKind.REJECTED,
            actor=inp.approver,
            role=inp.role.value,
            reason_code=inp.reason_code,
            detail=inp.detail,
            verified=inp.token is not None,
        )
        self._ending = (
            EventKind.REJECTED,
            inp.approver,
            inp.role.value,
            inp.reason_code,
            inp.detail,
            inp.token is not None,
        )
        return await self._wait_settled(seq)

    @reject.validator
    def _validate_reject(self, inp: RejectInput) -> None:
        refuse(gates.refuse_payload(inp) or self._ending_refusal() or gates.refuse_reject(self._gate(), inp), inp)

    @workflow.update(
        description="Send the initiative back one stage with a reason. Payload: approver, role, reason_code, detail"
    )
    async def request_changes(self, inp: RequestChangesInput) -> InitiativeStatusView:
        """Record a send-back; ``run`` moves the initiative to the previous stage."""
        self._progress = True
        seq = self._emit(
            EventKind.CHANGES_REQUESTED,
            actor=inp.approver,
            role=inp.role.value,
            reason_code=inp.reason_code,
            detail=inp.detail,
            verified=inp.token is not None,
        )
        self._send_back = (inp.approver, inp.role.value, inp.reason_code, inp.detail)
        return await self._wait_settled(seq)

    @request_changes.validator
    def _validate_request_changes(self, inp: RequestChangesInput) -> None:
        refuse(
            gates.refuse_payload(inp) or self._ending_refusal() or gates.refuse_request_changes(self._gate(), inp), inp
        )

    @workflow.update(description="Submit PoC results (metrics against the intake criteria). Payload: actor, metrics")
    async def submit_poc_results(self, inp: SubmitPocResultsInput) -> InitiativeStatusView:
        """Record PoC results and evaluate them against the success criteria."""
        unmet = gates.evaluate_poc(self._inp.spec.poc_success_criteria, inp.metrics)
        self._poc = PocEvaluation(
            metrics=dict(inp.metrics),
            spend_usd=inp.spend_usd,
            summary=inp.summary,
            met=not unmet,
            unmet=unmet,
            submitted_by=inp.actor,
            at=workflow.now().isoformat(),
        )
        self._poc_spend += inp.spend_usd
        self._progress = True
        seq = self._emit(
            EventKind.POC_RESULTS_SUBMITTED,
            actor=inp.actor,
            reason_code=ReasonCode.POC_CRITERIA_NOT_MET if unmet else None,
            detail=inp.summary,
            data={"metrics": dict(inp.metrics), "spend_usd": inp.spend_usd, "met": not unmet, "unmet": unmet},
            verified=inp.token is not None,
        )
        return await self._wait_settled(seq)

    @submit_poc_results.validator
    def _validate_poc_results(self, inp: SubmitPocResultsInput) -> None:
        refuse(
            gates.refuse_payload(inp)
            or self._ending_refusal()
            or gates.refuse_team_actor(self._gate(), inp.actor, "submit_poc_results", signed=inp.token is not None)
            or gates.refuse_poc_results(self._gate(), inp),
            inp,
        )

    # ------------------------------------------------------------------ findings

    def _close_finding(self, finding_id: str, status: FindingStatus, by: str, note: str) -> None:
        self._findings = [
            f.model_copy(update={"status": status, "closed_by": by, "note": note}) if f.id == finding_id else f
            for f in self._findings
        ]

    @workflow.update(
        description="Waive an assessment finding (infrastructure). Payload: approver, role, finding_id, justification"
    )
    async def waive_finding(self, inp: WaiveFindingInput) -> InitiativeStatusView:
        """Record a waiver: the finding no longer blocks the gate; the waiver is audited."""
        finding = self._gate().finding(inp.finding_id)
        self._close_finding(inp.finding_id, FindingStatus.WAIVED, inp.approver, inp.justification)
        self._progress = True
        seq = self._emit(
            EventKind.FINDING_WAIVED,
            actor=inp.approver,
            role=inp.role.value,
            reason_code=finding.reason_code if finding else None,
            detail=inp.justification,
            data={"finding_id": inp.finding_id, "blocking": bool(finding and finding.blocking)},
            verified=inp.token is not None,
        )
        return await self._wait_settled(seq)

    @waive_finding.validator
    def _validate_waive(self, inp: WaiveFindingInput) -> None:
        refuse(gates.refuse_payload(inp) or self._ending_refusal() or gates.refuse_waive(self._gate(), inp), inp)

    @workflow.update(
        description="Mark an assessment finding resolved, with evidence. Payload: actor, finding_id, evidence"
    )
    async def resolve_finding(self, inp: ResolveFindingInput) -> InitiativeStatusView:
        """Record a resolution: the finding no longer blocks the gate."""
        finding = self._gate().finding(inp.finding_id)
        self._close_finding(inp.finding_id, FindingStatus.RESOLVED, inp.actor, inp.evidence)
        self._progress = True
        seq = self._emit(
            EventKind.FINDING_RESOLVED,
            actor=inp.actor,
            reason_code=finding.reason_code if finding else None,
            detail=inp.evidence,
            data={"finding_id": inp.finding_id},
            verified=inp.token is not None,
        )
        return await self._wait_settled(seq)

    @resolve_finding.validator
    def _validate_resolve(self, inp: ResolveFindingInput) -> None:
        refuse(
            gates.refuse_payload(inp)
            or self._ending_refusal()
            or gates.refuse_team_actor(self._gate(), inp.actor, "resolve_finding", signed=inp.token is not None)
            or gates.refuse_resolve(self._gate(), inp),
            inp,
        )

    # ------------------------------------------------------------------ team and lifecycle

    @workflow.update(description="Report what blocks the team, with a reason code. Payload: actor, reason_code, detail")
    async def report_blocker(self, inp: ReportBlockerInput) -> InitiativeStatusView:
        """Record a team-declared blocker; it becomes the stall reason if the SLA passes."""
        self._blocker = Blocker(
            reason_code=inp.reason_code, detail=inp.detail, actor=inp.actor, at=workflow.now().isoformat()
        )
        seq = self._emit(
            EventKind.BLOCKER_REPORTED,
            actor=inp.actor,
            reason_code=inp.reason_code,
            detail=inp.detail,
            verified=inp.token is not None,
        )
        return await self._wait_settled(seq)

    @report_blocker.validator
    def _validate_blocker(self, inp: ReportBlockerInput) -> None:
        refuse(
            gates.refuse_payload(inp)
            or self._ending_refusal()
            or gates.refuse_team_actor(self._gate(), inp.actor, "report_blocker", signed=inp.token is not None)
            or gates.refuse_blocker(self._gate(), inp),
            inp,
        )

    @workflow.update(
        description="Put the initiative on hold (pauses its SLA clock). Payload: actor, reason_code, detail"
    )
    async def hold(self, inp: HoldInput) -> InitiativeStatusView:
        """Record a hold; no gate closes until ``resume``."""
        self._hold = Hold(
            reason_code=inp.reason_code, detail=inp.detail, actor=inp.actor, since=workflow.now().isoformat()
        )
        seq = self._emit(
            EventKind.HELD,
            actor=inp.actor,
            reason_code=inp.reason_code,
            detail=inp.detail,
            verified=inp.token is not None,
        )
        return await self._wait_settled(seq)

    @hold.validator
    def _validate_hold(self, inp: HoldInput) -> None:
        refuse(
            gates.refuse_payload(inp)
            or self._ending_refusal()
            or gates.refuse_team_actor(self._gate(), inp.actor, "hold", signed=inp.token is not None)
            or gates.refuse_hold(self._gate(), inp),
            inp,
        )

    @workflow.update(description="Resume a held initiative; the SLA clock restarts. Payload: actor, detail?")
    async def resume(self, inp: ResumeInput) -> InitiativeStatusView:
        """Record the resume and add the time on hold to the stage's SLA allowance."""
        assert self._hold is not None  # the validator refused a resume without a hold
        held = workflow.now() - datetime_from(self._hold.since)
        self._held_in_stage += held
        self._hold = None
        seq = self._emit(
            EventKind.RESUMED,
            actor=inp.actor,
            detail=inp.detail,
            data={"held_seconds": held.total_seconds()},
            verified=inp.token is not None,
        )
        return await self._wait_settled(seq)

    @resume.validator
    def _validate_resume(self, inp: ResumeInput) -> None:
        refuse(
            gates.refuse_payload(inp)
            or self._ending_refusal()
            or gates.refuse_team_actor(self._gate(), inp.actor, "resume", signed=inp.token is not None)
            or gates.refuse_resume(self._gate(), inp),
            inp,
        )

    @workflow.update(description="Scrap the initiative at any stage. Payload: actor, reason_code, detail")
    async def scrap(self, inp: ScrapInput) -> InitiativeStatusView:
        """Record a scrap; ``run`` compensates and ends the initiative."""
        self._ending = (EventKind.SCRAPPED, inp.actor, None, inp.reason_code, inp.detail, inp.token is not None)
        await workflow.wait_condition(lambda: self._stage is Stage.SCRAPPED and self._settled_seq >= self._seq)
        return self._view()

    @scrap.validator
    def _validate_scrap(self, inp: ScrapInput) -> None:
        refuse(
            gates.refuse_payload(inp)
            or self._ending_refusal()
            or gates.refuse_team_actor(self._gate(), inp.actor, "scrap", signed=inp.token is not None)
            or gates.refuse_scrap(self._gate(), inp),
            inp,
        )

    @workflow.query(description="The initiative's stage, status, awaiting roles, approvals and findings")
    def status(self) -> InitiativeStatusView:
        """Current state of the initiative."""
        return self._view()


def datetime_from(iso: str) -> datetime:
    """Parse a timestamp the workflow wrote itself."""
    return datetime.fromisoformat(iso)
