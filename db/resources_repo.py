"""The ledger of provisioned resources (``provisioned_resources``) for whichever provisioner made them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from db import rollups_repo
from db.queries import sql
from schemas.integrations import ProvisionInput, Resource


def resource_spec(inp: ProvisionInput) -> dict[str, object]:
    """What a resource was asked to be, as stored with it."""
    return {"gpu_type": inp.gpu_type, "gpu_count": inp.gpu_count, "storage_tb": inp.storage_tb}


def resource_expiry(inp: ProvisionInput) -> datetime | None:
    """When a resource with a time to live expires, counted from now."""
    return datetime.now(UTC) + timedelta(seconds=inp.ttl_seconds) if inp.ttl_seconds else None


async def record(pool: asyncpg.Pool, inp: ProvisionInput, resource: Resource) -> bool:
    """Record a provisioned resource, then bring the initiative's report rollups up to date with its cost.

    Returns False if the resource was known already (written by the built-in provisioner, or a retry); the
    rollups are refreshed either way, so whichever provisioner made it, its cost reaches the reports here.
    """
    async with pool.acquire() as conn, conn.transaction():
        await rollups_repo.lock_initiative(conn, inp.initiative_id)
        status = await conn.execute(
            sql("resource_record"),
            resource.ref,
            inp.idempotency_key,
            inp.initiative_id,
            resource.provider,
            inp.environment,
            resource.status,
            resource_spec(inp),
            resource.cost_usd,
            resource_expiry(inp),
        )
        await rollups_repo.refresh(conn, inp.initiative_id)
        return status.endswith(" 1")


async def mark_deprovisioned(pool: asyncpg.Pool, ref: str) -> bool:
    """Mark a recorded resource deprovisioned (its cost stays sunk); False if it was never recorded."""
    return await pool.fetchrow(sql("resource_deprovision"), ref) is not None


async def provisioned_usd(pool: asyncpg.Pool, initiative_id: str) -> float:
    """What the initiative's environments have cost so far, as their provisioners reported it."""
    value = await pool.fetchval(sql("resource_cost"), initiative_id)
    return float(value or 0)
