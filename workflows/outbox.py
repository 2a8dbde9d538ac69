"""The event outbox of an initiative: events emitted in order, recorded in PostgreSQL, decisions settled.

Update handlers and ``run`` emit events here with the next sequence number of the initiative's state;
``flush`` records everything pending in one ``record_events`` call with the read-model snapshot as it
stands; ``settle`` marks the decisions up to a sequence number processed, which is what a handler waits
for before it answers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():  # models only
    from schemas.events import EventKind, InitiativeSnapshot, LifecycleEvent, RecordedEvents, RecordEventsInput
    from schemas.initiative_state import InitiativeState
    from schemas.notifications import Notice
    from schemas.stages import Stage
    from schemas.taxonomy import ReasonCode

from workflows import activity_names as act
from workflows import metrics

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
RECORD_TIMEOUT = timedelta(seconds=30)
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


class Outbox:
    """Events not yet recorded, and how far the decisions have been processed."""

    def __init__(self, state: InitiativeState, initiative_id: str, policy_version: str) -> None:
        self._state = state
        self._initiative_id = initiative_id
        self._policy_version = policy_version
        self.pending: list[LifecycleEvent] = []
        #: Decisions up to this sequence number are processed (their handlers may answer).
        self.settled_seq = state.seq
        #: Record by a local activity first (``patches.LEAN_HISTORY``), else by a regular one.
        self.local = False
        #: Who must be told what about a batch (``patches.NOTIFICATIONS``): recorded with it.
        self.review: Callable[[list[LifecycleEvent]], list[Notice]] | None = None

    def emit(
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
        at: datetime | None = None,
    ) -> int:
        """Append an event (at the current stage unless ``stage`` is given, now unless ``at`` is); returns its seq."""
        state = self._state
        state.seq += 1
        at_stage = stage or state.stage
        metrics.count_event(kind, at_stage.value, role, reason_code.value if reason_code else None)
        self.pending.append(
            LifecycleEvent(
                event_id=f"{workflow.info().workflow_id}/{state.seq}",
                initiative_id=self._initiative_id,
                seq=state.seq,
                kind=kind,
                stage=at_stage,
                actor=actor,
                role=role,
                reason_code=reason_code,
                detail=detail,
                data=data or {},
                occurred_at=at or workflow.now(),
                policy_version=self._policy_version,
                verified=verified,
            )
        )
        return state.seq

    async def flush(self, snapshot: Callable[[], InitiativeSnapshot]) -> None:
        """Record pending events in order, in one activity, with the snapshot as it stands then."""
        while self.pending:
            batch = list(self.pending)
            notices = self.review(batch) if self.review is not None else []
            record = RecordEventsInput(events=batch, snapshot=snapshot(), notices=notices)
            if self.local:
                await self._record_locally(record)
            else:
                await self._record_durably(record)
            del self.pending[: len(batch)]

    def settle(self, upto: int) -> None:
        """Mark the decisions up to ``upto`` processed."""
        self.settled_seq = max(self.settled_seq, upto)

    @property
    def unsettled(self) -> bool:
        """Whether a decision waits to be processed."""
        return self.settled_seq < self._state.seq

    async def wait_settled(self, seq: int) -> None:
        """Wait until the decision with ``seq`` has been processed."""
        await workflow.wait_condition(lambda: self.settled_seq >= seq)

    @staticmethod
    async def _record_durably(record: RecordEventsInput) -> None:
        await workflow.execute_activity(
            act.RECORD_EVENTS,
            record,
            result_type=RecordedEvents,
            start_to_close_timeout=RECORD_TIMEOUT,
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
