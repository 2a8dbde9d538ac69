"""The build id a liftoff worker reports to Temporal: its version and a digest of the code its workflows run.

Without one, the SDK derives it by reading the bytecode of every module the process has imported; where
no bytecode is on disk (``PYTHONDONTWRITEBYTECODE=1``, a fresh ``uv sync``) that compiles them all again,
measured at 4.8 s of CPU on every worker's start on these machines. This digest reads the few files that
decide what a workflow does (``workflows/``, the models in ``schemas/``) and names the same code the
same way on every worker.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path

import temporalio

#: The packages whose source decides a workflow's commands.
WORKFLOW_CODE = ("workflows", "schemas")


def _version() -> str:
    try:
        return metadata.version("liftoff")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "0"


def workflow_build_id(root: Path | None = None) -> str:
    """``liftoff-<version>-<digest>``: the digest covers the workflow code and the SDK's version."""
    base = root or Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(f"temporalio {temporalio.__version__}\n".encode())
    for package in WORKFLOW_CODE:
        for path in sorted((base / package).rglob("*")):
            if path.is_file() and path.suffix in {".py", ".yaml"}:
                digest.update(path.relative_to(base).as_posix().encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return f"liftoff-{_version()}-{digest.hexdigest()[:12]}"


@functools.cache
def current_build_id() -> str:
    """This installation's build id, read from disk once per process (every worker built here shares it)."""
    return workflow_build_id()
