"""The asyncpg pool, created once per process with JSON codecs registered."""

from __future__ import annotations

import json
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

#: A single connection, whether acquired from a pool or opened on its own.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


#: Errors that mean the database cannot be reached right now (as opposed to a wrong query).
UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections encode and decode ``json``/``jsonb`` as Python objects."""
    # A connection attempt to a database that is down fails within ``timeout`` instead of hanging a request.
    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection, timeout=10)


async def connect(dsn: str) -> asyncpg.Connection:
    """A single connection with the same codecs (for migrations and scripts)."""
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


async def ping(pool: asyncpg.Pool) -> None:
    """Raise unless the database answers a trivial query."""
    await pool.fetchval("SELECT 1")
