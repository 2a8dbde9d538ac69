"""Migrations on brand-new databases inside the session's PostgreSQL server."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import pytest_asyncio

from bench.reports_data import load_portfolio
from db import reports_repo
from db.migrate import available_migrations, migrate
from db.pool import connect
from schemas.reports import ReportFilters
from tests.db.test_report_rollups import assert_close, assert_rollups_match_sources
from worker.cli import _run_migrate
from worker.dev import apply_migrations
from worker.settings import Settings

EXPECTED_TABLES = {
    "initiatives",
    "lifecycle_events",
    "stage_intervals",
    "tickets",
    "provisioned_resources",
    "report_initiative_facts",
    "report_stall_episodes",
    "report_stage_visits",
    "report_stage_visit_days",
    "report_portfolio_facts",
    "schema_migrations",
    "worker_heartbeats",
    "webhook_deliveries",
    "notices",
    "notification_deliveries",
    "delegations",
    "delegation_changes",
    "report_cohort_counts",
    "report_cohort_production_days",
    "report_stall_months",
    "report_team_cohort_counts",
    "report_team_cohort_production_days",
    "report_team_stall_months",
    "imports",
    "import_lines",
}


def dsn_for_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at another database of the same server (the host query parameter is kept)."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


@pytest_asyncio.fixture
async def fresh_dsn(postgres_dsn: str) -> AsyncIterator[str]:
    """An empty database created for one test and dropped after it."""
    name = f"mig_{uuid.uuid4().hex[:16]}"
    admin: asyncpg.Connection = await asyncpg.connect(postgres_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield dsn_for_database(postgres_dsn, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        gone = await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name)
        assert gone == 0, f"database {name} should have been dropped"
    finally:
        await admin.close()


async def public_tables(dsn: str) -> set[str]:
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
    finally:
        await conn.close()
    return {row["table_name"] for row in rows}


async def recorded_versions(dsn: str) -> list[int]:
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    return [row["version"] for row in rows]


def test_dsn_for_database_replaces_only_the_database_name() -> None:
    dsn = "postgresql://postgres:@/postgres?host=/tmp/pg%20dir"
    assert dsn_for_database(dsn, "mig_x") == "postgresql://postgres:@/mig_x?host=/tmp/pg%20dir"


async def test_fresh_database_starts_empty(fresh_dsn: str) -> None:
    assert await public_tables(fresh_dsn) == set()


async def test_migrate_creates_exactly_the_schema_tables(fresh_dsn: str) -> None:
    applied = await apply_migrations(fresh_dsn)

    assert applied == [m.name for m in available_migrations()]
    assert applied[0] == "0001_initial.sql"
    assert await public_tables(fresh_dsn) == EXPECTED_TABLES
    assert await recorded_versions(fresh_dsn) == [m.version for m in available_migrations()]


async def test_second_run_applies_nothing(fresh_dsn: str) -> None:
    first = await apply_migrations(fresh_dsn)
    conn = await connect(fresh_dsn)
    try:
        second = await migrate(conn)
    finally:
        await conn.close()

    assert first == [m.name for m in available_migrations()]
    assert second == []
    assert await public_tables(fresh_dsn) == EXPECTED_TABLES
    assert await recorded_versions(fresh_dsn) == [m.version for m in available_migrations()]


async def test_concurrent_runs_apply_each_migration_once(fresh_dsn: str) -> None:
    results = await asyncio.gather(apply_migrations(fresh_dsn), apply_migrations(fresh_dsn))

    applied = Counter(name for result in results for name in result)
    assert applied == Counter({m.name: 1 for m in available_migrations()})
    assert await recorded_versions(fresh_dsn) == [m.version for m in available_migrations()]
    assert await public_tables(fresh_dsn) == EXPECTED_TABLES


async def test_advisory_lock_is_released_after_migrating(fresh_dsn: str) -> None:
    await apply_migrations(fresh_dsn)
    conn: asyncpg.Connection = await asyncpg.connect(fresh_dsn)
    try:
        held = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    finally:
        await conn.close()
    assert held == 0


async def migrate_before(dsn: str, hold_back: int) -> list[str]:
    """Apply the migrations older than ``hold_back`` as ``db.migrate`` does: a database of an older installation."""
    conn = await connect(dsn)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        applied = []
        for m in available_migrations():
            if m.version < hold_back:
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name
                    )
                applied.append(m.name)
        return applied
    finally:
        await conn.close()


async def load(dsn: str, *, initiatives: int, seed: int) -> None:
    """The benchmark's synthetic portfolio, loaded by COPY (binary: a plain connection, no JSON codecs)."""
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    try:
        await load_portfolio(conn, initiatives=initiatives, events=initiatives * 10, seed=seed, progress=print)
    finally:
        await conn.close()


async def test_the_rollups_migration_backfills_what_was_recorded_before_it(fresh_dsn: str) -> None:
    # a portfolio loaded under migrations 0001-0004, as an existing installation holds it
    before = await migrate_before(fresh_dsn, 5)
    assert before[-1] == "0004_report_performance.sql"
    await load(fresh_dsn, initiatives=300, seed=3)
    conn = await connect(fresh_dsn)
    try:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM initiatives")]

        assert (await apply_migrations(fresh_dsn))[0] == "0005_report_rollups.sql"

        counts = await assert_rollups_match_sources(conn, ids)
        assert counts["report_initiative_facts"] == 300
        assert counts["report_stall_episodes"] > 0
        whole = (await reports_repo.time_in_stage(conn, ReportFilters())).model_dump(mode="json")
        scanned = (
            await reports_repo.time_in_stage(conn, ReportFilters(since=datetime(1970, 1, 1, tzinfo=UTC)))
        ).model_dump(mode="json")
        assert_close(whole, scanned)
    finally:
        await conn.close()


async def test_migrate_rebuild_rollups_recomputes_them_from_the_log(
    fresh_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await apply_migrations(fresh_dsn)
    # COPY goes around the repositories; the loader rebuilds, so empty the rollups again to stand for it
    await load(fresh_dsn, initiatives=200, seed=5)
    conn = await connect(fresh_dsn)
    try:
        await conn.execute(
            "TRUNCATE report_initiative_facts, report_portfolio_facts, report_stall_episodes, report_stage_visits,"
            " report_stage_visit_days"
        )
        funnel = (await reports_repo.funnel(conn, ReportFilters())).model_dump(mode="json")
        assert funnel["total"] == 0

        assert await _run_migrate(Settings(database_url=fresh_dsn), rebuild_rollups=True) == 0

        assert "report rollups rebuilt for 200 initiatives" in capsys.readouterr().out
        assert (await reports_repo.funnel(conn, ReportFilters())).model_dump(mode="json")["total"] == 200
        await assert_rollups_match_sources(conn, [r["id"] for r in await conn.fetch("SELECT id FROM initiatives")])
    finally:
        await conn.close()
