"""Recording lifecycle events in PostgreSQL."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from db import events_repo
from schemas.events import RecordEventInput


class EventActivities:
    """Activities that write the event log and read model; holds the pool it writes through."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="record_event")
    async def record_event(self, record: RecordEventInput) -> bool:
        """Write one event idempotently; True when it was new, False when a retry found it there."""
        async with self._pool.acquire() as conn:
            inserted = await events_repo.record_event(conn, record)
        activity.logger.info(
            "event recorded" if inserted else "event already recorded",
            extra={"event_id": record.event.event_id, "kind": record.event.kind.value},
        )
        return inserted
