"""RolloutWorkflow as a saga: a failure at each step compensates exactly what was done, in reverse order."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from schemas.contract import ROLLOUT_WORKFLOW
from schemas.integrations import (
    CloseTicketInput,
    DeprovisionInput,
    OpenTicketInput,
    ProvisionInput,
    Resource,
    ResourceRef,
    RolloutInput,
    RolloutResult,
    Ticket,
)
from workflows.rollout import RolloutWorkflow


class Steps:
    """Stand-ins for the rollout's activities that record each call and fail where told."""

    def __init__(self, fail_at: str | None, error_type: str = "Boom", *, healthy: bool = True) -> None:
        self.calls: list[str] = []
        self.fail_at = fail_at
        self.error_type = error_type
        self.healthy = healthy

    def _maybe_fail(self, step: str) -> None:
        self.calls.append(step)
        if step == self.fail_at:
            raise ApplicationError(f"{step} failed", type=self.error_type, non_retryable=True)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="open_ticket")
        async def open_ticket(inp: OpenTicketInput) -> Ticket:
            self._maybe_fail("open_ticket")
            return Ticket(ref="CHG-1", system="test", status="open", kind=inp.kind)

        @activity.defn(name="provision")
        async def provision(inp: ProvisionInput) -> Resource:
            self._maybe_fail("provision")
            return Resource(ref="env-1", provider="test", environment=inp.environment, status="ready")

        @activity.defn(name="check_health")
        async def check_health(inp: ResourceRef) -> bool:
            self._maybe_fail("check_health")
            return self.healthy

        @activity.defn(name="promote_release")
        async def promote_release(inp: ResourceRef) -> Resource:
            self._maybe_fail("promote_release")
            return Resource(ref=inp.ref, provider="test", environment="production", status="ready")

        @activity.defn(name="close_ticket")
        async def close_ticket(inp: CloseTicketInput) -> Ticket:
            self.calls.append(f"close_ticket:{inp.outcome}")
            return Ticket(ref=inp.ref, system="test", status=inp.outcome, kind="change")

        @activity.defn(name="deprovision")
        async def deprovision(inp: DeprovisionInput) -> Resource:
            self.calls.append("deprovision")
            return Resource(ref=inp.ref, provider="test", environment="production", status="deprovisioned")

        return [open_ticket, provision, check_health, promote_release, close_ticket, deprovision]


async def _run(client: Client, steps: Steps) -> RolloutResult:
    queue = f"saga-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[RolloutWorkflow], activities=steps.activities()):
        result: RolloutResult = await client.execute_workflow(
            ROLLOUT_WORKFLOW,
            RolloutInput(initiative_id="saga", title="Saga test", gpu_count=2),
            id=f"rollout-saga-{uuid.uuid4()}",
            task_queue=queue,
            result_type=RolloutResult,
        )
    return result


async def test_success_runs_every_step_and_compensates_nothing(client: Client) -> None:
    steps = Steps(fail_at=None)
    result = await _run(client, steps)
    assert result.succeeded is True
    assert (result.change_ticket, result.resource) == ("CHG-1", "env-1")
    assert steps.calls == ["open_ticket", "provision", "check_health", "promote_release", "close_ticket:done"]


@pytest.mark.parametrize(
    ("fail_at", "error_type", "healthy", "reason", "after_failure", "compensated"),
    [
        ("open_ticket", "JiraUnauthorized", True, "ROLLOUT_FAILED", [], []),
        (
            "provision",
            "CapacityQuotaUnavailable",
            True,
            "CAPACITY_QUOTA_UNAVAILABLE",
            ["close_ticket:failed"],
            ["ticket CHG-1 closed as failed"],
        ),
        (
            "provision",
            "ProvisioningTimeout",
            True,
            "PROVISIONING_DELAY",
            ["close_ticket:failed"],
            ["ticket CHG-1 closed as failed"],
        ),
        (
            None,
            "",
            False,
            "SCALABILITY_UNPROVEN",
            ["deprovision", "close_ticket:failed"],
            ["resource env-1 deprovisioned", "ticket CHG-1 closed as failed"],
        ),
        (
            "promote_release",
            "PromotionFailed",
            True,
            "ROLLOUT_FAILED",
            ["deprovision", "close_ticket:failed"],
            ["resource env-1 deprovisioned", "ticket CHG-1 closed as failed"],
        ),
    ],
    ids=["ticket", "capacity", "provisioning-timeout", "canary", "promote"],
)
async def test_failure_at_each_step_compensates_what_was_done(
    client: Client,
    fail_at: str | None,
    error_type: str,
    healthy: bool,
    reason: str,
    after_failure: list[str],
    compensated: list[str],
) -> None:
    steps = Steps(fail_at=fail_at, error_type=error_type or "Boom", healthy=healthy)
    result = await _run(client, steps)
    assert result.succeeded is False
    assert result.reason_code == reason
    assert result.compensated == compensated
    done = ["open_ticket", "provision", "check_health", "promote_release"]
    last = done.index(fail_at) if fail_at else done.index("check_health")
    assert steps.calls == done[: last + 1] + after_failure
