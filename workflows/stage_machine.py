"""How ``run`` moves an initiative between stages: entering, leaving, sending back, rolling out, clocks, ending."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():  # models only: liftoff's logic is imported below, sandboxed
    from schemas.events import EventKind
    from schemas.integrations import RolloutResult
    from schemas.pending import Ending
    from schemas.stages import Stage, next_stage
    from schemas.status import Stall
    from schemas.taxonomy import ReasonCode

from workflows import patches
from workflows.gates import previous_stage
from workflows.initiative_core import InitiativeCore
from workflows.stalls import Deadline, derive_stall_reason, next_deadline


class StageMachine:
    """Processes decisions and clocks until the initiative reaches a terminal stage."""

    def __init__(self, core: InitiativeCore) -> None:
        self._core = core

    async def walk(self) -> None:
        """Process decisions and clocks until the initiative is terminal or should continue as new."""
        core, state = self._core, self._core.state
        # Initiatives started before SLA timers existed keep running without them (replay-safe).
        core.timers = core.patches.patched(patches.SLA_TIMERS)
        if core.timers and core.patches.patched(patches.NOTIFICATIONS):
            core.start_notices()
        await core.outbox.flush(core.snapshot)
        core.publish()
        if core.enter_on_start:
            core.enter_on_start = False
            await self._on_entry(state.stage)
            await core.record()
        while not state.stage.is_terminal:
            await self._wait_for_work()
            # Every decision up to here is evaluated in this pass; later ones wait for the next.
            upto = state.seq
            if not core.lean:  # lean: the pass records its decisions with what they cause, once
                await core.outbox.flush(core.snapshot)
            if core.progress or (state.stage is Stage.ROLLOUT and core.rollout_result is not None):
                core.progress = False
                await self._clear_stall()
            if core.ending is not None:
                await self._end_scrapped(core.ending)
            elif core.send_back is not None:
                await self._go_back()
            elif state.stage is Stage.ROLLOUT and core.rollout_result is not None:
                await self._after_rollout(core.rollout_result)
            elif core.gate().closed:
                await self._advance()
            elif core.timers:
                await self._on_clock()
            await core.record()
            core.outbox.settle(upto)
            if self.should_continue_as_new():
                return
        # Terminal: everything is recorded and no decision is accepted any more.
        core.outbox.settle(state.seq)

    def has_work(self) -> bool:
        """Whether ``run`` has something to do now."""
        core = self._core
        return (
            bool(core.outbox.pending)
            or core.outbox.unsettled
            or core.ending is not None
            or core.send_back is not None
            or (core.state.stage is Stage.ROLLOUT and core.rollout_result is not None)
            or core.gate().closed
        )

    def should_continue_as_new(self) -> bool:
        """Hand over to a new run when the history is long, at a quiet moment (never mid-rollout)."""
        core = self._core
        if not core.timers or core.state.stage is Stage.ROLLOUT or self.has_work():
            return False
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= core.inp.history_limit

    # ------------------------------------------------------------------ clocks

    def _deadline(self) -> Deadline | None:
        core, state = self._core, self._core.state
        if not core.timers or state.hold is not None or state.stage.is_terminal:
            return None
        deadline = next_deadline(
            stage_policy=core.policy.stages.get(state.stage),
            ladder=core.policy.escalation,
            clock_start=state.clock_start,
            held=state.held_in_stage,
            stalled=state.stall is not None,
            escalation_level=state.stall.escalation_level if state.stall else 0,
        )
        renew_at = state.sandbox_renew_at
        if renew_at is not None and (deadline is None or renew_at < deadline.at):
            deadline = Deadline(renew_at, "renew")
        remind_at = self._reminder_at()
        if remind_at is not None and (deadline is None or remind_at < deadline.at):
            deadline = Deadline(remind_at, "remind")
        return deadline

    def _reminder_at(self) -> datetime | None:
        """When the next reminder is due: a fraction of the SLA into the stage's clock, while the gate waits."""
        core, state = self._core, self._core.state
        fractions = core.policy.notices.reminders_at
        stage_policy = core.policy.stages.get(state.stage)
        if (
            not core.notify
            or stage_policy is None
            or state.stall is not None
            or state.reminders_sent >= len(fractions)
            or not (core.awaiting() or core.team_needs())
        ):
            return None
        return state.clock_start + stage_policy.sla * fractions[state.reminders_sent] + state.held_in_stage

    async def _wait_for_work(self) -> None:
        core = self._core
        deadline = self._deadline()
        if core.lean:
            if deadline is not None:
                if deadline.at <= workflow.now():
                    return
                core.alarm.set(deadline.at, f"{deadline.kind} deadline")
            await workflow.wait_condition(lambda: self.has_work() or core.alarm.rang)
            core.alarm.acknowledge()
            return
        if deadline is None:
            await workflow.wait_condition(self.has_work)
            return
        timeout = max(deadline.at - workflow.now(), timedelta())
        with contextlib.suppress(TimeoutError):  # a deadline that passes is handled by _on_clock
            await workflow.wait_condition(self.has_work, timeout=timeout, timeout_summary=f"{deadline.kind} deadline")

    async def _on_clock(self) -> None:
        """Fire every deadline that is due: renew the sandbox, stall, escalate, abandon."""
        while (deadline := self._deadline()) is not None and deadline.at <= workflow.now():
            if deadline.kind == "renew":
                await self._renew_sandbox()
            elif deadline.kind == "remind":
                self._remind()
            elif deadline.kind == "stall":
                self._begin_stall()
            elif deadline.kind == "escalate":
                await self._escalate()
            else:
                self._abandon()
                return

    def _remind(self) -> None:
        core, state = self._core, self._core.state
        fraction = core.policy.notices.reminders_at[state.reminders_sent]
        state.reminders_sent += 1
        team = core.team_needs()
        core.outbox.emit(
            EventKind.REMINDED,
            detail=f"{fraction:.0%} of the {state.stage.value} SLA has passed",
            data={
                "fraction": fraction,
                "awaiting_roles": [r.value for r in core.awaiting()] if core.approvers_can_act() else [],
                "team_action": team.value if team else None,
            },
        )

    def _begin_stall(self) -> None:
        core, state = self._core, self._core.state
        reason = derive_stall_reason(core.gate(), state.poc, state.blocker, core.inp.roster)
        state.stall = Stall(
            reason_code=reason.code,
            detail=reason.detail,
            since=workflow.now().isoformat(),
            owners=list(reason.owners),
        )
        core.outbox.emit(EventKind.STALLED, reason_code=reason.code, detail=reason.detail, data=dict(reason.data))
        workflow.logger.warning("stage stalled", extra={"stage": state.stage.value, "reason": reason.code.value})

    async def _escalate(self) -> None:
        core, state = self._core, self._core.state
        stall = state.stall
        assert stall is not None
        rungs = sorted(core.policy.escalation, key=lambda r: r.after_sla_multiple)
        level = stall.escalation_level + 1
        rung = rungs[level - 1]
        to = {
            "owner": list(stall.owners),
            "sponsor": [core.inp.spec.sponsor],
            "portfolio": core.inp.roster.get("portfolio", []),
        }[rung.notify]
        title = f"Escalation L{level}: {core.inp.spec.title} stalled in {state.stage.value}"
        body = f"{stall.reason_code.value}: {stall.detail}. To: {', '.join(to) or rung.notify}"
        ticket = await core.effects.open_ticket("escalation", title, state.seq, body=body)
        state.escalations.append(ticket)
        state.stall = stall = stall.model_copy(
            update={"escalation_level": level, "tickets": [*stall.tickets, ticket.ref]}
        )
        core.outbox.emit(
            EventKind.ESCALATED,
            reason_code=stall.reason_code,
            detail=f"escalated to {rung.notify}: {', '.join(to)}",
            data={"level": level, "ticket": ticket.ref, "notify": rung.notify, "to": to},
        )

    async def _clear_stall(self) -> None:
        """Progress on the gate: the stall ends and the stage's clock starts again."""
        core, state = self._core, self._core.state
        if state.stall is None:
            return
        stalled = core.stalled_seconds()
        core.outbox.emit(
            EventKind.STALL_CLEARED,
            reason_code=state.stall.reason_code,
            detail=f"stalled for {stalled:.0f}s",
            data={"stalled_seconds": stalled, "escalation_level": state.stall.escalation_level},
        )
        state.stall = None
        core.restart_clock()
        await core.close_escalations("done", "progress on the gate")

    def _abandon(self) -> None:
        core, state = self._core, self._core.state
        stall = state.stall
        last = f"{stall.reason_code.value} ({stall.detail})" if stall else "no progress"
        detail = f"abandoned after {state.stage.value} stalled: {last}"
        core.ending = Ending(
            via=EventKind.SCRAPPED, actor="liftoff", role=None, reason=ReasonCode.ABANDONED, detail=detail
        )
        workflow.logger.warning("initiative abandoned", extra={"stage": state.stage.value})

    async def _renew_sandbox(self) -> None:
        core, state = self._core, self._core.state
        sandbox = state.sandbox
        if sandbox is None:
            state.sandbox_renew_at = None
            return
        ttl = core.policy.poc_sandbox.ttl
        renewed = await core.effects.renew(sandbox.ref, ttl)
        state.sandbox_renew_at = workflow.now() + ttl / 2
        core.outbox.emit(EventKind.SANDBOX_RENEWED, data={"ref": renewed.ref, "ttl_seconds": int(ttl.total_seconds())})

    # ------------------------------------------------------------------ stages

    async def _enter(self, stage: Stage) -> None:
        core, state = self._core, self._core.state
        state.stage = stage
        state.stage_entered_at = workflow.now()
        core.restart_clock()
        state.approvals = []
        state.announced = []  # a new visit: whoever it waits for hears it again
        state.blocker = None  # a blocker belongs to the stage it was reported in
        if stage in (Stage.PROPOSED, Stage.POC):
            state.findings = []  # sent back before the assessment: its findings no longer apply
        if stage is Stage.POC:
            state.poc = None  # a PoC sent back is run again
        if stage not in state.visited:
            state.visited.append(stage)
        core.outbox.emit(EventKind.STAGE_ENTERED, data={"awaiting_roles": [r.value for r in core.awaiting()]})
        if stage is Stage.ROLLOUT and core.lean:
            core.outbox.emit(EventKind.ROLLOUT_STARTED)  # recorded with the decision that led here
        workflow.logger.info("stage entered", extra={"stage": stage.value})
        if stage is Stage.INFRA_REVIEW:
            # The assessment decides what the gate needs, so the decision that led here answers with
            # its findings. Other entry actions (provisioning, tickets) may be slow and run after.
            await self._on_entry(stage)
            await core.settle()
            return
        await core.settle()
        await self._on_entry(stage)
        await core.record()

    async def _advance(self) -> None:
        core, state = self._core, self._core.state
        leaving = state.stage
        core.outbox.emit(EventKind.STAGE_LEFT, data={"outcome": "advanced"})
        await self._on_exit(leaving)
        upcoming = next_stage(leaving)
        if upcoming is Stage.PRODUCTION:
            state.stage = Stage.PRODUCTION
            state.stage_entered_at = workflow.now()
            state.visited.append(Stage.PRODUCTION)
            core.outbox.emit(EventKind.STAGE_ENTERED)
            core.outbox.emit(EventKind.PRODUCTION)
            return
        await self._enter(upcoming)

    async def _on_entry(self, stage: Stage) -> None:
        core, state = self._core, self._core.state
        if stage is Stage.POC:
            sandbox = await core.effects.provision_sandbox(state.seq)
            state.sandbox = sandbox
            core.outbox.emit(EventKind.SANDBOX_PROVISIONED, data={"ref": sandbox.ref})
            if core.timers:
                state.sandbox_renew_at = workflow.now() + core.policy.poc_sandbox.ttl / 2
        elif stage is Stage.INFRA_REVIEW:
            core.assessing = True
            result = await core.effects.assess()
            state.findings = list(result.findings)
            core.assessing = False
            for finding in state.findings:
                core.outbox.emit(
                    EventKind.FINDING_RAISED,
                    reason_code=finding.reason_code,
                    detail=finding.message,
                    data={"finding_id": finding.id, "rule": finding.rule, "blocking": finding.blocking},
                )
        elif stage is Stage.IT_SIGNOFF:
            title = f"IT sign-off: {core.inp.spec.title}"
            state.signoff_ticket = await core.effects.open_ticket("signoff", title, state.seq)
        elif stage is Stage.ROLLOUT:
            core.rollout_result = None
            if not core.lean:
                core.outbox.emit(EventKind.ROLLOUT_STARTED)
            handle = await core.effects.start_rollout(state.seq)
            core.rollout_id = handle.id
            core.rollout_task = asyncio.ensure_future(self._await_rollout(handle))

    async def _await_rollout(self, handle: workflow.ChildWorkflowHandle[Any, RolloutResult]) -> RolloutResult:
        try:
            result = await handle
        except ChildWorkflowError as err:
            # The rollout compensates before it fails; a failure that escaped it still sends us back.
            result = RolloutResult(
                succeeded=False, reason_code=ReasonCode.ROLLOUT_FAILED.value, detail=str(err.cause or err)
            )
        self._core.rollout_result = result
        return result

    async def _on_exit(self, stage: Stage, *, advanced: bool = True) -> None:
        core = self._core
        if stage is Stage.POC:
            await core.release_sandbox("PoC finished" if advanced else "PoC sent back")
        elif stage is Stage.IT_SIGNOFF:
            if advanced:
                await core.close_signoff("done", "joint IT sign-off complete")
            else:
                await core.close_signoff("cancelled", "sent back before sign-off")

    async def _go_back(self) -> None:
        core, state = self._core, self._core.state
        send_back = core.send_back
        assert send_back is not None
        core.send_back = None
        leaving = state.stage
        target = previous_stage(leaving)
        assert target is not None  # the validator refused send-backs without an earlier stage
        core.outbox.emit(
            EventKind.STAGE_LEFT,
            actor=send_back.approver,
            role=send_back.role,
            reason_code=send_back.reason,
            detail=send_back.detail,
            data={"outcome": "sent_back", "to": target.value},
        )
        await self._on_exit(leaving, advanced=False)
        await self._enter(target)

    async def _after_rollout(self, result: RolloutResult) -> None:
        core = self._core
        core.rollout_task = None
        decided = result.change_decision
        if decided is not None and core.patches.patched(patches.CHANGE_DECIDED_EVENT):
            core.outbox.emit(
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
        core.rollout_result = None
        core.outbox.emit(
            EventKind.ROLLOUT_FAILED, reason_code=reason, detail=result.detail, data={"compensated": result.compensated}
        )
        if core.policy.rollout_failure == "scrap":
            detail = f"rollout failed: {result.detail}"
            core.ending = Ending(via=EventKind.SCRAPPED, actor="liftoff", role=None, reason=reason, detail=detail)
            return
        core.outbox.emit(EventKind.STAGE_LEFT, reason_code=reason, data={"outcome": "sent_back"})
        await self._enter(Stage.IT_SIGNOFF)

    async def _end_scrapped(self, ending: Ending) -> None:
        core, state = self._core, self._core.state
        reason = ending.reason
        task = core.rollout_task
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except BaseException:  # noqa: BLE001 - the child reports and compensates its own failure
                workflow.logger.info("rollout cancelled for scrap")
        await core.release_sandbox("initiative scrapped")
        await core.close_signoff("cancelled", f"initiative scrapped: {reason.value}")
        await core.close_escalations("cancelled", f"initiative scrapped: {reason.value}")
        stalled = core.stalled_seconds()
        state.stall = None
        leaving = state.stage
        state.reason, state.reason_detail = reason, ending.detail
        state.hold = None
        state.stage = Stage.SCRAPPED
        state.stage_entered_at = workflow.now()
        core.outbox.emit(
            EventKind.SCRAPPED,
            actor=ending.actor,
            role=ending.role,
            reason_code=reason,
            detail=ending.detail,
            stage=leaving,
            data={"via": ending.via.value, "stalled_seconds": stalled} if stalled else {"via": ending.via.value},
            verified=ending.verified,
        )
        workflow.logger.info("initiative scrapped", extra={"reason": reason.value, "stage": leaving.value})
