"""Every committed history replays against today's workflow code, as a worker that lost its cache would.

A change that would alter the commands of a running initiative fails here; put it behind
``workflow.patched`` and record new histories with ``python -m tests.replay.record``.

``evidence_*`` are real histories recorded under load after a Temporal outage, in which the first run
processed one workflow task in two steps (see ``worker/activation_order.py``); the stock replayer
fails on each of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from worker.replay import replay_history
from worker.temporal_client import DATA_CONVERTER
from worker.wiring import WORKFLOWS

HISTORY_DIR = Path(__file__).resolve().parent.parent / "histories"
HISTORIES = {p.stem: p.read_text(encoding="utf-8") for p in sorted(HISTORY_DIR.glob("*.json"))}
EVIDENCE = sorted(name for name in HISTORIES if name.startswith("evidence_"))


def test_histories_are_committed() -> None:
    assert {"v1_happy_path_initiative", "v1_happy_path_rollout1", "v1_rejected_initiative"} <= set(HISTORIES)
    assert len(EVIDENCE) == 13


@pytest.mark.parametrize("name", sorted(HISTORIES))
async def test_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(name, HISTORIES[name])
    result = await replay_history(history)
    assert result.replay_failure is None


@pytest.mark.parametrize("name", [*EVIDENCE[:3], "v2_completion_and_update_in_one_task_initiative"])
async def test_two_step_tasks_fail_with_the_sdks_own_order(name: str) -> None:
    """These histories hold a task processed in steps: the SDK's default runner cannot replay them."""
    history = WorkflowHistory.from_json(name, HISTORIES[name])
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "Nondeterminism" in str(result.replay_failure)
