"""The worker heartbeats running activities: a slow activity lives, a dead worker's activity is retried soon."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, TimeoutError, TimeoutType  # noqa: A004 - Temporal's timeout failure
from temporalio.worker import Worker

from worker.activity_heartbeat import ActivityHeartbeatInterceptor


@activity.defn
async def slow_step(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"


@workflow.defn(sandboxed=False)
class SlowStepWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        result: str = await workflow.execute_activity(
            slow_step,
            seconds,
            start_to_close_timeout=timedelta(minutes=1),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        return result


async def _run(client: Client, *, heartbeats: bool, seconds: float = 2.5, sent: list[str] | None = None) -> str:
    queue = f"beat-{uuid.uuid4()}"

    def beat() -> None:  # the real heartbeat, counted
        activity.heartbeat()
        if sent is not None:
            sent.append(activity.info().activity_id)

    interceptors = [ActivityHeartbeatInterceptor(every=0.2, beat=beat)] if heartbeats else []
    async with Worker(
        client, task_queue=queue, workflows=[SlowStepWorkflow], activities=[slow_step], interceptors=interceptors
    ):
        result: str = await client.execute_workflow(SlowStepWorkflow.run, seconds, id=queue, task_queue=queue)
    return result


async def test_a_slow_activity_outlives_its_heartbeat_timeout(client: Client) -> None:
    sent: list[str] = []
    assert await _run(client, heartbeats=True, sent=sent) == "done"
    assert len(sent) >= 5  # every 0.2 s for 2.5 s


async def test_an_activity_done_before_the_first_interval_sends_no_heartbeat(client: Client) -> None:
    sent: list[str] = []
    assert await _run(client, heartbeats=True, seconds=0.01, sent=sent) == "done"
    assert sent == []


async def test_without_heartbeats_it_would_time_out(client: Client) -> None:
    with pytest.raises(WorkflowFailureError) as info:
        await _run(client, heartbeats=False)
    failure = info.value.cause
    assert isinstance(failure, ActivityError)
    timeout = failure.cause
    assert isinstance(timeout, TimeoutError)
    assert timeout.type is TimeoutType.HEARTBEAT
