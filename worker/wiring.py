"""The one visible place where adapters are built and handed to activities and the worker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from activities.assessment import assess_infrastructure
from activities.events import EventActivities
from activities.provisioning import BuiltinProvisioner, Provisioner, ProvisioningActivities
from activities.ticketing import BuiltinTicketing, TicketingActivities, TicketingSystem
from schemas.contract import TASK_QUEUE
from worker.activation_order import RecordedOrderRunner
from worker.activity_heartbeat import ActivityHeartbeatInterceptor
from worker.adapters import Integrations
from worker.approval_interceptor import ApprovalTokenInterceptor
from workflows.initiative import InitiativeWorkflow
from workflows.rollout import RolloutWorkflow

WORKFLOWS: Sequence[type] = (InitiativeWorkflow, RolloutWorkflow)


def build_activities(
    pool: asyncpg.Pool,
    *,
    ticketing_system: TicketingSystem | None = None,
    provisioner: Provisioner | None = None,
    canary_url: str | None = None,
) -> list[Callable[..., Any]]:
    """Every activity, bound to the given adapters (the built-in ones over ``pool`` by default)."""
    events = EventActivities(pool)
    ticketing = TicketingActivities(ticketing_system or BuiltinTicketing(pool))
    provisioning = ProvisioningActivities(provisioner or BuiltinProvisioner(pool), ledger=pool, health_url=canary_url)
    return [
        events.record_events,
        assess_infrastructure,
        ticketing.open_ticket,
        ticketing.close_ticket,
        ticketing.get_ticket,
        provisioning.provision,
        provisioning.deprovision,
        provisioning.renew_resource,
        provisioning.check_health,
        provisioning.promote_release,
    ]


def build_workflow_worker(
    client: Client, *, task_queue: str = TASK_QUEUE, approval_secret: bytes | None = None
) -> Worker:
    """A worker for the workflows only (no activities), configured as ``build_worker`` configures them."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        interceptors=[ApprovalTokenInterceptor(approval_secret), ActivityHeartbeatInterceptor()],
        workflow_runner=RecordedOrderRunner(),
    )


def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    *,
    task_queue: str = TASK_QUEUE,
    approval_secret: bytes | None = None,
    integrations: Integrations | None = None,
    canary_url: str | None = None,
) -> Worker:
    """A worker for both workflows and all activities on ``task_queue``.

    With ``approval_secret``, every decision must carry a token signed with it (see
    ``worker/approval_interceptor.py``); without, decisions carrying a token are refused.
    """
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=build_activities(
            pool,
            ticketing_system=integrations.ticketing if integrations else None,
            provisioner=integrations.provisioner if integrations else None,
            canary_url=canary_url,
        ),
        interceptors=[ApprovalTokenInterceptor(approval_secret), ActivityHeartbeatInterceptor()],
        workflow_runner=RecordedOrderRunner(),
    )
