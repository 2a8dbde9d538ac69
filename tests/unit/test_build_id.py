"""A worker's build id names its workflow code: the same code the same id, a changed workflow a new one."""

from __future__ import annotations

import shutil
from pathlib import Path

from worker.build_id import WORKFLOW_CODE, workflow_build_id

ROOT = Path(__file__).resolve().parents[2]


def _copy(tmp_path: Path) -> Path:
    for package in WORKFLOW_CODE:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_same_code_has_the_same_build_id(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    assert workflow_build_id(copy) == workflow_build_id(ROOT)
    assert workflow_build_id(ROOT).startswith("liftoff-")


def test_a_changed_workflow_or_model_changes_it(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    before = workflow_build_id(copy)
    gates = copy / "workflows" / "gates.py"
    gates.write_text(gates.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    after_workflow = workflow_build_id(copy)
    model = copy / "schemas" / "stages.py"
    model.write_text(model.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert len({before, after_workflow, workflow_build_id(copy)}) == 3
