"""Reads the ``initiatives`` read model."""

from __future__ import annotations

import asyncpg

from db.pool import Conn
from db.queries import sql
from db.rows import InitiativeRow, QueueRow


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
    awaiting_role: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[InitiativeRow]:
    """Initiatives matching the filters, newest first."""
    rows = await conn.fetch(sql("list_initiatives"), stage, status, team, stalled, limit, offset, awaiting_role)
    return [InitiativeRow.model_validate(dict(r)) for r in rows]


async def queue_for(
    conn: Conn | asyncpg.Pool, *, email: str, roles: list[str], teams: list[str], limit: int = 200
) -> list[QueueRow]:
    """What ``email`` (holding ``roles``, acting for ``teams``) can act on now, soonest due first."""
    rows = await conn.fetch(sql("approver_queue"), email, roles, teams, limit)
    return [QueueRow.model_validate(dict(r)) for r in rows]
