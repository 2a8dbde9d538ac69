"""``.ci/leftovers.py`` stops what a run left behind, in any session, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from tests.conftest import repo_root


def _alive(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None


def test_only_processes_carrying_the_runs_marker_are_stopped() -> None:
    token = f"test-{uuid.uuid4()}"
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    # Started by "the run": its own session, as the Temporal dev server and PostgreSQL are.
    ours = subprocess.Popen(sleep, env={**os.environ, "LIFTOFF_CI_RUN": token}, start_new_session=True)  # noqa: S603
    # Something else on the machine (another run's marker, or none): never touched.
    other_run = subprocess.Popen(sleep, env={**os.environ, "LIFTOFF_CI_RUN": f"{token}-other"})  # noqa: S603
    unrelated = subprocess.Popen(sleep, env={k: v for k, v in os.environ.items() if k != "LIFTOFF_CI_RUN"})  # noqa: S603
    try:
        time.sleep(0.2)
        result = subprocess.run(  # noqa: S603 - our own script
            [sys.executable, str(repo_root() / ".ci" / "leftovers.py"), token],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert result.returncode == 1
        assert str(ours.pid) in result.stdout
        ours.wait(timeout=15)
        assert not _alive(ours)
        assert _alive(other_run)
        assert _alive(unrelated)
        clean = subprocess.run(  # noqa: S603 - our own script
            [sys.executable, str(repo_root() / ".ci" / "leftovers.py"), token], check=False, timeout=30
        )
        assert clean.returncode == 0
    finally:
        for process in (ours, other_run, unrelated):
            if _alive(process):
                process.kill()
            process.wait()
