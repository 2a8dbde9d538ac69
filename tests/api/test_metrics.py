"""Prometheus metrics at LIFTOFF_METRICS_ADDRESS: the SDK's temporal_* and liftoff's own, moving with an initiative.

The worker caches no workflow, so every workflow task replays the whole history first: the counts
staying exact proves that replay does not count again.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
from temporalio.client import Client

from api.app import create_app
from api.context import ApiContext
from api.principals import Directory
from bench.chaos_procs import free_port
from schemas.policy import Policy
from tests.api.conftest import auth, submission
from tests.prometheus import sample_sum
from worker.heartbeat import heartbeat
from worker.telemetry import process_runtime
from worker.temporal_client import connect_client
from worker.wiring import WorkerTuning, build_worker


async def test_metrics_move_with_an_initiative_and_replay_does_not_count_twice(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> None:
    port = free_port()
    runtime = process_runtime(f"127.0.0.1:{port}")
    measured = await connect_client(client.service_client.config.target_host, runtime=runtime)
    queue = f"metrics-{uuid.uuid4()}"
    ctx = ApiContext(
        client=measured, pool=pool, directory=directory, policy=policy, task_queue=queue, ui_base_url="http://ui"
    )
    uncached = WorkerTuning(max_cached_workflows=0)
    async with (
        build_worker(measured, pool, task_queue=queue, tuning=uncached),
        heartbeat(pool, queue, interval=1.0),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ctx)), base_url="http://api") as api,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as scrape,
    ):
        created = await api.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))
        assert created.status_code == 201, created.text
        iid = created.json()["id"]
        before = (await scrape.get("/metrics")).text
        assert sample_sum(before, "liftoff_decisions_total", action="approve") == 0

        approved = await api.post(
            f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=auth("paula@example.com")
        )
        assert approved.status_code == 200, approved.text
        refused = await api.post(
            f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=auth("paula@example.com")
        )
        assert refused.status_code == 409
        results = await api.post(
            f"/v1/initiatives/{iid}/submit-poc-results",
            json={"metrics": {"f1": 0.95}},
            headers=auth("alice@example.com"),
        )
        assert results.status_code == 200, results.text
        await asyncio.sleep(0.5)  # the sandbox's provisioning activity runs after the update returns
        after = (await scrape.get("/metrics")).text

    assert sample_sum(after, "liftoff_decisions_total", action="approve", role="portfolio") == 1
    assert sample_sum(after, "liftoff_decisions_total", action="submit_poc_results", role="team") == 1
    assert sample_sum(after, "liftoff_refusals_total", action="approve", role="portfolio") == 1
    assert sample_sum(after, "liftoff_stage_transitions_total", stage="poc") == 1
    assert sample_sum(after, "liftoff_stage_transitions_total", stage="proposed") == 1
    assert sample_sum(after, "liftoff_adapter_calls_total", system="builtin", operation="provision") >= 1
    assert sample_sum(after, "liftoff_adapter_failures_total") == 0
    route = "/v1/initiatives/{initiative_id}/approve"
    assert sample_sum(after, "liftoff_http_requests_total", route=route, status="200") == 1
    assert sample_sum(after, "liftoff_http_requests_total", route=route, status="409") == 1
    assert sample_sum(after, "liftoff_http_request_seconds_count", route=route) == 2
    # the SDK's own: activities run (events are recorded by local activities), workflow tasks replayed, the
    # (empty) sticky cache
    assert sample_sum(after, "temporal_activity_execution_latency_count", task_queue=queue) >= 1
    assert sample_sum(after, "temporal_local_activity_execution_latency_count", task_queue=queue) >= 2
    assert sample_sum(after, "temporal_workflow_task_replay_latency_count") >= 1  # nothing cached: tasks replayed
    assert sample_sum(after, "temporal_sticky_cache_size") == 0
