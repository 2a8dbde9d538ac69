"""Stall reasons and durations are countable in SQL: the numbers the reporting issue builds on."""

from __future__ import annotations

from datetime import timedelta

from db import events_repo
from schemas.events import EventKind, RecordEventsInput
from schemas.stages import Stage
from schemas.taxonomy import ReasonCode
from tests.db.test_events_repo import T0, Connection, conn, event, new_id, snapshot, submit

__all__ = ["conn"]  # the fixture, re-used from the repository tests

HOUR = timedelta(hours=1)

STALLS_BY_REASON = """
SELECT e.reason_family, e.reason_code, e.stage, count(*) AS stalls, count(DISTINCT e.initiative_id) AS initiatives
FROM lifecycle_events e
WHERE e.kind = 'stalled' AND e.initiative_id = ANY($1::text[])
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""

STALLED_TIME_BY_STAGE = """
SELECT stage, sum(stalls) AS stalls, sum(stalled_seconds) AS stalled_seconds
FROM stage_intervals
WHERE initiative_id = ANY($1::text[])
GROUP BY stage
ORDER BY stage
"""


def _batch(iid: str, *, abandon: bool) -> RecordEventsInput:
    """proposed -> poc; stall (APPROVAL_PENDING) cleared after 1 h; stall again (POC_RESULTS_MISSING)."""
    seq = 1
    steps: list[tuple[EventKind, Stage, timedelta, ReasonCode | None, dict[str, object]]] = [
        (EventKind.STAGE_ENTERED, Stage.PROPOSED, timedelta(), None, {}),
        (EventKind.STALLED, Stage.PROPOSED, 14 * 24 * HOUR, ReasonCode.APPROVAL_PENDING, {"roles": ["portfolio"]}),
        (
            EventKind.STALL_CLEARED,
            Stage.PROPOSED,
            14 * 24 * HOUR + HOUR,
            ReasonCode.APPROVAL_PENDING,
            {"stalled_seconds": 3600.0},
        ),
        (EventKind.STAGE_LEFT, Stage.PROPOSED, 14 * 24 * HOUR + HOUR, None, {"outcome": "advanced"}),
        (EventKind.STAGE_ENTERED, Stage.POC, 14 * 24 * HOUR + HOUR, None, {}),
        (EventKind.STALLED, Stage.POC, 104 * 24 * HOUR, ReasonCode.POC_RESULTS_MISSING, {}),
    ]
    if abandon:
        steps.append(
            (
                EventKind.SCRAPPED,
                Stage.POC,
                194 * 24 * HOUR,
                ReasonCode.ABANDONED,
                {"stalled_seconds": 90 * 24 * 3600.0},
            )
        )
    events = []
    for kind, stage, offset, reason, data in steps:
        seq += 1
        events.append(event(iid, seq, kind, stage, at=T0 + offset, reason_code=reason, data=data))
    return RecordEventsInput(events=events, snapshot=snapshot(iid, stage=Stage.POC))


async def _walk(conn: Connection, iid: str, *, abandon: bool) -> None:
    await submit(conn, iid)
    assert await events_repo.record_events(conn, _batch(iid, abandon=abandon)) == (7 if abandon else 6)


async def test_stalls_count_by_family_code_and_stage(conn: Connection) -> None:
    abandoned, still_stalled = new_id(), new_id()
    await _walk(conn, abandoned, abandon=True)
    await _walk(conn, still_stalled, abandon=False)

    rows = [tuple(r) for r in await conn.fetch(STALLS_BY_REASON, [abandoned, still_stalled])]
    assert rows == [
        ("ORGANISATION", "APPROVAL_PENDING", "proposed", 2, 2),
        ("TECHNICAL", "POC_RESULTS_MISSING", "poc", 2, 2),
    ]
    by_stage = {
        r["stage"]: (r["stalls"], r["stalled_seconds"])
        for r in await conn.fetch(STALLED_TIME_BY_STAGE, [abandoned, still_stalled])
    }
    # proposed: two cleared stalls of 1 h; poc: one abandoned after 90 d, one still open (not yet counted)
    assert by_stage["proposed"] == (2, 7200.0)
    assert by_stage["poc"] == (2, 90 * 24 * 3600.0)
    scrap = await conn.fetchrow(
        "SELECT reason_code, reason_family, stage FROM lifecycle_events WHERE initiative_id=$1 AND kind='scrapped'",
        abandoned,
    )
    assert scrap is not None
    assert tuple(scrap) == ("ABANDONED", "ORGANISATION", "poc")


async def test_recording_a_batch_twice_counts_once(conn: Connection) -> None:
    iid = new_id()
    await _walk(conn, iid, abandon=True)
    before = await conn.fetchval("SELECT count(*) FROM lifecycle_events WHERE initiative_id=$1", iid)
    # a retried activity: the same events, with the same ids, recorded again
    assert await events_repo.record_events(conn, _batch(iid, abandon=True)) == 0
    after = await conn.fetchval("SELECT count(*) FROM lifecycle_events WHERE initiative_id=$1", iid)
    assert after == before
    stalls = await conn.fetchval("SELECT sum(stalls) FROM stage_intervals WHERE initiative_id=$1", iid)
    seconds = await conn.fetchval("SELECT sum(stalled_seconds) FROM stage_intervals WHERE initiative_id=$1", iid)
    assert (stalls, seconds) == (2, 3600.0 + 90 * 24 * 3600.0)
