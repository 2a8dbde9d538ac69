"""How fast an import may start initiatives: as fast as the engine keeps up, never faster than a ceiling.

The signal is the engine's own answer time: how long an imported initiative takes from its start until its
first events are in PostgreSQL (a workflow task on a worker, then ``record_events``). A person's decision
takes the same path, so while imports are recorded within ``target_lag`` seconds, decisions are too. Below
the target the rate grows by ``step`` per start (up to ``ceiling``); above it, it is cut by ``cut``, at most
once per ``target_lag`` of time (every slow answer of one congested moment is one signal, not many).
This is TCP's additive increase, multiplicative decrease, with the record lag as the congestion signal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Pace:
    """The current start rate (per second) and when the next start may go."""

    ceiling: float
    target_lag: float = 0.5
    floor: float = 0.2
    step: float = 0.25
    cut: float = 0.5
    rate: float = 1.0
    _next: float = 0.0
    _last_cut: float = field(default=float("-inf"))

    def __post_init__(self) -> None:
        self.rate = min(self.rate, self.ceiling)

    def delay(self, now: float | None = None) -> float:
        """Seconds to wait before the next start, which is then counted as gone."""
        moment = time.monotonic() if now is None else now
        wait = max(self._next - moment, 0.0)
        self._next = max(self._next, moment) + 1.0 / self.rate
        return wait

    def observe(self, lag: float, now: float | None = None) -> None:
        """An imported initiative was recorded ``lag`` seconds after its start."""
        moment = time.monotonic() if now is None else now
        if lag <= self.target_lag:
            self.rate = min(self.ceiling, self.rate + self.step)
        elif moment - self._last_cut >= self.target_lag:
            self.rate = max(self.floor, self.rate * self.cut)
            self._last_cut = moment
            self._next = moment + 1.0 / self.rate  # what was scheduled at the old rate waits for the new one
