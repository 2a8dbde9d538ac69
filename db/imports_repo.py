"""Imports of existing initiatives (``imports``, ``import_lines``): what each line became, and the runner's claims."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict

from db.pool import Conn
from db.queries import sql


class LineRecord(BaseModel):
    """A line as the API checked it: valid (``body`` and ``initiative_id`` set) or not (``error``)."""

    model_config = ConfigDict(frozen=True)

    line: int
    initiative_id: str | None = None
    body: dict[str, Any] | None = None
    error: str | None = None


class ClaimedLine(BaseModel):
    """A line the runner is to start now."""

    model_config = ConfigDict(frozen=True)

    import_id: str
    line: int
    initiative_id: str
    body: dict[str, Any]
    attempts: int


class LineError(BaseModel):
    """A line that was not started, and why."""

    model_config = ConfigDict(frozen=True)

    line: int
    outcome: str
    error: str


class ImportProgress(BaseModel):
    """An import and how far it has come."""

    model_config = ConfigDict(frozen=True)

    id: str
    created_by: str
    created_at: datetime
    lines: int
    finished_at: datetime | None
    waiting: int
    started: int
    existed: int
    invalid: int
    failed: int


async def create(conn: Conn | asyncpg.Pool, import_id: str, created_by: str, lines: Sequence[LineRecord]) -> None:
    """Record an import and its checked lines (valid ones wait to be started), in one transaction."""
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as one:
            await create(one, import_id, created_by, lines)
            return
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO imports (id, created_by, lines) VALUES ($1, $2, $3)", import_id, created_by, len(lines)
        )
        await conn.execute(
            "INSERT INTO import_lines (import_id, line, initiative_id, outcome, error, body)"
            " SELECT $1, l.line, l.initiative_id, CASE WHEN l.error IS NULL THEN 'pending' ELSE 'invalid' END,"
            " l.error, l.body::jsonb"
            " FROM unnest($2::int[], $3::text[], $4::text[], $5::text[]) AS l (line, initiative_id, error, body)",
            import_id,
            [r.line for r in lines],
            [r.initiative_id for r in lines],
            [r.error for r in lines],
            [json.dumps(r.body) if r.body is not None else None for r in lines],
        )
        if not any(r.error is None for r in lines):
            await conn.execute("UPDATE imports SET finished_at = now() WHERE id = $1", import_id)


async def claim(conn: Conn | asyncpg.Pool, limit: int, stale_after_seconds: float) -> list[ClaimedLine]:
    """Up to ``limit`` lines to start now, in file order (pending, or claimed by a process that stopped)."""
    rows = await conn.fetch(sql("import_claim"), limit, stale_after_seconds)
    return [ClaimedLine.model_validate(dict(r)) for r in sorted(rows, key=lambda r: (r["import_id"], r["line"]))]


async def settle(conn: Conn | asyncpg.Pool, import_id: str, line: int, outcome: str, error: str | None = None) -> None:
    """Record what a claimed line became: started, existed, failed (with ``error``), or pending again."""
    await conn.execute(
        "UPDATE import_lines SET outcome = $3, error = $4, claimed_at = NULL WHERE import_id = $1 AND line = $2",
        import_id,
        line,
        outcome,
        error,
    )


async def finish(conn: Conn | asyncpg.Pool, import_ids: Sequence[str]) -> list[str]:
    """Mark these imports finished if none of their lines waits any more; returns those that just finished."""
    rows = await conn.fetch(sql("import_finish"), list(import_ids))
    return [r["id"] for r in rows]


async def unrestored(conn: Conn | asyncpg.Pool, limit: int) -> list[tuple[str, int, str]]:
    """Started initiatives of finished imports still at the import's priority: (import id, line, initiative)."""
    rows = await conn.fetch(
        "SELECT l.import_id, l.line, l.initiative_id FROM import_lines l JOIN imports i ON i.id = l.import_id"
        " WHERE i.finished_at IS NOT NULL AND l.outcome = 'started' AND l.restored_at IS NULL"
        " ORDER BY l.import_id, l.line LIMIT $1",
        limit,
    )
    return [(r["import_id"], r["line"], r["initiative_id"]) for r in rows]


async def restored(conn: Conn | asyncpg.Pool, import_id: str, lines: Sequence[int]) -> None:
    """Record that these lines' initiatives have the default priority again."""
    await conn.execute(
        "UPDATE import_lines SET restored_at = now() WHERE import_id = $1 AND line = ANY($2::int[])",
        import_id,
        list(lines),
    )


async def progress(conn: Conn | asyncpg.Pool, import_id: str) -> ImportProgress | None:
    """The import's counts, or None if there is no such import."""
    row = await conn.fetchrow(sql("import_progress"), import_id)
    return ImportProgress.model_validate(dict(row)) if row is not None else None


async def errors(conn: Conn | asyncpg.Pool, import_id: str, limit: int) -> list[LineError]:
    """The first ``limit`` lines that were not started, with why (invalid or failed), in file order."""
    rows = await conn.fetch(
        "SELECT line, outcome, error FROM import_lines"
        " WHERE import_id = $1 AND outcome IN ('invalid', 'failed') ORDER BY line LIMIT $2",
        import_id,
        limit,
    )
    return [LineError.model_validate(dict(r)) for r in rows]


async def existing(conn: Conn | asyncpg.Pool, initiative_ids: Sequence[str]) -> set[str]:
    """Which of these initiatives liftoff already has."""
    rows = await conn.fetch("SELECT id FROM initiatives WHERE id = ANY($1::text[])", list(initiative_ids))
    return {r["id"] for r in rows}
