"""Delegations people set for themselves (``delegations``), each change kept (``delegation_changes``)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from pydantic import BaseModel, ConfigDict

from db.pool import Conn
from db.queries import sql


class DelegationRow(BaseModel):
    """One person's own setting: a delegate until a time, or none (``delegate`` None: ended early)."""

    model_config = ConfigDict(frozen=True)

    delegator: str
    delegate: str | None
    roles: list[str]
    until: datetime | None
    set_at: datetime


async def put(
    conn: Conn | asyncpg.Pool, delegator: str, delegate: str | None, roles: list[str], until: datetime | None
) -> DelegationRow:
    """Set ``delegator``'s delegation (``delegate`` None ends it); the change is kept."""
    row = await conn.fetchrow(sql("delegation_put"), delegator, delegate, roles, until)
    assert row is not None  # an upsert returns its row
    return DelegationRow.model_validate(dict(row))


async def all_rows(conn: Conn | asyncpg.Pool) -> list[DelegationRow]:
    """Every person's own setting (one row each: the table stays small)."""
    rows = await conn.fetch(sql("delegations_all"))
    return [DelegationRow.model_validate(dict(r)) for r in rows]
