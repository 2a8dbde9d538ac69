"""The stage machine of ``InitiativeWorkflow``: entering, leaving, sending back, rolling out, ending."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():  # models only: liftoff's logic is imported below, sandboxed
    from schemas.assessment import AssessInfrastructureInput, AssessInfrastructureResult
    from schemas.contract import ROLLOUT_WORKFLOW
    from schemas.events import EventKind
    from schemas.integrations import ProvisionInput, RenewInput, Resource, RolloutInput, RolloutResult
    from schemas.stages import Stage, next_stage
    from schemas.status import Stall
    from schemas.taxonomy import ReasonCode

from workflows import activity_names as act
from workflows import patches
from workflows.gates import previous_stage
from workflows.initiative_base import INTEGRATION_RETRY, InitiativeBase
from workflows.stalls import Deadline, derive_stall_reason, next_deadline


class InitiativeStages(InitiativeBase):
    """How ``run`` moves an initiative between stages."""

    async def _walk(self) -> None:
        """Process decisions and clocks until the initiative reaches a terminal stage."""
        # Initiatives started before SLA timers existed keep running without them (replay-safe).
        self._timers = workflow.patched(patches.SLA_TIMERS)
        await self._flush()
        self._publish()
        while not self._stage.is_terminal:
            await self._wait_for_work()
            # Every decision up to here is evaluated in this pass; later ones wait for the next.
            upto = self._seq
            if not self._lean:  # lean: the pass records its decisions with what they cause, once
                await self._flush()
            if self._progress or (self._stage is Stage.ROLLOUT and self._rollout_result is not None):
                self._progress = False
                await self._clear_stall()
            if self._ending is not None:
                await self._end_scrapped()
            elif self._send_back is not None:
                await self._go_back()
            elif self._stage is Stage.ROLLOUT and self._rollout_result is not None:
                await self._after_rollout(self._rollout_result)
            elif self._gate().closed:
                await self._advance()
            elif self._timers:
                await self._on_clock()
            await self._record()
            self._settled_seq = max(self._settled_seq, upto)
            if self._should_continue_as_new():
                return
        # Terminal: everything is recorded and no decision is accepted any more.
        self._settled_seq = self._seq

    def _should_continue_as_new(self) -> bool:
        """Hand over to a new run when the history is long, at a quiet moment (never mid-rollout)."""
        if not self._timers or self._stage is Stage.ROLLOUT or self._has_work():
            return False
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= self._inp.history_limit

    def _deadline(self) -> Deadline | None:
        if not self._timers or self._hold is not None or self._stage.is_terminal:
            return None
        deadline = next_deadline(
            stage_policy=self._policy.stages.get(self._stage),
            ladder=self._policy.escalation,
            clock_start=self._clock_start,
            held=self._held_in_stage,
            stalled=self._stall is not None,
            escalation_level=self._stall.escalation_level if self._stall else 0,
        )
        if self._sandbox_renew_at is not None and (deadline is None or self._sandbox_renew_at < deadline.at):
            return Deadline(self._sandbox_renew_at, "renew")
        return deadline

    async def _wait_for_work(self) -> None:
        deadline = self._deadline()
        if self._lean:
            if deadline is not None:
                if deadline.at <= workflow.now():
                    return
                self._alarm.set(deadline.at, f"{deadline.kind} deadline")
            await workflow.wait_condition(lambda: self._has_work() or self._alarm.rang)
            self._alarm.acknowledge()
            return
        if deadline is None:
            await workflow.wait_condition(self._has_work)
            return
        timeout = max(deadline.at - workflow.now(), timedelta())
        with contextlib.suppress(TimeoutError):  # a deadline that passes is handled by _on_clock
            await workflow.wait_condition(self._has_work, timeout=timeout, timeout_summary=f"{deadline.kind} deadline")

    async def _on_clock(self) -> None:
        """Fire every deadline that is due: renew the sandbox, stall, escalate, abandon."""
        while (deadline := self._deadline()) is not None and deadline.at <= workflow.now():
            if deadline.kind == "renew":
                await self._renew_sandbox()
            elif deadline.kind == "stall":
                self._begin_stall()
            elif deadline.kind == "escalate":
                await self._escalate()
            else:
                self._abandon()
                return

    def _begin_stall(self) -> None:
        reason = derive_stall_reason(self._gate(), self._poc, self._blocker, self._inp.roster)
        self._stall = Stall(
            reason_code=reason.code,
            detail=reason.detail,
            since=workflow.now().isoformat(),
            owners=list(reason.owners),
        )
        self._emit(EventKind.STALLED, reason_code=reason.code, detail=reason.detail, data=dict(reason.data))
        workflow.logger.warning("stage stalled", extra={"stage": self._stage.value, "reason": reason.code.value})

    async def _escalate(self) -> None:
        assert self._stall is not None
        rungs = sorted(self._policy.escalation, key=lambda r: r.after_sla_multiple)
        level = self._stall.escalation_level + 1
        rung = rungs[level - 1]
        to = {
            "owner": list(self._stall.owners),
            "sponsor": [self._inp.spec.sponsor],
            "portfolio": self._inp.roster.get("portfolio", []),
        }[rung.notify]
        title = f"Escalation L{level}: {self._inp.spec.title} stalled in {self._stage.value}"
        ticket = await self._open_ticket(
            "escalation",
            title,
            body=f"{self._stall.reason_code.value}: {self._stall.detail}. To: {', '.join(to) or rung.notify}",
        )
        self._escalations.append(ticket)
        self._stall = self._stall.model_copy(
            update={"escalation_level": level, "tickets": [*self._stall.tickets, ticket.ref]}
        )
        self._emit(
            EventKind.ESCALATED,
            reason_code=self._stall.reason_code,
            detail=f"escalated to {rung.notify}: {', '.join(to)}",
            data={"level": level, "ticket": ticket.ref, "notify": rung.notify, "to": to},
        )

    def _stalled_seconds(self) -> float:
        if self._stall is None:
            return 0.0
        return (workflow.now() - datetime.fromisoformat(self._stall.since)).total_seconds()

    async def _clear_stall(self) -> None:
        """Progress on the gate: the stall ends and the stage's clock starts again."""
        if self._stall is None:
            return
        stalled = self._stalled_seconds()
        self._emit(
            EventKind.STALL_CLEARED,
            reason_code=self._stall.reason_code,
            detail=f"stalled for {stalled:.0f}s",
            data={"stalled_seconds": stalled, "escalation_level": self._stall.escalation_level},
        )
        self._stall = None
        self._clock_start = workflow.now()
        self._held_in_stage = timedelta()
        await self._close_escalations("done", "progress on the gate")

    async def _close_escalations(self, outcome: str, comment: str) -> None:
        for ticket in self._escalations:
            await self._close_ticket(ticket, outcome, comment)
        self._escalations = []

    def _abandon(self) -> None:
        stall = self._stall
        last = f"{stall.reason_code.value} ({stall.detail})" if stall else "no progress"
        detail = f"abandoned after {self._stage.value} stalled: {last}"
        self._ending = (EventKind.SCRAPPED, "liftoff", None, ReasonCode.ABANDONED, detail, False)
        workflow.logger.warning("initiative abandoned", extra={"stage": self._stage.value})

    async def _renew_sandbox(self) -> None:
        sandbox = self._sandbox
        if sandbox is None:
            self._sandbox_renew_at = None
            return
        ttl = self._policy.poc_sandbox.ttl
        renewed: Resource = await workflow.execute_activity(
            act.RENEW_RESOURCE,
            RenewInput(ref=sandbox.ref, ttl_seconds=int(ttl.total_seconds())),
            result_type=Resource,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
            retry_policy=INTEGRATION_RETRY,
        )
        self._sandbox_renew_at = workflow.now() + ttl / 2
        self._emit(EventKind.SANDBOX_RENEWED, data={"ref": renewed.ref, "ttl_seconds": int(ttl.total_seconds())})

    def _has_work(self) -> bool:
        return (
            bool(self._outbox)
            or self._settled_seq < self._seq
            or self._ending is not None
            or self._send_back is not None
            or (self._stage is Stage.ROLLOUT and self._rollout_result is not None)
            or self._gate().closed
        )

    async def _enter(self, stage: Stage) -> None:
        self._stage = stage
        self._stage_entered_at = workflow.now()
        self._clock_start = self._stage_entered_at
        self._held_in_stage = timedelta()
        self._approvals = []
        self._blocker = None  # a blocker belongs to the stage it was reported in
        if stage in (Stage.PROPOSED, Stage.POC):
            self._findings = []  # sent back before the assessment: its findings no longer apply
        if stage is Stage.POC:
            self._poc = None  # a PoC sent back is run again
        if stage not in self._visited:
            self._visited.append(stage)
        self._emit(EventKind.STAGE_ENTERED, data={"awaiting_roles": [r.value for r in self._awaiting()]})
        if stage is Stage.ROLLOUT and self._lean:
            self._emit(EventKind.ROLLOUT_STARTED)  # recorded with the decision that led here
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
                heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
                retry_policy=INTEGRATION_RETRY,
            )
            self._emit(EventKind.SANDBOX_PROVISIONED, data={"ref": self._sandbox.ref})
            if self._timers:
                self._sandbox_renew_at = workflow.now() + sandbox.ttl / 2
        elif stage is Stage.INFRA_REVIEW:
            self._assessing = True
            result = await workflow.execute_activity(
                act.ASSESS_INFRASTRUCTURE,
                AssessInfrastructureInput(
                    initiative_id=inp.initiative_id, spec=inp.spec, standards=self._policy.it_standards
                ),
                result_type=AssessInfrastructureResult,
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
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
            if not self._lean:
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
                    await_change_approval=self._policy.change_approval,
                    change_poll_seconds=int(self._policy.change_poll_interval.total_seconds()),
                ),
                id=f"rollout-{inp.initiative_id}-{self._seq}",
                result_type=RolloutResult,
            )
            self._rollout_id = handle.id
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

    async def _on_exit(self, stage: Stage, *, advanced: bool = True) -> None:
        if stage is Stage.POC:
            await self._release_sandbox("PoC finished" if advanced else "PoC sent back")
        elif stage is Stage.IT_SIGNOFF:
            if advanced:
                await self._close_signoff("done", "joint IT sign-off complete")
            else:
                await self._close_signoff("cancelled", "sent back before sign-off")

    async def _go_back(self) -> None:
        assert self._send_back is not None
        approver, role, reason, detail = self._send_back
        self._send_back = None
        leaving = self._stage
        target = previous_stage(leaving)
        assert target is not None  # the validator refused send-backs without an earlier stage
        self._emit(
            EventKind.STAGE_LEFT,
            actor=approver,
            role=role,
            reason_code=reason,
            detail=detail,
            data={"outcome": "sent_back", "to": target.value},
        )
        await self._on_exit(leaving, advanced=False)
        await self._enter(target)

    async def _after_rollout(self, result: RolloutResult) -> None:
        self._rollout_task = None
        decided = result.change_decision
        if decided is not None and workflow.patched(patches.CHANGE_DECIDED_EVENT):
            self._emit(
                EventKind.CHANGE_DECIDED,
                actor=decided.actor,
                detail=decided.detail,
                reason_code=None if decided.approved else ReasonCode.CHANGE_REJECTED,
                data={"approved": decided.approved, "ticket": result.change_ticket},
                verified=decided.verified,
            )
        if result.succeeded:
            await self._advance()
            return
        # A failed rollout has compensated itself; the initiative goes back to IT sign-off.
        reason = ReasonCode(result.reason_code) if result.reason_code else ReasonCode.ROLLOUT_FAILED
        self._rollout_result = None
        self._emit(
            EventKind.ROLLOUT_FAILED, reason_code=reason, detail=result.detail, data={"compensated": result.compensated}
        )
        if self._policy.rollout_failure == "scrap":
            self._ending = (EventKind.SCRAPPED, "liftoff", None, reason, f"rollout failed: {result.detail}", False)
            return
        self._emit(EventKind.STAGE_LEFT, reason_code=reason, data={"outcome": "sent_back"})
        await self._enter(Stage.IT_SIGNOFF)

    async def _end_scrapped(self) -> None:
        assert self._ending is not None
        kind, actor, role, reason, detail, verified = self._ending
        if self._rollout_task is not None and not self._rollout_task.done():
            self._rollout_task.cancel()
            try:
                await self._rollout_task
            except BaseException:  # noqa: BLE001 - the child reports and compensates its own failure
                workflow.logger.info("rollout cancelled for scrap")
        await self._release_sandbox("initiative scrapped")
        await self._close_signoff("cancelled", f"initiative scrapped: {reason.value}")
        await self._close_escalations("cancelled", f"initiative scrapped: {reason.value}")
        stalled = self._stalled_seconds()
        self._stall = None
        leaving = self._stage
        self._reason, self._reason_detail = reason, detail
        self._hold = None
        self._stage = Stage.SCRAPPED
        self._stage_entered_at = workflow.now()
        self._emit(
            EventKind.SCRAPPED,
            actor=actor,
            role=role,
            reason_code=reason,
            detail=detail,
            stage=leaving,
            data={"via": kind.value, "stalled_seconds": stalled} if stalled else {"via": kind.value},
            verified=verified,
        )
        workflow.logger.info("initiative scrapped", extra={"reason": reason.value, "stage": leaving.value})
