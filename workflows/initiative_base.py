"""State and bookkeeping of ``InitiativeWorkflow``: views, snapshots, the event outbox, side-effect steps.

The workflow class in ``workflows/initiative.py`` adds the stage machine and the update handlers.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():  # models only: liftoff's logic is imported below, sandboxed
    from schemas.carried import CarriedState
    from schemas.contract import DECISION_REFUSED
    from schemas.decisions import Approval, Blocker, Hold
    from schemas.events import EventKind, InitiativeSnapshot, LifecycleEvent, RecordedEvents, RecordEventsInput
    from schemas.findings import Finding
    from schemas.initiative import StartInitiativeInput
    from schemas.integrations import (
        CloseTicketInput,
        DeprovisionInput,
        OpenTicketInput,
        Resource,
        RolloutResult,
        Ticket,
    )
    from schemas.stages import InitiativeStatus, Role, Stage
    from schemas.status import InitiativeStatusView, PocEvaluation, Stall
    from schemas.taxonomy import ReasonCode

from workflows import activity_names as act
from workflows import metrics
from workflows import search_attributes as sa
from workflows.alarm import Alarm
from workflows.details import render_details
from workflows.gates import GateContext

#: Database writes retry while the database is down (about four hours: 1000 attempts at most 15 s apart),
#: but not forever; data the database refuses fails at once (``EventsRejected``), never loops. The short
#: interval applies waiting decisions within seconds of the database's return (measured with bench.chaos:
#: 72 s after a 20 s outage with one minute between attempts). Retry options are not part of replay.
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=15),
    maximum_attempts=1000,
    non_retryable_error_types=["EventsRejected"],
)
INTEGRATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=20,
    non_retryable_error_types=["TicketNotFound", "ResourceNotFound"],
)
SHORT = timedelta(seconds=30)
#: ``record_events`` first runs as a local activity, inside the workflow task: one history event instead of
#: six, and no billable action of its own. A database that does not answer within a few attempts (about 3 s
#: of backoff when it refuses at once, at most 25 s when it hangs) hands the events to a regular activity with
#: ``DB_RETRY``, so a long outage neither holds the workflow task nor grows the history with every retry.
#: The attempts bound it: the SDK's core does not end a local activity at its schedule-to-close timeout
#: while it keeps the workflow task alive (measured: it retried for minutes).
LOCAL_RECORD_TIMEOUT = timedelta(seconds=5)
LOCAL_RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=2),
    maximum_attempts=5,
    non_retryable_error_types=["EventsRejected"],
)


def refuse(reason: str | None, inp: object = None) -> None:
    """Refuse an update with ``reason`` (shown to the caller without a stack trace), counting it."""
    if reason:
        role = getattr(inp, "role", None)
        metrics.count_refusal(str(role.value if hasattr(role, "value") else role) if role else None)
        raise ApplicationError(reason, type=DECISION_REFUSED, non_retryable=True)


class InitiativeBase:
    """Everything the workflow remembers, and how it records and shows it."""

    def _init_state(self, inp: StartInitiativeInput) -> None:
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
        self._ending: tuple[EventKind, str, str | None, ReasonCode, str, bool] | None = None
        self._send_back: tuple[str, str, ReasonCode, str] | None = None
        self._hold: Hold | None = None
        self._held_in_stage = timedelta()
        self._blocker: Blocker | None = None
        self._seq = 0
        self._settled_seq = 0
        self._outbox: list[LifecycleEvent] = []
        self._sandbox: Resource | None = None
        self._signoff_ticket: Ticket | None = None
        self._rollout_task: asyncio.Task[RolloutResult] | None = None
        self._rollout_result: RolloutResult | None = None
        # SLA clock (see workflows/stalls.py): restarts on stage entry and when a stall clears.
        self._clock_start: datetime = workflow.now()
        self._stall: Stall | None = None
        self._escalations: list[Ticket] = []
        self._progress = False
        self._timers = False
        self._sandbox_renew_at: datetime | None = None
        self._runs = 1
        self._rollout_id: str | None = None
        self._spent_nonces: list[str] = []
        # Set by ``patches.LEAN_HISTORY``: events recorded by a local activity once per pass, search
        # attributes upserted only when they change, one alarm instead of a timer per wait.
        self._lean = False
        self._alarm = Alarm()

    def _carry(self) -> CarriedState:
        return CarriedState(
            stage=self._stage,
            visited=list(self._visited),
            stage_entered_at=self._stage_entered_at,
            approvals=list(self._approvals),
            findings=list(self._findings),
            poc=self._poc,
            poc_spend=self._poc_spend,
            reason=self._reason,
            reason_detail=self._reason_detail,
            hold=self._hold,
            held_in_stage=self._held_in_stage,
            blocker=self._blocker,
            seq=self._seq,
            sandbox=self._sandbox,
            signoff_ticket=self._signoff_ticket,
            clock_start=self._clock_start,
            stall=self._stall,
            escalations=list(self._escalations),
            sandbox_renew_at=self._sandbox_renew_at,
            runs=self._runs + 1,
            spent_nonces=list(self._spent_nonces),
        )

    def _restore(self, c: CarriedState) -> None:
        self._stage = c.stage
        self._visited = list(c.visited)
        self._stage_entered_at = c.stage_entered_at
        self._approvals = list(c.approvals)
        self._findings = list(c.findings)
        self._poc = c.poc
        self._poc_spend = c.poc_spend
        self._reason, self._reason_detail = c.reason, c.reason_detail
        self._hold = c.hold
        self._held_in_stage = c.held_in_stage
        self._blocker = c.blocker
        self._seq = self._settled_seq = c.seq
        self._sandbox = c.sandbox
        self._signoff_ticket = c.signoff_ticket
        self._clock_start = c.clock_start
        self._stall = c.stall
        self._escalations = list(c.escalations)
        self._sandbox_renew_at = c.sandbox_renew_at
        self._runs = c.runs
        self._spent_nonces = list(c.spent_nonces)

    # ------------------------------------------------------------------ derived state

    @property
    def _workflow_id(self) -> str:
        return workflow.info().workflow_id

    def approval_context(self) -> tuple[str, str]:
        """Initiative id and current stage, for the worker's approval-token check."""
        return self._inp.initiative_id, self._stage.value

    def nonce_spent(self, nonce: str) -> bool:
        """Whether a decision already used the approval token with ``nonce``."""
        return nonce in self._spent_nonces

    def spend_nonce(self, nonce: str) -> None:
        """Record that an accepted decision used the token with ``nonce`` (called before its handler)."""
        if nonce not in self._spent_nonces:
            self._spent_nonces.append(nonce)

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
            on_hold=self._hold is not None,
            team_actors=self._inp.team_actors,
            team=self._inp.spec.team,
            tokens_prove_roles=self._inp.tokens_prove_roles,
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
        if self._hold is not None:
            return InitiativeStatus.ON_HOLD
        if self._stall is not None:
            return InitiativeStatus.STALLED
        return InitiativeStatus.ACTIVE

    def _sla_due(self) -> datetime | None:
        """When the current stage's SLA runs out (None while on hold or without an SLA)."""
        stage_policy = self._policy.stages.get(self._stage)
        if stage_policy is None or self._hold is not None or self._stage.is_terminal:
            return None
        return self._clock_start + stage_policy.sla + self._held_in_stage

    def _view(self) -> InitiativeStatusView:
        spec = self._inp.spec
        due = self._sla_due()
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
            hold=self._hold,
            blocker=self._blocker,
            sla_due_at=due.isoformat() if due else None,
            stall=self._stall,
            rollout_workflow_id=self._rollout_id if self._stage is Stage.ROLLOUT else None,
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

    # ------------------------------------------------------------------ recording

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
        verified: bool = False,
    ) -> int:
        self._seq += 1
        metrics.count_event(kind, (stage or self._stage).value, role, reason_code.value if reason_code else None)
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
                verified=verified,
            )
        )
        return self._seq

    async def _flush(self) -> None:
        """Record pending events in order, in one activity, with the snapshot as it stands now."""
        while self._outbox:
            batch = list(self._outbox)
            record = RecordEventsInput(events=batch, snapshot=self._snapshot())
            if self._lean:
                await self._record_locally(record)
            else:
                await self._record_durably(record)
            del self._outbox[: len(batch)]

    async def _record_durably(self, record: RecordEventsInput) -> None:
        await workflow.execute_activity(
            act.RECORD_EVENTS,
            record,
            result_type=RecordedEvents,
            start_to_close_timeout=SHORT,
            heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
            retry_policy=DB_RETRY,
        )

    async def _record_locally(self, record: RecordEventsInput) -> None:
        """A local activity first; a regular one (retrying for hours) if the database does not answer."""
        try:
            await workflow.execute_local_activity(
                act.RECORD_EVENTS,
                record,
                result_type=RecordedEvents,
                start_to_close_timeout=LOCAL_RECORD_TIMEOUT,
                retry_policy=LOCAL_RECORD_RETRY,
            )
        except FailureError as err:  # a local activity's failure may come unwrapped, without its ActivityError
            cause = err.cause if isinstance(err, ActivityError) else err
            if isinstance(cause, ApplicationError) and cause.type == "EventsRejected":
                raise
            workflow.logger.warning(
                "recording events locally failed; retrying as an activity", extra={"error": str(cause)}
            )
            await self._record_durably(record)

    def _publish(self) -> None:
        """Search attributes and current details follow every change."""
        awaiting = self._awaiting()
        updates = sa.progress(
            self._stage.value, [r.value for r in awaiting], self._stage_entered_at, stalled=self._stall is not None
        )
        if self._lean:
            spec = self._inp.spec
            updates = sa.changed(
                [*sa.identity(spec.team, spec.business_unit, spec.risk_tier.value), *updates],
                workflow.info().typed_search_attributes,
            )
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(render_details(self._view(), awaiting, self._inp.roster, workflow.now()))

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

    # ------------------------------------------------------------------ side-effect steps

    async def _release_sandbox(self, why: str) -> None:
        if self._sandbox is None:
            return
        resource: Resource = await workflow.execute_activity(
            act.DEPROVISION,
            DeprovisionInput(ref=self._sandbox.ref, reason=why),
            result_type=Resource,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
            retry_policy=INTEGRATION_RETRY,
        )
        self._emit(EventKind.SANDBOX_DEPROVISIONED, detail=why, data={"ref": resource.ref})
        self._sandbox = None

    async def _open_ticket(self, kind: str, title: str, body: str = "") -> Ticket:
        ticket: Ticket = await workflow.execute_activity(
            act.OPEN_TICKET,
            OpenTicketInput(
                initiative_id=self._inp.initiative_id,
                idempotency_key=f"{self._workflow_id}/{kind}/{self._seq}",
                kind=kind,
                title=title,
                body=body,
            ),
            result_type=Ticket,
            start_to_close_timeout=timedelta(minutes=2),
            heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
            retry_policy=INTEGRATION_RETRY,
        )
        return ticket

    async def _close_ticket(self, ticket: Ticket, outcome: str, comment: str) -> None:
        await workflow.execute_activity(
            act.CLOSE_TICKET,
            CloseTicketInput(ref=ticket.ref, outcome=outcome, comment=comment),
            result_type=Ticket,
            start_to_close_timeout=timedelta(minutes=2),
            heartbeat_timeout=act.HEARTBEAT_TIMEOUT,
            retry_policy=INTEGRATION_RETRY,
        )

    async def _close_signoff(self, outcome: str, comment: str) -> None:
        if self._signoff_ticket is None:
            return
        await self._close_ticket(self._signoff_ticket, outcome, comment)
        self._signoff_ticket = None
