"""The stage machine of ``InitiativeWorkflow``: entering, leaving, sending back, rolling out, ending."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from schemas.contract import ROLLOUT_WORKFLOW
    from schemas.events import EventKind
    from schemas.findings import AssessInfrastructureInput, AssessInfrastructureResult
    from schemas.integrations import ProvisionInput, Resource, RolloutInput, RolloutResult
    from schemas.stages import Stage, next_stage
    from schemas.taxonomy import ReasonCode
    from workflows import activity_names as act
    from workflows.gates import previous_stage
    from workflows.initiative_base import INTEGRATION_RETRY, InitiativeBase


class InitiativeStages(InitiativeBase):
    """How ``run`` moves an initiative between stages."""

    async def _walk(self) -> None:
        """Process decisions until the initiative reaches a terminal stage."""
        await self._flush()
        self._publish()
        while not self._stage.is_terminal:
            await workflow.wait_condition(self._has_work)
            # Every decision up to here is evaluated in this pass; later ones wait for the next.
            upto = self._seq
            await self._flush()
            if self._ending is not None:
                await self._end_scrapped()
            elif self._send_back is not None:
                await self._go_back()
            elif self._stage is Stage.ROLLOUT and self._rollout_result is not None:
                await self._after_rollout(self._rollout_result)
            elif self._gate().closed:
                await self._advance()
            await self._record()
            self._settled_seq = max(self._settled_seq, upto)
        # Terminal: everything is recorded and no decision is accepted any more.
        self._settled_seq = self._seq

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
        kind, actor, role, reason, detail, verified = self._ending
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
            data={"via": kind.value},
            verified=verified,
        )
        workflow.logger.info("initiative scrapped", extra={"reason": reason.value, "stage": leaving.value})
