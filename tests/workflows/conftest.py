"""Fixtures of the workflow tests: verified approvals, and the time-skipping server with a worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from worker.wiring import build_worker

#: The approval secret of the ``secured_queue`` worker.
SECRET = b"test-approval-secret"


@pytest_asyncio.fixture(loop_scope="session")
async def secured_queue(client: Client, pool: asyncpg.Pool) -> AsyncIterator[str]:
    """A worker that verifies approval tokens and start signatures with ``SECRET``, on a fresh queue."""
    queue = f"test-{uuid.uuid4()}"
    async with build_worker(client, pool, task_queue=queue, approval_secret=SECRET):
        yield queue


@pytest_asyncio.fixture(loop_scope="session")
async def ts(skipping_env: WorkflowEnvironment, pool: asyncpg.Pool) -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    """The time-skipping environment and a fresh task queue with a worker on it."""
    queue = f"ts-{uuid.uuid4()}"
    async with build_worker(skipping_env.client, pool, task_queue=queue):
        yield skipping_env, queue
