"""The sandbox checks liftoff's own workflow logic: a planted ``datetime.now()`` is refused.

Workflow modules import ``workflows/*`` normally (never inside ``imports_passed_through``), and the runner
passes through only the models (``schemas``) and third-party libraries.
"""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker
from temporalio.workflow import NondeterminismError

from tests.workflows.probe_sandboxed import SandboxedProbe
from worker.activation_order import RecordedOrderRunner
from worker.bytecode import install_code_cache

WORKFLOWS_DIR = Path(__file__).resolve().parents[2] / "workflows"


def _passed_through_imports(path: Path) -> list[str]:
    """Modules imported inside ``with workflow.unsafe.imports_passed_through():`` in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.With) and "imports_passed_through" in ast.unparse(node.items[0].context_expr):
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    found.append(statement.module or "")
                elif isinstance(statement, ast.Import):
                    found += [alias.name for alias in statement.names]
    return found


def test_workflow_modules_pass_through_only_models() -> None:
    passed = {path.name: _passed_through_imports(path) for path in sorted(WORKFLOWS_DIR.glob("*.py"))}
    assert any(passed.values())  # the models still pass through
    logic = {name: [m for m in modules if not m.startswith("schemas.")] for name, modules in passed.items()}
    assert {name: modules for name, modules in logic.items() if modules} == {}


@pytest.fixture(autouse=True)
def _code_cache() -> None:
    """The probes load through the in-memory code cache, as liftoff's workflow modules do in a worker."""
    install_code_cache(("tests.workflows",))


@pytest.mark.parametrize(
    ("helper", "call"),
    [("wall_clock", "datetime.datetime.now"), ("seconds", "time.time"), ("dice", "random.random")],
)
async def test_a_planted_non_deterministic_call_in_workflow_logic_is_refused(
    client: Client, helper: str, call: str
) -> None:
    queue = f"sandbox-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[SandboxedProbe],
        workflow_runner=RecordedOrderRunner(),  # liftoff's runner, with liftoff's sandbox restrictions
        workflow_failure_exception_types=[NondeterminismError],  # fail the run instead of retrying the task
    ):
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(
                "SandboxedProbe", helper, id=f"probe-{uuid.uuid4()}", task_queue=queue, result_type=str
            )
    assert f"Cannot access {call}" in str(failed.value.cause)
