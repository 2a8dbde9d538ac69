"""The one visible place where adapters are built and handed to activities and the worker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from activities.assessment import AssessmentActivities
from activities.events import EventActivities
from activities.provisioning import BuiltinProvisioner, Provisioner, ProvisioningActivities
from activities.ticketing import BuiltinTicketing, TicketingActivities, TicketingSystem
from schemas.contract import TASK_QUEUE
from worker.activation_order import RecordedOrderRunner
from worker.activity_heartbeat import ActivityHeartbeatInterceptor
from worker.adapters import Integrations
from worker.approval_interceptor import ApprovalTokenInterceptor
from worker.build_id import current_build_id
from worker.bytecode import compile_sandboxed_code, install_code_cache
from worker.request_id import RequestIdInterceptor
from workflows.initiative import InitiativeWorkflow
from workflows.rollout import RolloutWorkflow

if TYPE_CHECKING:
    from worker.settings import Settings

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
    assessment = AssessmentActivities(ledger=pool)
    ticketing = TicketingActivities(ticketing_system or BuiltinTicketing(pool))
    provisioning = ProvisioningActivities(provisioner or BuiltinProvisioner(pool), ledger=pool, health_url=canary_url)
    return [
        events.record_events,
        assessment.assess_infrastructure,
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
    client: Client, pool: asyncpg.Pool, *, task_queue: str = TASK_QUEUE, approval_secret: bytes | None = None
) -> Worker:
    """A worker for the workflows, configured as ``build_worker`` configures them.

    Of the activities it has only ``record_events``, which the workflows run as a local activity.
    """
    compile_sandboxed_code()
    install_code_cache()
    return Worker(
        client,
        task_queue=task_queue,
        build_id=current_build_id(),
        workflows=list(WORKFLOWS),
        activities=[EventActivities(pool).record_events],
        no_remote_activities=True,
        interceptors=[
            ApprovalTokenInterceptor(approval_secret),
            ActivityHeartbeatInterceptor(),
            RequestIdInterceptor(),
        ],
        workflow_runner=RecordedOrderRunner(data_converter=client.data_converter),
    )


@dataclass(frozen=True)
class WorkerTuning:
    """How much a worker process takes on at once, and how long it lets running activities finish on stop.

    ``None`` keeps the SDK's default (today: 100 concurrent workflow tasks and activities, 1,000 cached
    workflows). Size them from ``bench/``: each cached initiative costs memory, each concurrent activity a
    database connection at worst (so keep ``max_concurrent_activities`` near the pool size).
    """

    max_concurrent_workflow_tasks: int | None = None
    max_concurrent_activities: int | None = None
    max_cached_workflows: int | None = None
    graceful_shutdown: timedelta = timedelta(seconds=30)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerTuning:
        """The tuning ``LIFTOFF_*`` settings ask for."""
        return cls(
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            max_concurrent_activities=settings.max_concurrent_activities,
            max_cached_workflows=settings.max_cached_workflows,
            graceful_shutdown=timedelta(seconds=settings.shutdown_grace_seconds),
        )

    def worker_options(self) -> dict[str, Any]:
        """Keyword arguments for ``temporalio.worker.Worker``."""
        options: dict[str, Any] = {"graceful_shutdown_timeout": self.graceful_shutdown}
        if self.max_concurrent_workflow_tasks is not None:
            options["max_concurrent_workflow_tasks"] = self.max_concurrent_workflow_tasks
        if self.max_concurrent_activities is not None:
            options["max_concurrent_activities"] = self.max_concurrent_activities
        if self.max_cached_workflows is not None:
            options["max_cached_workflows"] = self.max_cached_workflows
        return options


def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    *,
    task_queue: str = TASK_QUEUE,
    approval_secret: bytes | None = None,
    integrations: Integrations | None = None,
    canary_url: str | None = None,
    tuning: WorkerTuning | None = None,
) -> Worker:
    """A worker for both workflows and all activities on ``task_queue``.

    With ``approval_secret``, every decision must carry a token signed with it (see
    ``worker/approval_interceptor.py``); without, decisions carrying a token are refused.
    """
    compile_sandboxed_code()
    install_code_cache()
    return Worker(
        client,
        task_queue=task_queue,
        build_id=current_build_id(),
        workflows=list(WORKFLOWS),
        activities=build_activities(
            pool,
            ticketing_system=integrations.ticketing if integrations else None,
            provisioner=integrations.provisioner if integrations else None,
            canary_url=canary_url,
        ),
        interceptors=[
            ApprovalTokenInterceptor(approval_secret),
            ActivityHeartbeatInterceptor(),
            RequestIdInterceptor(),
        ],
        workflow_runner=RecordedOrderRunner(data_converter=client.data_converter),
        **(tuning or WorkerTuning(graceful_shutdown=timedelta(0))).worker_options(),
    )
