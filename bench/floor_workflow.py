"""The raw floor of ``bench.lifecycle``: the happy path's shape with nothing of liftoff in it.

``FloorWorkflow`` takes the same updates as the happy path and makes the same number of activity
calls at the same points (taken from a real run's history), but every activity is a no-op and there
are no validators, database writes, search attributes or current details. A ``FloorChildWorkflow``
stands in for the rollout child. Deterministic, no I/O imports: it runs in the workflow sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow

FLOOR_WORKFLOW = "FloorWorkflow"
FLOOR_CHILD_WORKFLOW = "FloorChildWorkflow"
NOOP_ACTIVITY = "floor_noop"
TIMEOUT = timedelta(seconds=30)


#: In a plan, one activity call: ``a`` a regular activity, ``l`` a local activity.
REGULAR, LOCAL = "a", "l"


@dataclass
class FloorPlan:
    """Where the real workflow called its activities, read from one happy-path history.

    Each part is a string of calls in order (``a`` regular, ``l`` local). ``head``: before the first update
    is accepted. ``during[i]``: while update ``i`` is in flight (its answer waits for them). ``after[i]``:
    after update ``i`` answered, before the next one (for the last update: before the child starts).
    ``child``: activities of the child workflow. ``tail``: after the child completed.
    """

    head: str = ""
    during: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    child: int = 0
    tail: str = ""

    @property
    def parent_calls(self) -> str:
        """Every call the parent makes, in order."""
        return self.head + "".join(self.during) + "".join(self.after) + self.tail

    @property
    def parent_activities(self) -> int:
        """Activity calls (regular and local) the parent makes."""
        return len(self.parent_calls)


@activity.defn(name=NOOP_ACTIVITY)
async def floor_noop(seq: int) -> int:
    """Does nothing; returns its argument so the result has a payload like the real ones."""
    return seq


async def _noop(seq: int, kind: str = REGULAR) -> None:
    if kind == LOCAL:
        await workflow.execute_local_activity(NOOP_ACTIVITY, seq, result_type=int, start_to_close_timeout=TIMEOUT)
    else:
        await workflow.execute_activity(NOOP_ACTIVITY, seq, result_type=int, start_to_close_timeout=TIMEOUT)


@workflow.defn(name=FLOOR_CHILD_WORKFLOW)
class FloorChildWorkflow:
    """Stands in for the rollout: ``count`` no-op activities in sequence."""

    @workflow.run
    async def run(self, count: int) -> int:
        """Call the no-op activity ``count`` times."""
        for seq in range(count):
            await _noop(seq)
        return count


@workflow.defn(name=FLOOR_WORKFLOW)
class FloorWorkflow:
    """Updates record an event; ``run`` calls a no-op activity per planned event and answers them."""

    def __init__(self) -> None:
        self._received = 0
        self._settled = 0
        self._seq = 0

    async def _calls(self, kinds: str) -> None:
        for kind in kinds:
            self._seq += 1
            await _noop(self._seq, kind)

    @workflow.run
    async def run(self, plan: FloorPlan) -> int:
        """Walk the plan: each update waits for its planned activities, then the child, then the tail."""
        await self._calls(plan.head)
        for index, during in enumerate(plan.during):
            await self._received_more_than(index)
            await self._calls(during)
            self._settled = index + 1
            await self._calls(plan.after[index])
        await workflow.execute_child_workflow(
            FLOOR_CHILD_WORKFLOW, plan.child, id=f"{workflow.info().workflow_id}-child", result_type=int
        )
        await self._calls(plan.tail)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._seq

    async def _received_more_than(self, count: int) -> None:
        await workflow.wait_condition(lambda: self._received > count)

    async def _record(self) -> int:
        index = self._received
        self._received += 1
        await workflow.wait_condition(lambda: self._settled > index)
        return index

    @workflow.update
    async def approve(self, decision: str) -> int:
        """Record an approval and answer once ``run`` has processed it."""
        del decision
        return await self._record()

    @workflow.update
    async def submit_poc_results(self, decision: str) -> int:
        """Record PoC results and answer once ``run`` has processed them."""
        del decision
        return await self._record()
