"""Keeps the report rollups (migration 0005) equal to the rows they summarise.

Each rollup row is a pure function of one initiative's rows, written down as a view; writers call
:func:`refresh` in the transaction that changed those rows, after the initiative's row is locked, so two
writers of one initiative take turns and the second sees what the first committed.
"""

from __future__ import annotations

from db.pool import Conn
from db.queries import sql


async def refresh(conn: Conn, initiative_id: str) -> None:
    """Recompute the rollup rows of one initiative from its current rows."""
    await conn.execute(sql("refresh_report_rollups"), initiative_id)


async def lock_initiative(conn: Conn, initiative_id: str) -> bool:
    """Lock an initiative's row until the transaction ends; False if it has no row yet."""
    return await conn.fetchval(sql("lock_initiative"), initiative_id) is not None


async def rebuild(conn: Conn) -> None:
    """Recompute every rollup row (after rows were loaded around the repositories, e.g. by COPY)."""
    await conn.execute(sql("rebuild_report_rollups"))
