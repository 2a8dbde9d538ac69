"""Recording lifecycle events in PostgreSQL."""

from __future__ import annotations

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from db import events_repo
from db.storable import storable
from schemas.events import RecordedEvents, RecordEventsInput

#: The event log refused the events for what they hold: retrying cannot help.
EVENTS_REJECTED = "EventsRejected"


class EventActivities:
    """Activities that write the event log and read model; holds the pool it writes through."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="record_events")
    async def record_events(self, record: RecordEventsInput) -> RecordedEvents:
        """Write events idempotently (one transaction); returns how many were new (a retry finds them there).

        Text the database refuses (NUL, unpaired surrogates: validators refuse them in new decisions,
        older or forged payloads may still hold them) is written cleaned, with ``storage_cleaned`` in
        the event's data. Any other refusal of the data fails at once instead of retrying for hours.
        """
        try:
            inserted = await self._write(record)
        except (asyncpg.DataError, UnicodeEncodeError) as err:
            cleaned = _cleaned(record)
            if cleaned == record:
                raise _rejected(record, err) from err
            activity.logger.warning(
                "events held text the database refuses; recording them cleaned",
                extra={"initiative_id": record.snapshot.initiative_id, "error": type(err).__name__},
            )
            try:
                inserted = await self._write(cleaned)
            except (asyncpg.DataError, UnicodeEncodeError) as again:
                raise _rejected(record, again) from again
        except asyncpg.IntegrityConstraintViolationError as err:
            raise _rejected(record, err) from err
        activity.logger.info(
            "events recorded",
            extra={
                "initiative_id": record.snapshot.initiative_id,
                "kinds": [e.kind.value for e in record.events],
                "new": inserted,
            },
        )
        return RecordedEvents(new=inserted)

    async def _write(self, record: RecordEventsInput) -> int:
        async with self._pool.acquire() as conn:
            return await events_repo.record_events(conn, record)


def _cleaned(record: RecordEventsInput) -> RecordEventsInput:
    data = storable(record.model_dump(mode="python"))
    for event, original in zip(data["events"], record.events, strict=True):
        if storable(original.model_dump(mode="python")) != original.model_dump(mode="python"):
            event["data"] = {**event["data"], "storage_cleaned": True}
    return RecordEventsInput.model_validate(data)


def _rejected(record: RecordEventsInput, err: BaseException) -> ApplicationError:
    kinds = ", ".join(e.kind.value for e in record.events)
    state = getattr(err, "sqlstate", None)
    return ApplicationError(
        f"the event log refused events ({kinds}) of initiative {record.snapshot.initiative_id}: "
        f"{type(err).__name__}{f' (SQLSTATE {state})' if state else ''}",
        type=EVENTS_REJECTED,
        non_retryable=True,
    )
