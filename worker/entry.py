"""The ``liftoff`` console script: stop cleanly on SIGTERM even while the program is still starting.

Importing the CLI (pydantic, structlog, temporalio) takes a moment; a container stopped in that moment
would otherwise die of the signal (exit 143). Nothing is in flight yet, so it exits 0, like a stop later
on. Each command installs its own handler once it runs (``worker.dev.install_stop_handlers``).
"""

from __future__ import annotations

import signal


def _stop_while_starting(signum: int, frame: object) -> None:
    del signum, frame
    raise SystemExit(0)


def main() -> None:
    """Install the early SIGTERM handler, then run the CLI."""
    signal.signal(signal.SIGTERM, _stop_while_starting)
    from worker.cli import main as cli_main  # imported after the handler on purpose

    cli_main()
