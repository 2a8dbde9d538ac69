"""Heartbeat every running activity, so a worker that died is noticed in seconds, not at the timeout.

Found with ``bench.chaos``: a worker killed while running ``provision`` (or a Temporal server killed
just as it finished) left the activity "started" until its 5-minute start-to-close timeout, and the
initiative waited that long. The workflows set a heartbeat timeout on every activity; this interceptor
sends the heartbeats while the activity runs, whatever the adapter does.

The first heartbeat goes out after ``every`` seconds, not at the start: the server's heartbeat clock starts
with the activity anyway, and most activities finish in milliseconds. A heartbeat at the start cost every
activity a server round trip and a write of its state, measured with ``bench.lifecycle``: about 20 of them
per initiative, the largest difference in the Temporal server's work between liftoff and its floor.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

#: Seconds between heartbeats; well under the workflows' heartbeat timeout (20 s).
EVERY_SECONDS = 5.0


class ActivityHeartbeatInterceptor(Interceptor):
    """Installs :class:`_Heartbeating` on every activity of the worker."""

    def __init__(self, every: float = EVERY_SECONDS, beat: Callable[[], None] = activity.heartbeat) -> None:
        self._every = every
        self._beat = beat

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:  # noqa: A002 - the SDK's name
        """Wrap the activity inbound chain."""
        return _Heartbeating(next, self._every, self._beat)


class _Heartbeating(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, every: float, beat: Callable[[], None]) -> None:  # noqa: A002 - the SDK's name
        super().__init__(next)
        self._every = every
        self._heartbeat = beat

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:  # noqa: A002, ANN401 - the SDK's signature
        if activity.info().heartbeat_timeout is None:
            return await super().execute_activity(input)
        beating = asyncio.create_task(self._beat())
        try:
            return await super().execute_activity(input)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            self._heartbeat()
