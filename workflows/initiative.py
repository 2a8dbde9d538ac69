"""``InitiativeWorkflow``: one initiative's durable path from proposal to production.

Update handlers only record a decision (validators refuse anything invalid before it reaches
history); ``run`` records the events in PostgreSQL in order and advances the stages
(``workflows/stage_machine.py``). Everything the initiative remembers is one model
(``InitiativeCore.state``), carried whole on continue-as-new.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():  # models only: liftoff's logic is imported below, sandboxed
    from schemas.contract import DECISION_REFUSED
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
    from schemas.initiative_state import InitiativeState
    from schemas.pending import Ending, SendBack
    from schemas.stages import Stage
    from schemas.status import InitiativeStatusView, PocEvaluation
    from schemas.taxonomy import ReasonCode

from workflows import gates, metrics, patches
from workflows import search_attributes as sa
from workflows.imported import imported_state, record_history
from workflows.initiative_core import InitiativeCore
from workflows.stage_machine import StageMachine


def refuse(reason: str | None, inp: object = None) -> None:
    """Refuse an update with ``reason`` (shown to the caller without a stack trace), counting it."""
    if reason:
        role = getattr(inp, "role", None)
        metrics.count_refusal(str(role.value if hasattr(role, "value") else role) if role else None)
        raise ApplicationError(reason, type=DECISION_REFUSED, non_retryable=True)


def _first_state(inp: StartInitiativeInput, *, lean: bool) -> InitiativeState:
    now = workflow.now()
    submitted = datetime.fromisoformat(inp.submitted_at_iso) if inp.submitted_at_iso else None
    if lean and submitted is not None and submitted.tzinfo is not None:
        # The stage (and its SLA clock) starts when the API accepted the submission; the API starts
        # the workflow with StageEnteredAt set to that moment, so nothing needs upserting yet.
        now = min(submitted, now)
    return InitiativeState(stage_entered_at=now, clock_start=now)


@workflow.defn(name="InitiativeWorkflow")
class InitiativeWorkflow:
    """The lifecycle of one initiative (see DESIGN.md, "The lifecycle")."""

    @workflow.init
    def __init__(self, inp: StartInitiativeInput) -> None:
        # Tells the worker to apply this run's jobs in the fixed order (worker/activation_order.py); runs
        # started before it keep the SDK's order, in which their histories were recorded.
        taken = patches.Patches()
        taken.patched(patches.ACTIVATION_ORDER)
        lean = taken.patched(patches.LEAN_HISTORY)
        carried = inp.carried
        imported = inp.imported if carried is None else None
        if carried is not None:
            state = carried.model_copy(deep=True)
        elif imported is not None:
            state = imported_state(inp, imported)
        else:
            state = _first_state(inp, lean=lean)
        self._core = core = InitiativeCore(inp, state, taken)
        self._machine = StageMachine(core)
        self._state = state
        self._outbox = core.outbox
        core.lean = core.outbox.local = lean
        if carried is not None:
            return
        if imported is not None:
            record_history(self._outbox, inp, imported, [r.value for r in core.awaiting()])
            core.enter_on_start = not state.stage.is_terminal
            return
        # The first events exist before any update can be handled, so an update admitted together with
        # the start is ordered after them and is evaluated against the proposed gate.
        state.visited.append(Stage.PROPOSED)
        self._outbox.emit(EventKind.SUBMITTED, actor=inp.submitter, data={"title": inp.spec.title})
        self._outbox.emit(EventKind.STAGE_ENTERED, data={"awaiting_roles": [r.value for r in core.awaiting()]})

    @workflow.run
    async def run(self, inp: StartInitiativeInput) -> InitiativeStatusView:
        """Walk the stages until production or scrapped."""
        spec = inp.spec
        if not self._core.lean:  # lean: published with the first change, or given at the start
            workflow.upsert_search_attributes(sa.identity(spec.team, spec.business_unit, spec.risk_tier.value))
        while True:
            await self._machine.walk()
            if self._state.stage.is_terminal:
                break
            # The history grew past its limit: let answered updates return, then hand everything to a
            # fresh run with the same id. A decision arriving meanwhile is processed first.
            await workflow.wait_condition(lambda: workflow.all_handlers_finished() or self._machine.has_work())
            if not self._machine.has_work():
                state = self._state
                workflow.logger.info("continuing as new", extra={"run": state.runs, "seq": state.seq})
                carried = state.model_copy(update={"runs": state.runs + 1}, deep=True)
                workflow.continue_as_new(inp.model_copy(update={"carried": carried}))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._core.view()

    # ------------------------------------------------------------------ the approval-token check's hooks

    def approval_context(self) -> tuple[str, str]:
        """Initiative id and current stage, for the worker's approval-token check."""
        return self._core.inp.initiative_id, self._state.stage.value

    def nonce_spent(self, nonce: str) -> bool:
        """Whether a decision already used the approval token with ``nonce``."""
        return nonce in self._state.spent_nonces

    def spend_nonce(self, nonce: str) -> None:
        """Record that an accepted decision used the token with ``nonce`` (called before its handler)."""
        if nonce not in self._state.spent_nonces:
            self._state.spent_nonces.append(nonce)

    def _ending_refusal(self) -> str | None:
        if self._core.ending is not None:
            return "the initiative is being scrapped; no further decisions are accepted"
        if self._core.send_back is not None:
            return "the initiative is being sent back; decide again once it has moved"
        return None

    # ------------------------------------------------------------------ gate decisions

    @workflow.update(description="Approve the current gate for one role. Payload: approver, role, stage?, comment?")
    async def approve(self, inp: ApproveInput) -> InitiativeStatusView:
        """Record an approval; the gate closes when every required role has approved."""
        self._state.approvals.append(
            Approval(
                approver=inp.approver,
                role=inp.role,
                comment=inp.comment,
                at=workflow.now().isoformat(),
                on_behalf_of=inp.on_behalf_of,
            )
        )
        self._core.progress = True
        seq = self._outbox.emit(
            EventKind.APPROVED,
            actor=inp.approver,
            role=inp.role.value,
            detail=inp.comment,
            data=gates.on_behalf(inp),
            verified=inp.token is not None,
        )
        return await self._core.answer(seq)

    @approve.validator
    def _validate_approve(self, inp: ApproveInput) -> None:
        refuse(gates.refuse_payload(inp) or self._ending_refusal() or gates.refuse_approve(self._core.gate(), inp), inp)

    @workflow.update(
        description="Reject at the current gate; ends the initiative. Payload: approver, role, reason_code"
    )
    async def reject(self, inp: RejectInput) -> InitiativeStatusView:
        """Record a rejection; ``run`` scraps the initiative with the reason."""
        seq = self._outbox.emit(
            EventKind.REJECTED,
            actor=inp.approver,
            role=inp.role.value,
            reason_code=inp.reason_code,
            detail=inp.detail,
            data=gates.on_behalf(inp),
            verified=inp.token is not None,
        )
        self._core.ending = Ending(
            via=EventKind.REJECTED,
            actor=inp.approver,
            role=inp.role.value,
            reason=inp.reason_code,
            detail=inp.detail,
            verified=inp.token is not None,
        )
        return await self._core.answer(seq)

    @reject.validator
    def _validate_reject(self, inp: RejectInput) -> None:
        refuse(gates.refuse_payload(inp) or self._ending_refusal() or gates.refuse_reject(self._core.gate(), inp), inp)

    @workflow.update(
        description="Send the initiative back one stage with a reason. Payload: approver, role, reason_code, detail"
    )
    async def request_changes(self, inp: RequestChangesInput) -> InitiativeStatusView:
        """Record a send-back; ``run`` moves the initiative to the previous stage."""
        self._core.progress = True
        seq = self._outbox.emit(
            EventKind.CHANGES_REQUESTED,
            actor=inp.approver,
            role=inp.role.value,
            reason_code=inp.reason_code,
            detail=inp.detail,
            data=gates.on_behalf(inp),
            verified=inp.token is not None,
        )
        self._core.send_back = SendBack(
            approver=inp.approver, role=inp.role.value, reason=inp.reason_code, detail=inp.detail
        )
        return await self._core.answer(seq)

    @request_changes.validator
    def _validate_request_changes(self, inp: RequestChangesInput) -> None:
        refuse(
            gates.refuse_payload(inp) or self._ending_refusal() or gates.refuse_request_changes(self._core.gate(), inp),
            inp,
        )

    @workflow.update(description="Submit PoC results (metrics against the intake criteria). Payload: actor, metrics")
    async def submit_poc_results(self, inp: SubmitPocResultsInput) -> InitiativeStatusView:
        """Record PoC results and evaluate them against the success criteria."""
        unmet = gates.evaluate_poc(self._core.inp.spec.poc_success_criteria, inp.metrics)
        self._state.poc = PocEvaluation(
            metrics=dict(inp.metrics),
            spend_usd=inp.spend_usd,
            summary=inp.summary,
            met=not unmet,
            unmet=unmet,
            submitted_by=inp.actor,
            at=workflow.now().isoformat(),
        )
        self._state.poc_spend += inp.spend_usd
        self._core.progress = True
        seq = self._outbox.emit(
            EventKind.POC_RESULTS_SUBMITTED,
            actor=inp.actor,
            reason_code=ReasonCode.POC_CRITERIA_NOT_MET if unmet else None,
            detail=inp.summary,
            data={"metrics": dict(inp.metrics), "spend_usd": inp.spend_usd, "met": not unmet, "unmet": unmet},
            verified=inp.token is not None,
        )
        return await self._core.answer(seq)

    @submit_poc_results.validator
    def _validate_poc_results(self, inp: SubmitPocResultsInput) -> None:
        refuse(
            gates.refuse_payload(inp)
            or self._ending_refusal()
            or gates.refuse_team_actor(self._core.gate(), inp.actor, "submit_poc_results", signed=inp.token is not None)
            or gates.refuse_poc_results(self._core.gate(), inp),
            inp,
        )

    # ------------------------------------------------------------------ findings

    def _close_finding(self, finding_id: str, status: FindingStatus, by: str, note: str) -> None:
        self._state.findings = [
            f.model_copy(update={"status": status, "closed_by": by, "note": note}) if f.id == finding_id else f
            for f in self._state.findings
        ]

    @workflow.update(
        description="Waive an assessment finding (infrastructure). Payload: approver, role, finding_id, justification"
    )
    async def waive_finding(self, inp: WaiveFindingInput) -> InitiativeStatusView:
        """Record a waiver: the finding no longer blocks the gate; the waiver is audited."""
        finding = self._core.gate().finding(inp.finding_id)
        self._close_finding(inp.finding_id, FindingStatus.WAIVED, inp.approver, inp.justification)
        self._core.progress = True
        seq = self._outbox.emit(
            EventKind.FINDING_WAIVED,
            actor=inp.approver,
            role=inp.role.value,
            reason_code=finding.reason_code if finding else None,
            detail=inp.justification,
            data={"finding_id": inp.finding_id, "blocking": bool(finding and finding.blocking), **gates.on_behalf(inp)},
            verified=inp.token is not None,
        )
        return await self._core.answer(seq)

    @waive_finding.validator
    def _validate_waive(self, inp: WaiveFindingInput) -> None:
        refuse(gates.refuse_payload(inp) or self._ending_refusal() or gates.refuse_waive(self._core.gate(), inp), inp)

    @workflow.update(
        description="Mark an assessment finding resolved, with evidence. Payload: actor, finding_id, evidence"
    )
    async def resolve_finding(self, inp: ResolveFindingInput) -> InitiativeStatusView:
        """Record a resolution: the finding no longer blocks the gate."""
        finding = self._core.gate().finding(inp.finding_id)
        self._close_finding(inp.finding_id, FindingStatus.RESOLVED, inp.actor, inp.evidence)
        self._core.progress = True
        seq = self._outbox.emit(
            EventKind.FINDING_RESOLVED,
            actor=inp.actor,
            reason_code=finding.reason_code if finding else None,
            detail=inp.evidence,
            data={"finding_id": inp.finding_id},
            verified=inp.token is not None,
        )
        return await self._core.answer(seq)

    @resolve_finding.validator
    def _validate_resolve(self, inp: ResolveFindingInput) -> None:
        refuse(
            gates.refuse_payload(inp)
            or self._ending_refusal()
            or gates.refuse_team_actor(self._core.gate(), inp.actor, "resolve_finding", signed=inp.token is not None)
            or gates.refuse_resolve(self._core.gate(), inp),
            inp,
        )

    # ------------------------------------------------------------------ team and lifecycle

    @workflow.update(description="Report what blocks the team, with a reason code. Payload: actor, reason_code, detail")
    async def report_blocker(self, inp: ReportBlockerInput) -> InitiativeStatusView:
        """Record a team-declared blocker; it becomes the stall reason if the SLA passes."""
        self._state.blocker = Blocker(
            reason_code=inp.reason_code, detail=inp.detail, actor=inp.actor, at=workflow.now().isoformat()
        )
        seq = self._outbox.emit(
            EventKind.BLOCKER_REPORTED,
            actor=inp.actor,
            reason_code=inp.reason_code,
            detail=inp.detail,
            verified=inp.token is not None,
        )
        return await self._core.answer(seq)

    @report_blocker.validator
    def _validate_blocker(self, inp: ReportBlockerInput) -> None:
        refuse(
            gates.refuse_payload(inp)
            or self._ending_refusal()
            or gates.refuse_team_actor(self._core.gate(), inp.actor, "report_blocker", signed=inp.token is not None)
            or gates.refuse_blocker(self._core.gate(), inp),
            inp,
        )

    @workflow.update(
        description="Put the initiative on hold (pauses its SLA clock). Payload: actor, reason_code, detail"
    )
    async def hold(self, inp: HoldInput) -> InitiativeStatusView:
        """Record a hold; no gate closes until ``resume``."""
        self._state.hold = Hold(
            reason_code=inp.reason_code, detail=inp.detail, actor=inp.actor, since=workflow.now().isoformat()
        )
        seq = self._outbox.emit(
            EventKind.HELD,
            actor=inp.actor,
            reason_code=inp.reason_code,
            detail=inp.detail,
            verified=inp.token is not None,
        )
        return await self._core.answer(seq)

    @hold.validator
    def _validate_hold(self, inp: HoldInput) -> None:
        refuse(
            gates.refuse_payload(inp)
            or self._ending_refusal()
            or gates.refuse_team_actor(self._core.gate(), inp.actor, "hold", signed=inp.token is not None)
            or gates.refuse_hold(self._core.gate(), inp),
            inp,
        )

    @workflow.update(description="Resume a held initiative; the SLA clock restarts. Payload: actor, detail?")
    async def resume(self, inp: ResumeInput) -> InitiativeStatusView:
        """Record the resume and add the time on hold to the stage's SLA allowance."""
        assert self._state.hold is not None  # the validator refused a resume without a hold
        held = workflow.now() - datetime.fromisoformat(self._state.hold.since)
        self._state.held_in_stage += held
        self._state.hold = None
        seq = self._outbox.emit(
            EventKind.RESUMED,
            actor=inp.actor,
            detail=inp.detail,
            data={"held_seconds": held.total_seconds()},
            verified=inp.token is not None,
        )
        return await self._core.answer(seq)

    @resume.validator
    def _validate_resume(self, inp: ResumeInput) -> None:
        refuse(
            gates.refuse_payload(inp)
            or self._ending_refusal()
            or gates.refuse_team_actor(self._core.gate(), inp.actor, "resume", signed=inp.token is not None)
            or gates.refuse_resume(self._core.gate(), inp),
            inp,
        )

    @workflow.update(description="Scrap the initiative at any stage. Payload: actor, reason_code, detail")
    async def scrap(self, inp: ScrapInput) -> InitiativeStatusView:
        """Record a scrap; ``run`` compensates and ends the initiative."""
        self._core.ending = Ending(
            via=EventKind.SCRAPPED,
            actor=inp.actor,
            role=None,
            reason=inp.reason_code,
            detail=inp.detail,
            verified=inp.token is not None,
        )
        state, outbox = self._state, self._outbox
        await workflow.wait_condition(lambda: state.stage is Stage.SCRAPPED and outbox.settled_seq >= state.seq)
        return self._core.view()

    @scrap.validator
    def _validate_scrap(self, inp: ScrapInput) -> None:
        refuse(
            gates.refuse_payload(inp)
            or self._ending_refusal()
            or gates.refuse_team_actor(self._core.gate(), inp.actor, "scrap", signed=inp.token is not None)
            or gates.refuse_scrap(self._core.gate(), inp),
            inp,
        )

    @workflow.query(description="The initiative's stage, status, awaiting roles, approvals and findings")
    def status(self) -> InitiativeStatusView:
        """Current state of the initiative."""
        return self._core.view()
