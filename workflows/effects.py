"""The outside world as an initiative's workflow reaches it: one activity call per step, with its options.

Each method schedules one activity (or starts the rollout child) and returns what it answered; the
lifecycle decides when, and records what happened. Retry options are not part of replay.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():  # models only
    from schemas.assessment import AssessInfrastructureInput, AssessInfrastructureResult
    from schemas.contract import ROLLOUT_WORKFLOW
    from schemas.initiative import StartInitiativeInput
    from schemas.integrations import (
        CloseTicketInput,
        DeprovisionInput,
        OpenTicketInput,
        ProvisionInput,
        RenewInput,
        Resource,
        RolloutInput,
        RolloutResult,
        Ticket,
    )

from workflows import activity_names as act

INTEGRATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=20,
    non_retryable_error_types=["TicketNotFound", "ResourceNotFound"],
)
RESOURCE_TIMEOUT = timedelta(minutes=5)
TICKET_TIMEOUT = timedelta(minutes=2)


class Effects:
    """The activities of one initiative (its id and workflow id put into every idempotency key)."""

    def __init__(self, inp: StartInitiativeInput) -> None:
        self._inp = inp

    async def _call(self, name: str, arg: Any, result_type: type[Any], timeout: timedelta) -> Any:  # noqa: ANN401
        return await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=timeout,
            heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
            retry_policy=INTEGRATION_RETRY,
        )

    async def provision_sandbox(self, seq: int) -> Resource:
        """The PoC sandbox the policy allows (one GPU at most)."""
        inp = self._inp
        sandbox = inp.policy.poc_sandbox
        request = ProvisionInput(
            initiative_id=inp.initiative_id,
            idempotency_key=f"{workflow.info().workflow_id}/poc-sandbox/{seq}",
            environment="poc",
            gpu_type=inp.spec.infrastructure.gpu_type,
            gpu_count=min(inp.spec.infrastructure.gpu_count, 1),
            budget_usd=sandbox.budget_usd,
            ttl_seconds=int(sandbox.ttl.total_seconds()),
        )
        resource: Resource = await self._call(act.PROVISION, request, Resource, RESOURCE_TIMEOUT)
        return resource

    async def deprovision(self, ref: str, why: str) -> Resource:
        """Release an environment."""
        resource: Resource = await self._call(
            act.DEPROVISION, DeprovisionInput(ref=ref, reason=why), Resource, RESOURCE_TIMEOUT
        )
        return resource

    async def renew(self, ref: str, ttl: timedelta) -> Resource:
        """Extend an environment's time to live."""
        request = RenewInput(ref=ref, ttl_seconds=int(ttl.total_seconds()))
        resource: Resource = await self._call(act.RENEW_RESOURCE, request, Resource, RESOURCE_TIMEOUT)
        return resource

    async def assess(self) -> AssessInfrastructureResult:
        """The infrastructure assessment against the policy's IT standards."""
        inp = self._inp
        request = AssessInfrastructureInput(
            initiative_id=inp.initiative_id,
            spec=inp.spec,
            standards=inp.policy.it_standards,
            over_budget_at=inp.policy.budget_threshold,
        )
        result: AssessInfrastructureResult = await self._call(
            act.ASSESS_INFRASTRUCTURE, request, AssessInfrastructureResult, TICKET_TIMEOUT
        )
        return result

    async def open_ticket(self, kind: str, title: str, seq: int, body: str = "") -> Ticket:
        """A ticket in the ticketing system (idempotent per kind and sequence number)."""
        request = OpenTicketInput(
            initiative_id=self._inp.initiative_id,
            idempotency_key=f"{workflow.info().workflow_id}/{kind}/{seq}",
            kind=kind,
            title=title,
            body=body,
        )
        ticket: Ticket = await self._call(act.OPEN_TICKET, request, Ticket, TICKET_TIMEOUT)
        return ticket

    async def close_ticket(self, ticket: Ticket, outcome: str, comment: str) -> None:
        """Close a ticket with an outcome."""
        request = CloseTicketInput(ref=ticket.ref, outcome=outcome, comment=comment)
        await self._call(act.CLOSE_TICKET, request, Ticket, TICKET_TIMEOUT)

    async def start_rollout(self, seq: int) -> workflow.ChildWorkflowHandle[Any, RolloutResult]:
        """Start the production rollout as a child workflow."""
        inp = self._inp
        policy = inp.policy
        handle: workflow.ChildWorkflowHandle[Any, RolloutResult] = await workflow.start_child_workflow(
            ROLLOUT_WORKFLOW,
            RolloutInput(
                initiative_id=inp.initiative_id,
                title=inp.spec.title,
                gpu_type=inp.spec.infrastructure.gpu_type,
                gpu_count=inp.spec.infrastructure.gpu_count,
                storage_tb=inp.spec.infrastructure.storage_tb,
                budget_usd=inp.spec.budget_usd,
                await_change_approval=policy.change_approval,
                change_poll_seconds=int(policy.change_poll_interval.total_seconds()),
            ),
            id=f"rollout-{inp.initiative_id}-{seq}",
            result_type=RolloutResult,
        )
        return handle
