"""Recording lifecycle events in PostgreSQL."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from db import events_repo
from schemas.events import RecordEventsInput


class EventActivities:
    """Activities that write the event log and read model; holds the pool it writes through."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="record_events")
    async def record_events(self, record: RecordEventsInput) -> int:
        """Write events idempotently (one transaction); returns how many were new (a retry finds them there)."""
        async with self._pool.acquire() as conn:
            inserted = await events_repo.record_events(conn, record)
        activity.logger.info(
            "events recorded",
            extra={
                "initiative_id": record.snapshot.initiative_id,
                "kinds": [e.kind.value for e in record.events],
                "new": inserted,
            },
        )
        return inserted
