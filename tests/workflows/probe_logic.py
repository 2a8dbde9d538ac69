"""Helpers with non-deterministic calls, as a bug in liftoff's workflow logic would have them."""

from __future__ import annotations

import random
import time
from datetime import datetime


def wall_clock() -> str:
    """The machine's clock: never allowed in workflow code (``workflow.now()`` is)."""
    return datetime.now().isoformat()  # noqa: DTZ005 - the planted bug


def seconds() -> float:
    """The machine's clock as seconds."""
    return time.time()


def dice() -> float:
    """A random number not seeded by the workflow."""
    return random.random()  # noqa: S311 - the planted bug
