"""Find, list and stop the processes a CI step left behind, recognised by a marker in their environment.

`.ci/run` starts the test run with ``LIFTOFF_CI_RUN=<token>``; every process the tests start inherits it,
whatever its session, process group or parent (a daemonised PostgreSQL, a Temporal server in its own
session). After the step, a process carrying the token is a leftover of this run; nothing else on the
machine is ever signalled.

Usage: python3 .ci/leftovers.py TOKEN   (exit 1 when something was left behind)
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path


def carriers(token: str) -> dict[int, str]:
    """Live processes whose environment holds ``LIFTOFF_CI_RUN=token``, with their command lines."""
    marker = f"LIFTOFF_CI_RUN={token}".encode()
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            if marker not in environ.split(b"\0"):
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if cmdline:  # a zombie has no command line and is already dead
            found[int(entry.name)] = cmdline
    return found


def main() -> int:
    """List and stop the leftovers; 1 if there were any."""
    token = sys.argv[1]
    left = carriers(token)
    if not left:
        return 0
    print("!! processes left behind by this run (stopping them):")
    for pid, cmdline in sorted(left.items()):
        print(f"   {pid} {cmdline[:200]}")
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and carriers(token):
        time.sleep(0.2)
    for pid in carriers(token):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return 1


if __name__ == "__main__":
    sys.exit(main())
