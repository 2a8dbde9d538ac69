"""Time in stage over windows of submission time, read from monthly counters, equals the count of every visit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from db import reports_repo
from db.pool import Conn, connect
from db.queries import sql
from schemas.reports import ReportFilters
from tests.db.test_migrations import fresh_dsn, load
from tests.db.test_report_rollups import assert_close
from worker.dev import apply_migrations

__all__ = ["fresh_dsn"]  # the fixture, re-used from the migration tests


async def scanned(conn: Conn, f: ReportFilters) -> list[dict[str, Any]]:
    """The report as computed from every visit in scope (the query used when a team or unit is named)."""
    async with conn.transaction():
        await conn.execute(sql("report_settings"))
        records = await conn.fetch(sql("report_time_in_stage"), f.since, f.until, f.team, f.business_unit)
    return [dict(r) for r in records]


async def test_windows_of_submission_time_match_the_scan_of_every_visit(fresh_dsn: str) -> None:
    await apply_migrations(fresh_dsn)
    # two years of submissions: windows cover whole months, partial months at either end, or neither
    await load(fresh_dsn, initiatives=600, seed=11)
    conn = await connect(fresh_dsn)
    try:
        newest = await conn.fetchval("SELECT max(submitted_at) FROM initiatives")
        mid_month = datetime(newest.year, newest.month, 1, tzinfo=UTC) - timedelta(days=200, hours=7)
        month_start = datetime(mid_month.year, mid_month.month, 1, tzinfo=UTC)
        windows = {
            "whole portfolio": ReportFilters(),
            "since, mid-month": ReportFilters(since=mid_month),
            "since, a month's start": ReportFilters(since=month_start),
            "until, mid-month": ReportFilters(until=mid_month),
            "both, months apart": ReportFilters(since=mid_month - timedelta(days=150), until=mid_month),
            "both, within one month": ReportFilters(since=month_start + timedelta(days=3), until=mid_month),
            "empty": ReportFilters(since=newest + timedelta(days=1)),
        }
        for label, f in windows.items():
            rows = (await reports_repo.time_in_stage(conn, f)).model_dump(mode="json")["rows"]
            expected = await scanned(conn, f)
            assert_close(rows, expected, label)
            # the same visits picked: percentiles and maxima to the last bit
            for got, want in zip(rows, expected, strict=True):
                for key in ("completed_visits", "p50_seconds", "p90_seconds", "max_seconds", "open_visits"):
                    assert got[key] == want[key], (label, got["stage"], key)
        # not vacuous: the windows hold different numbers of visits, some of them none
        sizes = {label: sum(r["completed_visits"] for r in await scanned(conn, f)) for label, f in windows.items()}
        assert sizes["whole portfolio"] > sizes["since, a month's start"] > sizes["since, mid-month"] > 0
        assert sizes["both, within one month"] > 0
        assert sizes["empty"] == 0
    finally:
        await conn.close()


async def test_a_team_or_business_unit_is_counted_from_its_visits(fresh_dsn: str) -> None:
    await apply_migrations(fresh_dsn)
    await load(fresh_dsn, initiatives=50, seed=2)
    conn = await connect(fresh_dsn)
    try:
        some = await conn.fetchrow("SELECT team, business_unit FROM initiatives LIMIT 1")
        assert some is not None
        team, unit = some["team"], some["business_unit"]
        # the counters know no teams: emptied, they change the window's answer but not a team's or a unit's
        await conn.execute("TRUNCATE report_stage_visit_days")

        def visits(rows: list[dict[str, Any]]) -> int:
            return sum(r["completed_visits"] + r["open_visits"] for r in rows)

        assert visits((await reports_repo.time_in_stage(conn, ReportFilters())).model_dump(mode="json")["rows"]) == 0
        for f in (ReportFilters(team=team), ReportFilters(business_unit=unit)):
            rows = (await reports_repo.time_in_stage(conn, f)).model_dump(mode="json")["rows"]
            assert rows == await scanned(conn, f)
            assert visits(rows) > 0
    finally:
        await conn.close()
