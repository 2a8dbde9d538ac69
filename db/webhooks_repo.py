"""Ticket webhook deliveries: each signed body is applied once."""

from __future__ import annotations

from db.pool import Conn
from db.queries import sql


async def seen(conn: Conn, digest: str) -> bool:
    """Whether a delivery with this body was applied before."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE digest = $1)", digest))


async def remember(conn: Conn, *, system: str, digest: str) -> None:
    """Record an applied delivery (and forget those older than a day, which are stale anyway)."""
    await conn.execute(sql("webhook_delivery"), digest, system)
