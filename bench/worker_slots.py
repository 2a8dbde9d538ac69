"""The busiest a worker's task slots get while a bench runs, read from its Prometheus ``/metrics``.

A worker started with ``LIFTOFF_METRICS_ADDRESS`` serves the SDK's ``temporal_worker_task_slots_used`` gauge
per kind of task (workflow tasks, activities, local activities). Sampling it during a run shows whether
the concurrency limits (``LIFTOFF_MAX_CONCURRENT_*``, the SDK's 100 by default) ever bind.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import httpx

#: ``worker_type`` label values, as the table names them.
KINDS = {"WorkflowWorker": "workflow tasks", "ActivityWorker": "activities", "LocalActivityWorker": "local activities"}
_LINE = re.compile(r"^temporal_worker_task_slots_used\{(?P<labels>[^}]*)\}\s+(?P<value>[0-9.eE+-]+)$")
_TYPE = re.compile(r'worker_type="(?P<type>[^"]+)"')


def slots_used(text: str) -> dict[str, float]:
    """Slots in use per ``worker_type`` in one scrape."""
    used: dict[str, float] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        kind = _TYPE.search(match["labels"])
        if kind is not None:
            used[kind["type"]] = used.get(kind["type"], 0.0) + float(match["value"])
    return used


class SlotPeaks:
    """The highest number of slots in use seen per kind of task while sampling."""

    def __init__(self) -> None:
        self.peaks: dict[str, float] = {}
        self.samples = 0

    def add(self, used: dict[str, float]) -> None:
        """Fold one scrape in."""
        self.samples += 1
        for kind, value in used.items():
            self.peaks[kind] = max(self.peaks.get(kind, 0.0), value)

    def describe(self) -> str:
        """``workflow tasks / activities / local activities`` peaks, e.g. ``12 / 30 / 4``."""
        return " / ".join(f"{self.peaks.get(kind, 0):.0f}" for kind in KINDS)


@contextlib.asynccontextmanager
async def sampling(port: int, every: float = 0.2) -> AsyncIterator[SlotPeaks]:
    """Sample the worker at ``127.0.0.1:port`` until the block ends."""
    peaks = SlotPeaks()

    async def sample() -> None:
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    peaks.add(slots_used((await http.get(f"http://127.0.0.1:{port}/metrics")).text))
                await asyncio.sleep(every)

    task = asyncio.create_task(sample())
    try:
        yield peaks
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
