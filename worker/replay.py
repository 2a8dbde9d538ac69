"""Replay recorded workflow histories against today's code, as a worker would after losing its cache."""

from __future__ import annotations

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, WorkflowReplayResult

from worker.activation_order import RecordedOrderRunner
from worker.bytecode import install_code_cache
from worker.temporal_client import DATA_CONVERTER
from worker.wiring import WORKFLOWS


async def replay_history(history: WorkflowHistory, *, attempts: int = 4) -> WorkflowReplayResult:
    """Replay one history; a failure is reported, not raised.

    Like a worker, the replay learns which workflow tasks the first run processed in two steps (see
    ``worker/activation_order.py``) and tries again with them; it gives up when an attempt teaches
    nothing new.
    """
    install_code_cache()  # as a worker does: the workflow modules' code read once
    runner = RecordedOrderRunner(data_converter=DATA_CONVERTER)
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=DATA_CONVERTER, workflow_runner=runner)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    for _ in range(attempts - 1):
        known = runner.remembered()
        if result.replay_failure is None:
            break
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if runner.remembered() == known and result.replay_failure is not None:
            break
    return result
