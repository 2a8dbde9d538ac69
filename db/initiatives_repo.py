"""Reads the ``initiatives`` read model."""

from __future__ import annotations

import asyncpg

from db.pool import Conn
from db.queries import sql
from db.rows import InitiativeRow


async def get_initiative(conn: Conn | asyncpg.Pool, initiative_id: str) -> InitiativeRow | None:
    """One initiative's snapshot, or None."""
    row = await conn.fetchrow(sql("get_initiative"), initiative_id)
    return InitiativeRow.model_validate(dict(row)) if row else None


async def list_initiatives(
    conn: Conn | asyncpg.Pool,
    *,
    stage: str | None = None,
    status: str | None = None,
    team: str | None = None,
    stalled: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[InitiativeRow]:
    """Initiatives matching the filters, newest first."""
    rows = await conn.fetch(sql("list_initiatives"), stage, status, team, stalled, limit, offset)
    return [InitiativeRow.model_validate(dict(r)) for r in rows]
