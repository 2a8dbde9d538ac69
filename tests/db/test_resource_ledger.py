"""Every provisioner's resources reach ``provisioned_resources`` through the provision activity, with their cost."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest_asyncio
from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from activities.adapters.kubernetes import KubernetesConfig, KubernetesProvisioner
from activities.provisioning import ProvisioningActivities
from db import reports_repo
from schemas.integrations import DeprovisionInput, ProvisionInput
from schemas.reports import ReportFilters
from schemas.stages import InitiativeStatus, Stage
from schemas.taxonomy import ReasonCode
from tests.db.test_events_repo import T0
from tests.db.test_report_rollups import assert_rollups_match_sources, record
from tests.db.test_reports import _start
from tests.fakes.kubernetes import create_fake_kubernetes
from tests.fakes.server import serve

TOKEN = "ledger-kube-token"
DAY = timedelta(days=1)


@pytest_asyncio.fixture(loop_scope="session")
async def kubernetes() -> AsyncIterator[KubernetesProvisioner]:
    app, _ = create_fake_kubernetes(token=TOKEN, gpu_capacity=8)
    async with serve(app) as url:
        provisioner = KubernetesProvisioner(KubernetesConfig(api_url=url, token=SecretStr(TOKEN), timeout_seconds=2))
        try:
            yield provisioner
        finally:
            await provisioner.aclose()


async def test_a_kubernetes_sandbox_is_recorded_once_and_counts_as_sunk_cost(
    pool: asyncpg.Pool, kubernetes: KubernetesProvisioner
) -> None:
    team = f"team-{uuid.uuid4().hex[:8]}"
    walk = _start(f"kube-{uuid.uuid4().hex[:8]}", T0)
    walk.wait(DAY).advance(Stage.POC).wait(DAY).scrap(ReasonCode.PLATFORM_MISALIGNED)
    activities = ProvisioningActivities(kubernetes, ledger=pool)
    sandbox = ProvisionInput(
        initiative_id=walk.iid,
        idempotency_key=f"initiative-{walk.iid}/7",
        environment="sandbox",
        gpu_type="L4",
        gpu_count=1,
        storage_tb=1,
        budget_usd=4200.5,
        ttl_seconds=3600,
    )
    async with pool.acquire() as conn:
        await record(conn, walk, slice(0, 4), team=team, status=InitiativeStatus.ACTIVE)

    env = ActivityEnvironment()
    resource = await env.run(activities.provision, sandbox)
    # a retried activity provisions the same namespace and records nothing more
    assert await env.run(activities.provision, sandbox) == resource
    async with pool.acquire() as conn:
        await record(conn, walk, slice(4, None), team=team, status=InitiativeStatus.SCRAPPED)
    await env.run(activities.deprovision, DeprovisionInput(ref=resource.ref, reason="scrapped"))

    rows = await pool.fetch(
        "SELECT ref, provider, environment, status, cost_usd, deprovisioned_at IS NOT NULL AS gone"
        " FROM provisioned_resources WHERE initiative_id = $1",
        walk.iid,
    )
    assert [dict(r) for r in rows] == [
        {
            "ref": resource.ref,
            "provider": "kubernetes",
            "environment": "sandbox",
            "status": "deprovisioned",
            "cost_usd": 4200.5,
            "gone": True,
        }
    ]
    [sunk] = (await reports_repo.sunk_cost(pool, ReportFilters(team=team))).model_dump(mode="json")["rows"]
    assert (sunk["code"], sunk["stage"], sunk["provisioning_usd"]) == ("PLATFORM_MISALIGNED", "poc", 4200.5)
    await assert_rollups_match_sources(pool, [walk.iid])
