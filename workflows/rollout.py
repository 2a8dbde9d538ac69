"""``RolloutWorkflow``: change ticket, production environment, canary, promote, close — as a saga.

Any step that fails for good runs the compensations of the steps already done, in reverse order,
and the workflow returns a failed result with a reason code instead of raising, so the parent can
send the initiative back to IT sign-off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():  # models only: liftoff's logic is imported below, sandboxed
    from schemas.change_states import change_verdict
    from schemas.contract import DECISION_REFUSED
    from schemas.integrations import (
        ChangeDecided,
        ChangeDecisionInput,
        CloseTicketInput,
        DeprovisionInput,
        HealthCheck,
        OpenTicketInput,
        ProvisionInput,
        Resource,
        ResourceRef,
        RolloutInput,
        RolloutResult,
        Ticket,
    )
    from schemas.taxonomy import ReasonCode

from workflows import activity_names as act
from workflows import patches
from workflows.gates import refuse_payload

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=10,
    non_retryable_error_types=["TicketNotFound", "ResourceNotFound"],
)
STEP_TIMEOUT = timedelta(minutes=5)

#: Error types an adapter raises, mapped to the reason code recorded when the rollout fails.
REASON_BY_ERROR_TYPE: dict[str, ReasonCode] = {
    "ChangeRejected": ReasonCode.CHANGE_REJECTED,
    "CapacityQuotaUnavailable": ReasonCode.CAPACITY_QUOTA_UNAVAILABLE,
    "ProvisioningTimeout": ReasonCode.PROVISIONING_DELAY,
    "CanaryFailed": ReasonCode.SCALABILITY_UNPROVEN,
}


def _reason_for(err: BaseException) -> ReasonCode:
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type in REASON_BY_ERROR_TYPE:
            return REASON_BY_ERROR_TYPE[cause.type]
        cause = cause.__cause__
    return ReasonCode.ROLLOUT_FAILED


#: Before ``patches.CHANGE_VOCABULARY``: polling counted "in progress" as approved (the webhook never did).
LEGACY_APPROVED = {"approved", "scheduled", "implement", "in_progress", "in progress", "done", "closed"}
LEGACY_REJECTED = {"rejected", "cancelled", "canceled", "won't do", "wont_do", "declined", "failed"}


@workflow.defn(name="RolloutWorkflow")
class RolloutWorkflow:
    """Takes an approved initiative into production through the ticketing and provisioning adapters."""

    @workflow.init
    def __init__(self, inp: RolloutInput) -> None:
        # Tells the worker to apply this run's jobs in the fixed order (worker/activation_order.py).
        self._patches = patches.Patches()
        self._patches.patched(patches.ACTIVATION_ORDER)
        self._initiative_id = inp.initiative_id
        self._change_ticket: str | None = None
        self._spent_nonces: list[str] = []
        self._decision: ChangeDecisionInput | None = None
        # A decision may arrive (webhook) before the rollout reaches the wait: it is kept until then.
        self._awaiting_change = inp.await_change_approval

    @workflow.query(description="The reference of this rollout's change ticket (None until it is opened)")
    def change_ticket(self) -> str | None:
        """The change ticket a ticket webhook must name to decide this rollout."""
        return self._change_ticket

    def approval_context(self) -> tuple[str, str]:
        """Initiative id and stage, for the worker's approval-token check."""
        return self._initiative_id, "rollout"

    def nonce_spent(self, nonce: str) -> bool:
        """Whether a decision already used the approval token with ``nonce``."""
        return nonce in self._spent_nonces

    def spend_nonce(self, nonce: str) -> None:
        """Record that an accepted decision used the token with ``nonce``."""
        self._spent_nonces.append(nonce)

    @workflow.update(description="The change board's decision on the change ticket. Payload: approved, actor, detail")
    async def change_decision(self, inp: ChangeDecisionInput) -> bool:
        """Record the decision; the rollout proceeds or compensates."""
        self._decision = inp
        return inp.approved

    @change_decision.validator
    def _validate_change_decision(self, inp: ChangeDecisionInput) -> None:
        problem = refuse_payload(inp)
        if problem:
            raise ApplicationError(problem, type=DECISION_REFUSED, non_retryable=True)
        if not self._awaiting_change or self._decision is not None:
            raise ApplicationError(
                "this rollout is not waiting for a change decision", type=DECISION_REFUSED, non_retryable=True
            )

    async def _await_change(self, ref: str, poll_seconds: int) -> None:
        """Wait for the change ticket's approval: a webhook's update, or its state when polled."""
        while self._decision is None:
            try:
                await workflow.wait_condition(
                    lambda: self._decision is not None,
                    timeout=timedelta(seconds=poll_seconds),
                    timeout_summary="poll change ticket",
                )
            except TimeoutError:
                ticket: Ticket = await workflow.execute_activity(
                    act.GET_TICKET,
                    ResourceRef(ref=ref),
                    result_type=Ticket,
                    start_to_close_timeout=STEP_TIMEOUT,
                    heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
                    retry_policy=RETRY,
                )
                state = ticket.status.lower()
                if self._patches.patched(patches.CHANGE_VOCABULARY):
                    verdict = change_verdict(state)  # the webhooks' vocabulary too
                else:  # what runs started before it decided
                    verdict = True if state in LEGACY_APPROVED else False if state in LEGACY_REJECTED else None
                if verdict is not None:
                    self._decision = ChangeDecisionInput(approved=verdict, actor="poll", detail=f"ticket {state}")
        self._awaiting_change = False
        if not self._decision.approved:
            msg = f"change request {ref} rejected by {self._decision.actor}: {self._decision.detail}"
            raise ApplicationError(msg, type="ChangeRejected", non_retryable=True)

    @workflow.run
    async def run(self, inp: RolloutInput) -> RolloutResult:
        """Run the steps; on failure or cancellation compensate and report."""
        undo: list[tuple[str, Callable[[str], Awaitable[object]]]] = []
        ticket: Ticket | None = None
        resource: Resource | None = None
        wid = workflow.info().workflow_id
        try:
            ticket = await workflow.execute_activity(
                act.OPEN_TICKET,
                OpenTicketInput(
                    initiative_id=inp.initiative_id,
                    idempotency_key=f"{wid}/change",
                    kind="change",
                    title=f"Production rollout: {inp.title}",
                ),
                result_type=Ticket,
                start_to_close_timeout=STEP_TIMEOUT,
                heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
                retry_policy=RETRY,
            )
            change_ref = ticket.ref
            self._change_ticket = change_ref
            undo.append((f"ticket {change_ref} closed as failed", lambda why: self._close(change_ref, "failed", why)))
            if inp.await_change_approval:
                await self._await_change(change_ref, inp.change_poll_seconds)
            resource = await workflow.execute_activity(
                act.PROVISION,
                ProvisionInput(
                    initiative_id=inp.initiative_id,
                    idempotency_key=f"{wid}/production",
                    environment="production",
                    gpu_type=inp.gpu_type,
                    gpu_count=inp.gpu_count,
                    storage_tb=inp.storage_tb,
                    budget_usd=inp.budget_usd,
                ),
                result_type=Resource,
                start_to_close_timeout=STEP_TIMEOUT,
                heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
                retry_policy=RETRY,
            )
            resource_ref = resource.ref
            undo.append((f"resource {resource_ref} deprovisioned", lambda why: self._deprovision(resource_ref, why)))
            health = await workflow.execute_activity(
                act.CHECK_HEALTH,
                ResourceRef(ref=resource_ref),
                result_type=HealthCheck,
                start_to_close_timeout=STEP_TIMEOUT,
                heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
                retry_policy=RETRY,
            )
            if not health.healthy:
                raise ApplicationError("canary health check failed", type="CanaryFailed", non_retryable=True)
            workflow.logger.info("canary healthy; promoting", extra={"resource": resource_ref})
            if self._patches.patched(patches.ROLLOUT_PROMOTE):
                await workflow.execute_activity(
                    act.PROMOTE,
                    ResourceRef(ref=resource_ref),
                    result_type=Resource,
                    start_to_close_timeout=STEP_TIMEOUT,
                    heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
                    retry_policy=RETRY,
                )
            await self._close(change_ref, "done", "rolled out to production")
            return RolloutResult(
                succeeded=True, change_ticket=change_ref, resource=resource_ref, change_decision=self._decided()
            )
        except (ActivityError, ApplicationError, asyncio.CancelledError) as err:
            cancelled = isinstance(err, asyncio.CancelledError)
            why = "rollout cancelled" if cancelled else str(err.cause if isinstance(err, ActivityError) else err)
            compensated: list[str] = []
            for label, step in reversed(undo):
                await step(why)
                compensated.append(label)
            workflow.logger.warning("rollout compensated", extra={"why": why, "compensated": compensated})
            if cancelled:
                raise
            return RolloutResult(
                succeeded=False,
                change_ticket=ticket.ref if ticket else None,
                resource=resource.ref if resource else None,
                reason_code=_reason_for(err).value,
                detail=why,
                compensated=compensated,
                change_decision=self._decided(),
            )

    def _decided(self) -> ChangeDecided | None:
        decision = self._decision
        if decision is None:
            return None
        verified = decision.token is not None
        return ChangeDecided(
            approved=decision.approved, actor=decision.actor, detail=decision.detail, verified=verified
        )

    async def _close(self, ref: str, outcome: str, comment: str) -> Ticket:
        ticket: Ticket = await workflow.execute_activity(
            act.CLOSE_TICKET,
            CloseTicketInput(ref=ref, outcome=outcome, comment=comment),
            result_type=Ticket,
            start_to_close_timeout=STEP_TIMEOUT,
            heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
            retry_policy=RETRY,
        )
        return ticket

    async def _deprovision(self, ref: str, why: str) -> Resource:
        resource: Resource = await workflow.execute_activity(
            act.DEPROVISION,
            DeprovisionInput(ref=ref, reason=why),
            result_type=Resource,
            start_to_close_timeout=STEP_TIMEOUT,
            heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
            retry_policy=RETRY,
        )
        return resource
