"""``InitiativeWorkflow``: one initiative's durable path from proposal to production.

Update handlers only record a decision (validators refuse anything invalid before it reaches
history); ``run`` drains the recorded events to PostgreSQL in order and advances the stages.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from schemas.contract import DECISION_REFUSED, ROLLOUT_WORKFLOW
    from schemas.decisions import Approval, ApproveInput, RejectInput, ScrapInput, SubmitPocResultsInput
    from schemas.events import EventKind, InitiativeSnapshot, LifecycleEvent, RecordEventsInput
    from schemas.findings import AssessInfrastructureInput, AssessInfrastructureResult, Finding
    from schemas.initiative import StartInitiativeInput
    from schemas.integrations import (
        CloseTicketInput,
        DeprovisionInput,
        OpenTicketInput,
        ProvisionInput,
        Resource,
        RolloutInput,
        RolloutResult,
        Ticket,
    )
    from schemas.stages import InitiativeStatus, Role, Stage, next_stage
    from schemas.status import InitiativeStatusView, PocEvaluation
    from schemas.taxonomy import ReasonCode
    from workflows import activity_names as act
    from workflows import search_attributes as sa
    from workflows.details import render_details
    from workflows.gates import (
        GateContext,
        evaluate_poc,
        refuse_approve,
        refuse_poc_results,
        refuse_reject,
        refuse_scrap,
    )

#: Database writes retry for a long time (the database may be down) but not forever: after the
#: schedule below is exhausted the workflow task fails loudly instead of spinning silently.
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=200,
)
INTEGRATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=20,
    non_retryable_error_types=["TicketNotFound", "ResourceNotFound"],
)
SHORT = timedelta(seconds=30)


def _refuse(reason: str | None) -> None:
    if reason:
        raise ApplicationError(reason, type=DECISION_REFUSED, non_retryable=True)


@workflow.defn(name="InitiativeWorkflow")
class InitiativeWorkflow:
    """The lifecycle of one initiative (see DESIGN.md, "The lifecycle")."""

    @workflow.init
    def __init__(self, inp: StartInitiativeInput) -> None:
        self._inp = inp
        self._policy = inp.policy
        self._stage = Stage.PROPOSED
        self._visited: list[Stage] = []
        self._stage_entered_at: datetime = workflow.now()
        self._approvals: list[Approval] = []
        self._findings: list[Finding] = []
        self._assessing = False
        self._poc: PocEvaluation | None = None
        self._poc_spend = 0.0
        self._reason: ReasonCode | None = None
        self._reason_detail = ""
        self._ending: tuple[EventKind, str, str | None, ReasonCode, str] | None = None
        self._seq = 0
        self._settled_seq = 0
        self._outbox: list[LifecycleEvent] = []
        self._sandbox: Resource | None = None
        self._signoff_ticket: Ticket | None = None
        self._rollout_task: asyncio.Task[RolloutResult] | None = None
        self._rollout_result: RolloutResult | None = None
        # The first events exist before any update can be handled, so an update admitted together with
        # the start is ordered after them and is evaluated against the proposed gate.
        self._visited.append(Stage.PROPOSED)
        self._emit(EventKind.SUBMITTED, actor=inp.submitter, data={"title": inp.spec.title})
        self._emit(EventKind.STAGE_ENTERED, data={"awaiting_roles": [r.value for r in self._awaiting()]})

    # ------------------------------------------------------------------ state helpers

    @property
    def _workflow_id(self) -> str:
        return workflow.info().workflow_id

    def _required(self) -> list[Role]:
        return self._policy.required_roles(self._stage, self._inp.spec.risk_tier)

    def _gate(self) -> GateContext:
        return GateContext(
            stage=self._stage,
            submitter=self._inp.submitter,
            required_roles=self._required(),
            approvals=self._approvals,
            roster=self._inp.roster,
            poc_met=bool(self._poc and self._poc.met),
            findings=self._findings,
            assessment_pending=self._assessing,
        )

    def _awaiting(self) -> list[Role]:
        if not self._stage.is_gate or self._ending is not None:
            return []
        return self._gate().awaiting_roles

    def _status_value(self) -> InitiativeStatus:
        if self._stage is Stage.PRODUCTION:
            return InitiativeStatus.PRODUCTION
        if self._stage is Stage.SCRAPPED:
            return InitiativeStatus.SCRAPPED
        return InitiativeStatus.ACTIVE

    def _view(self) -> InitiativeStatusView:
        spec = self._inp.spec
        return InitiativeStatusView(
            id=self._inp.initiative_id,
            workflow_id=self._workflow_id,
            title=spec.title,
            team=spec.team,
            business_unit=spec.business_unit,
            sponsor=spec.sponsor,
            submitter=self._inp.submitter,
            risk_tier=spec.risk_tier.value,
            policy_version=self._policy.version,
            stage=self._stage,
            status=self._status_value(),
            stage_entered_at=self._stage_entered_at.isoformat(),
            awaiting_roles=[r.value for r in self._awaiting()],
            approvals=list(self._approvals),
            findings=list(self._findings),
            poc=self._poc,
            reason_code=self._reason,
            reason_detail=self._reason_detail,
            visited=list(self._visited),
            assessment_pending=self._assessing,
        )

    def _snapshot(self) -> InitiativeSnapshot:
        return InitiativeSnapshot(
            initiative_id=self._inp.initiative_id,
            workflow_id=self._workflow_id,
            spec=self._inp.spec,
            submitter=self._inp.submitter,
            policy_version=self._policy.version,
            stage=self._stage,
            status=self._status_value(),
            stage_entered_at=self._stage_entered_at,
            awaiting_roles=[r.value for r in self._awaiting()],
            reason_code=self._reason,
            submitted_at=datetime.fromisoformat(self._inp.submitted_at_iso)
            if self._inp.submitted_at_iso
            else workflow.info().start_time,
            poc_spend_usd=self._poc_spend,
        )

    def _emit(
        self,
        kind: EventKind,
        *,
        actor: str | None = None,
        role: str | None = None,
        reason_code: ReasonCode | None = None,
        detail: str = "",
        data: dict[str, Any] | None = None,
        stage: Stage | None = None,
    ) -> int:
        self._seq += 1
        self._outbox.append(
            LifecycleEvent(
                event_id=f"{self._workflow_id}/{self._seq}",
                initiative_id=self._inp.initiative_id,
                seq=self._seq,
                kind=kind,
                stage=stage or self._stage,
                actor=actor,
                role=role,
                reason_code=reason_code,
                detail=detail,
                data=data or {},
                occurred_at=workflow.now(),
                policy_version=self._policy.version,
            )
        )
        return self._seq

    async def _flush(self) -> None:
        """Record pending events in order, in one activity, with the snapshot as it stands now."""
        while self._outbox:
            batch = list(self._outbox)
            await workflow.execute_activity(
                act.RECORD_EVENTS,
                RecordEventsInput(events=batch, snapshot=self._snapshot()),
                result_type=int,
                start_to_close_timeout=SHORT,
                retry_policy=DB_RETRY,
            )
            del self._outbox[: len(batch)]

    def _publish(self) -> None:
        """Search attributes and current details follow every change."""
        awaiting = self._awaiting()
        workflow.upsert_search_attributes(
            [
                sa.INITIATIVE_STAGE.value_set(self._stage.value),
                sa.AWAITING_ROLES.value_set([r.value for r in awaiting]),
                sa.STAGE_ENTERED_AT.value_set(self._stage_entered_at),
                sa.STALLED.value_set(False),  # noqa: FBT003 - the SDK's setter takes the value positionally,
            ]
        )
        workflow.set_current_details(render_details(self._view(), awaiting, self._inp.roster))

    async def _settle(self) -> None:
        """Record what happened up to now and mark those decisions as processed.

        Events emitted while the flush awaits are left for the next pass of ``run``: their gate has
        not been evaluated yet.
        """
        upto = self._seq
        await self._flush()
        self._publish()
        self._settled_seq = max(self._settled_seq, upto)

    async def _record(self) -> None:
        """Record and publish without marking decisions processed (their gate is evaluated later)."""
        await self._flush()
        self._publish()

    async def _wait_settled(self, seq: int) -> InitiativeStatusView:
        await workflow.wait_condition(lambda: self._settled_seq >= seq)
        return self._view()

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, inp: StartInitiativeInput) -> InitiativeStatusView:
        """Walk the stages until production or scrapped."""
        spec = inp.spec
        workflow.upsert_search_attributes(
            [
                sa.INITIATIVE_TEAM.value_set(spec.team),
                sa.BUSINESS_UNIT.value_set(spec.business_unit),
                sa.RISK_TIER.value_set(spec.risk_tier.value),
            ]
        )
        await self._flush()
        self._publish()
        while not self._stage.is_terminal:
            await workflow.wait_condition(self._has_work)
            # Every decision up to here is evaluated in this pass; later ones wait for the next.
            upto = self._seq
            await self._flush()
            if self._ending is not None:
                await self._end_scrapped()
            elif self._stage is Stage.ROLLOUT and self._rollout_result is not None:
                await self._after_rollout(self._rollout_result)
            elif self._gate().closed:
                await self._advance()
            await self._record()
            self._settled_seq = max(self._settled_seq, upto)
        # Terminal: everything is recorded and no decision is accepted any more.
        self._settled_seq = self._seq
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view()

    def _has_work(self) -> bool:
        return (
            bool(self._outbox)
            or self._settled_seq < self._seq
            or self._ending is not None
            or (self._stage is Stage.ROLLOUT and self._rollout_result is not None)
            or self._gate().closed
        )

    async def _enter(self, stage: Stage) -> None:
        self._stage = stage
        self._stage_entered_at = workflow.now()
        self._approvals = []
        if stage not in self._visited:
            self._visited.append(stage)
        self._emit(EventKind.STAGE_ENTERED, data={"awaiting_roles": [r.value for r in self._awaiting()]})
        workflow.logger.info("stage entered", extra={"stage": stage.value})
        if stage is Stage.INFRA_REVIEW:
            # The assessment decides what the gate needs, so the decision that led here answers with
            # its findings. Other entry actions (provisioning, tickets) may be slow and run after.
            await self._on_entry(stage)
            await self._settle()
            return
        await self._settle()
        await self._on_entry(stage)
        await self._record()

    async def _advance(self) -> None:
        leaving = self._stage
        self._emit(EventKind.STAGE_LEFT, data={"outcome": "advanced"})
        await self._on_exit(leaving)
        upcoming = next_stage(leaving)
        if upcoming is Stage.PRODUCTION:
            self._stage = Stage.PRODUCTION
            self._stage_entered_at = workflow.now()
            self._visited.append(Stage.PRODUCTION)
            self._emit(EventKind.STAGE_ENTERED)
            self._emit(EventKind.PRODUCTION)
            return
        await self._enter(upcoming)

    async def _on_entry(self, stage: Stage) -> None:
        inp = self._inp
        if stage is Stage.POC:
            sandbox = self._policy.poc_sandbox
            self._sandbox = await workflow.execute_activity(
                act.PROVISION,
                ProvisionInput(
                    initiative_id=inp.initiative_id,
                    idempotency_key=f"{self._workflow_id}/poc-sandbox/{self._seq}",
                    environment="poc",
                    gpu_type=inp.spec.infrastructure.gpu_type,
                    gpu_count=min(inp.spec.infrastructure.gpu_count, 1),
                    budget_usd=sandbox.budget_usd,
                    ttl_seconds=int(sandbox.ttl.total_seconds()),
                ),
                result_type=Resource,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=INTEGRATION_RETRY,
            )
            self._emit(EventKind.SANDBOX_PROVISIONED, data={"ref": self._sandbox.ref})
        elif stage is Stage.INFRA_REVIEW:
            self._assessing = True
            result = await workflow.execute_activity(
                act.ASSESS_INFRASTRUCTURE,
                AssessInfrastructureInput(
                    initiative_id=inp.initiative_id, spec=inp.spec, standards=self._policy.it_standards
                ),
                result_type=AssessInfrastructureResult,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=INTEGRATION_RETRY,
            )
            self._findings = list(result.findings)
            self._assessing = False
            for finding in self._findings:
                self._emit(
                    EventKind.FINDING_RAISED,
                    reason_code=finding.reason_code,
                    detail=finding.message,
                    data={"finding_id": finding.id, "rule": finding.rule, "blocking": finding.blocking},
                )
        elif stage is Stage.IT_SIGNOFF:
            self._signoff_ticket = await self._open_ticket("signoff", f"IT sign-off: {inp.spec.title}")
        elif stage is Stage.ROLLOUT:
            self._rollout_result = None
            self._emit(EventKind.ROLLOUT_STARTED)
            handle = await workflow.start_child_workflow(
                ROLLOUT_WORKFLOW,
                RolloutInput(
                    initiative_id=inp.initiative_id,
                    title=inp.spec.title,
                    gpu_type=inp.spec.infrastructure.gpu_type,
                    gpu_count=inp.spec.infrastructure.gpu_count,
                    storage_tb=inp.spec.infrastructure.storage_tb,
                    budget_usd=inp.spec.budget_usd,
                ),
                id=f"rollout-{inp.initiative_id}-{self._seq}",
                result_type=RolloutResult,
            )
            self._rollout_task = asyncio.ensure_future(self._await_rollout(handle))

    async def _await_rollout(self, handle: workflow.ChildWorkflowHandle[Any, RolloutResult]) -> RolloutResult:
        try:
            result = await handle
        except ChildWorkflowError as err:
            # The rollout compensates before it fails; a failure that escaped it still sends us back.
            result = RolloutResult(
                succeeded=False, reason_code=ReasonCode.ROLLOUT_FAILED.value, detail=str(err.cause or err)
            )
        self._rollout_result = result
        return result

    async def _on_exit(self, stage: Stage) -> None:
        if stage is Stage.POC:
            await self._release_sandbox("PoC finished")
        elif stage is Stage.IT_SIGNOFF:
            await self._close_signoff("done", "joint IT sign-off complete")

    async def _after_rollout(self, result: RolloutResult) -> None:
        self._rollout_task = None
        if result.succeeded:
            await self._advance()
            return
        # A failed rollout has compensated itself; the initiative goes back to IT sign-off.
        reason = ReasonCode(result.reason_code) if result.reason_code else ReasonCode.ROLLOUT_FAILED
        self._rollout_result = None
        self._emit(
            EventKind.ROLLOUT_FAILED, reason_code=reason, detail=result.detail, data={"compensated": result.compensated}
        )
        self._emit(EventKind.STAGE_LEFT, reason_code=reason, data={"outcome": "sent_back"})
        await self._enter(Stage.IT_SIGNOFF)

    async def _end_scrapped(self) -> None:
        assert self._ending is not None
        kind, actor, role, reason, detail = self._ending
        if self._rollout_task is not None and not self._rollout_task.done():
            self._rollout_task.cancel()
            try:
                await self._rollout_task
            except BaseException:  # noqa: BLE001 - the child reports and compensates its own failure
                workflow.logger.info("rollout cancelled for scrap")
        await self._release_sandbox("initiative scrapped")
        await self._close_signoff("cancelled", f"initiative scrapped: {reason.value}")
        leaving = self._stage
        self._reason, self._reason_detail = reason, detail
        self._stage = Stage.SCRAPPED
        self._stage_entered_at = workflow.now()
        self._emit(
            EventKind.SCRAPPED,
            actor=actor,
            role=role,
            reason_code=reason,
            detail=detail,
            stage=leaving,
            data={"via": kind.value},
        )
        workflow.logger.info("initiative scrapped", extra={"reason": reason.value, "stage": leaving.value})

    async def _release_sandbox(self, why: str) -> None:
        if self._sandbox is None:
            return
        resource = await workflow.execute_activity(
            act.DEPROVISION,
            DeprovisionInput(ref=self._sandbox.ref, reason=why),
            result_type=Resource,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=INTEGRATION_RETRY,
        )
        self._emit(EventKind.SANDBOX_DEPROVISIONED, detail=why, data={"ref": resource.ref})
        self._sandbox = None

    async def _open_ticket(self, kind: str, title: str) -> Ticket:
        ticket: Ticket = await workflow.execute_activity(
            act.OPEN_TICKET,
            OpenTicketInput(
                initiative_id=self._inp.initiative_id,
                idempotency_key=f"{self._workflow_id}/{kind}/{self._seq}",
                kind=kind,
                title=title,
            ),
            result_type=Ticket,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=INTEGRATION_RETRY,
        )
        return ticket

    async def _close_signoff(self, outcome: str, comment: str) -> None:
        if self._signoff_ticket is None:
            return
        await workflow.execute_activity(
            act.CLOSE_TICKET,
            CloseTicketInput(ref=self._signoff_ticket.ref, outcome=outcome, comment=comment),
            result_type=Ticket,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=INTEGRATION_RETRY,
        )
        self._signoff_ticket = None

    # ------------------------------------------------------------------ updates and query

    @workflow.update(description="Approve the current gate for one role. Payload: approver, role, stage?, comment?")
    async def approve(self, inp: ApproveInput) -> InitiativeStatusView:
        """Record an approval; the gate closes when every required role has approved."""
        approval = Approval(approver=inp.approver, role=inp.role, comment=inp.comment, at=workflow.now().isoformat())
        self._approvals.append(approval)
        seq = self._emit(EventKind.APPROVED, actor=inp.approver, role=inp.role.value, detail=inp.comment)
        return await self._wait_settled(seq)

    @approve.validator
    def _validate_approve(self, inp: ApproveInput) -> None:
        _refuse(refuse_approve(self._gate(), inp) or self._ending_refusal())

    @workflow.update(description="Submit PoC results (metrics against the intake criteria). Payload: actor, metrics")
    async def submit_poc_results(self, inp: SubmitPocResultsInput) -> InitiativeStatusView:
        """Record PoC results and evaluate them against the success criteria."""
        unmet = evaluate_poc(self._inp.spec.poc_success_criteria, inp.metrics)
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
        seq = self._emit(
            EventKind.POC_RESULTS_SUBMITTED,
            actor=inp.actor,
            reason_code=ReasonCode.POC_CRITERIA_NOT_MET if unmet else None,
            detail=inp.summary,
            data={"metrics": dict(inp.metrics), "spend_usd": inp.spend_usd, "met": not unmet, "unmet": unmet},
        )
        return await self._wait_settled(seq)

    @submit_poc_results.validator
    def _validate_poc_results(self, inp: SubmitPocResultsInput) -> None:
        _refuse(refuse_poc_results(self._gate(), inp) or self._ending_refusal())

    @workflow.update(
        description="Reject at the current gate; ends the initiative. Payload: approver, role, reason_code"
    )
    async def reject(self, inp: RejectInput) -> InitiativeStatusView:
        """Record a rejection; ``run`` scraps the initiative with the reason."""
        seq = self._emit(
            EventKind.REJECTED, actor=inp.approver, role=inp.role.value, reason_code=inp.reason_code, detail=inp.detail
        )
        self._ending = (EventKind.REJECTED, inp.approver, inp.role.value, inp.reason_code, inp.detail)
        return await self._wait_settled(seq)

    @reject.validator
    def _validate_reject(self, inp: RejectInput) -> None:
        _refuse(refuse_reject(self._gate(), inp) or self._ending_refusal())

    @workflow.update(description="Scrap the initiative at any stage. Payload: actor, reason_code, detail")
    async def scrap(self, inp: ScrapInput) -> InitiativeStatusView:
        """Record a scrap; ``run`` compensates and ends the initiative."""
        self._ending = (EventKind.SCRAPPED, inp.actor, None, inp.reason_code, inp.detail)
        await workflow.wait_condition(lambda: self._stage is Stage.SCRAPPED and self._settled_seq >= self._seq)
        return self._view()

    @scrap.validator
    def _validate_scrap(self, inp: ScrapInput) -> None:
        _refuse(refuse_scrap(self._gate(), inp) or self._ending_refusal())

    def _ending_refusal(self) -> str | None:
        if self._ending is not None:
            return "the initiative is being scrapped; no further decisions are accepted"
        return None

    @workflow.query(description="The initiative's stage, status, awaiting roles, approvals and findings")
    def status(self) -> InitiativeStatusView:
        """Current state of the initiative."""
        return self._view()
