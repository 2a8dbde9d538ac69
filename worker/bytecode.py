"""Bytecode for the modules the workflow sandbox imports again for every workflow it runs.

The sandbox re-imports liftoff's workflow logic (``workflows``) for each workflow instance, so that
it can check it. Without bytecode on disk each of those imports compiles the source again: measured
with ``bench.lifecycle`` under ``PYTHONDONTWRITEBYTECODE=1`` (as on these machines), the real/floor
ratio went from 0.70 to 0.79 once the bytecode existed. Installed images have it already (the
Dockerfile compiles the wheel); a source checkout gets it here, once, when a worker is built.
"""

from __future__ import annotations

import compileall
from pathlib import Path

#: Packages the sandbox imports per workflow instance (the rest are passed through, imported once).
SANDBOXED_PACKAGES = ("workflows",)


def compile_sandboxed_code() -> bool:
    """Write missing or stale bytecode for the sandboxed packages; False if a directory is read-only."""
    root = Path(__file__).resolve().parent.parent
    ok = True
    for package in SANDBOXED_PACKAGES:
        directory = root / package
        if directory.is_dir():
            ok = bool(compileall.compile_dir(directory, quiet=2)) and ok
    return ok
