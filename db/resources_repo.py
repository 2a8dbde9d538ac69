"""The ledger of provisioned resources (``provisioned_resources``) for whichever provisioner made them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from db import rollups_repo
from db.queries import sql
from schemas.integrations import ProvisionInput, Resource


async def record(pool: asyncpg.Pool, inp: ProvisionInput, resource: Resource) -> bool:
    """Record a provisioned resource and its cost, with the initiative's report rollups; False if known already."""
    expires = datetime.now(UTC) + timedelta(seconds=inp.ttl_seconds) if inp.ttl_seconds else None
    spec = {"gpu_type": inp.gpu_type, "gpu_count": inp.gpu_count, "storage_tb": inp.storage_tb}
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
            spec,
            resource.cost_usd,
            expires,
        )
        inserted = status.endswith(" 1")
        if inserted:
            await rollups_repo.refresh(conn, inp.initiative_id)
        return inserted


async def mark_deprovisioned(pool: asyncpg.Pool, ref: str) -> bool:
    """Mark a recorded resource deprovisioned (its cost stays sunk); False if it was never recorded."""
    return await pool.fetchrow(sql("resource_deprovision"), ref) is not None
