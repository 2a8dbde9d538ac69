"""``record_events`` never loops on data the database refuses: it cleans text, or fails at once."""

from __future__ import annotations

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.events import EVENTS_REJECTED, EventActivities
from schemas.events import EventKind, RecordEventsInput
from schemas.stages import Stage
from tests.db.test_events_repo import event, new_id, snapshot


async def _stored(pool: asyncpg.Pool, initiative_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT detail, data, actor FROM lifecycle_events WHERE initiative_id = $1 ORDER BY seq", initiative_id
    )


async def test_text_the_database_refuses_is_recorded_cleaned(pool: asyncpg.Pool) -> None:
    iid = new_id()
    bad = event(iid, 1, EventKind.SUBMITTED, Stage.PROPOSED, data={"note\x00": "a\x00b", "x": "\ud800"})
    bad = bad.model_copy(update={"detail": "ok\x00", "actor": "eve\x00@example.com"})
    good = event(iid, 2, EventKind.STAGE_ENTERED, Stage.PROPOSED)
    inserted = await ActivityEnvironment().run(
        EventActivities(pool).record_events, RecordEventsInput(events=[bad, good], snapshot=snapshot(iid))
    )
    assert inserted.new == 2
    rows = await _stored(pool, iid)
    assert rows[0]["detail"] == "ok"
    assert rows[0]["actor"] == "eve@example.com"
    assert rows[0]["data"] == {"note": "ab", "x": "\ufffd", "storage_cleaned": True}
    assert "storage_cleaned" not in rows[1]["data"]


async def test_data_the_database_refuses_fails_without_retrying(pool: asyncpg.Pool) -> None:
    iid = new_id()
    bad = event(iid, 1, EventKind.SUBMITTED, Stage.PROPOSED, data={"spend": float("inf")})
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(
            EventActivities(pool).record_events, RecordEventsInput(events=[bad], snapshot=snapshot(iid))
        )
    assert info.value.type == EVENTS_REJECTED
    assert info.value.non_retryable
    assert iid in info.value.message
    assert "submitted" in info.value.message
    assert await _stored(pool, iid) == []
