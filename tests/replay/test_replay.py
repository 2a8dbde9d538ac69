"""Every committed history replays against today's workflow code.

A change that would alter the commands of a running initiative fails here; put it behind
``workflow.patched`` and record new histories with ``python -m tests.replay.record``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from worker.temporal_client import DATA_CONVERTER
from worker.wiring import WORKFLOWS

HISTORY_DIR = Path(__file__).resolve().parent.parent / "histories"
HISTORIES = {p.stem: p.read_text(encoding="utf-8") for p in sorted(HISTORY_DIR.glob("*.json"))}


def test_histories_are_committed() -> None:
    assert {"v1_happy_path_initiative", "v1_happy_path_rollout1", "v1_rejected_initiative"} <= set(HISTORIES)


@pytest.mark.parametrize("name", sorted(HISTORIES))
async def test_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(name, HISTORIES[name])
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
