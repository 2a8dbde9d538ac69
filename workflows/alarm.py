"""One durable timer for the next deadline, moved only when a deadline comes earlier.

Each Temporal timer is a billable action and three history events (started, fired or cancelled, and the
workflow task around them). Waiting with a timeout starts a timer per wait and cancels it when a decision
arrives first; the alarm instead keeps its timer while the next deadline is no earlier than it. When it
rings early (a deadline moved later), the workflow finds nothing due and sets it again: never more
timers than one per wait, and in the common case (decisions well before their SLA) one per stage or fewer.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow


class Alarm:
    """A timer the workflow sets for a moment and waits on beside its other conditions."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._at: datetime | None = None

    def set(self, at: datetime, summary: str) -> None:
        """Ring no later than ``at``: keep the timer running if it rings first, else start one for ``at``."""
        if self._task is not None and not self._task.done():
            if self._at is not None and self._at <= at:
                return
            self._task.cancel()
        self._at = at
        self._task = asyncio.ensure_future(
            workflow.sleep(max(at - workflow.now(), timedelta(milliseconds=1)), summary=summary)
        )

    @property
    def rang(self) -> bool:
        """Whether the timer fired (and has not been acknowledged)."""
        return self._task is not None and self._task.done() and not self._task.cancelled()

    def acknowledge(self) -> None:
        """Forget a timer that fired; the next ``set`` starts a new one."""
        if self.rang:
            self._task = None
            self._at = None
