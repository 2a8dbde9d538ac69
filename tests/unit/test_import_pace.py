"""The import's pace: grows while the engine keeps up, halves once per congested moment, within its bounds."""

from __future__ import annotations

import pytest

from api.import_pace import Pace


def test_the_rate_grows_while_starts_are_recorded_in_time_up_to_the_ceiling() -> None:
    pace = Pace(ceiling=2.0, target_lag=0.5, step=0.25, rate=1.0)
    for n in range(3):
        pace.observe(0.1, now=float(n))
    assert pace.rate == pytest.approx(1.75)
    for n in range(10):
        pace.observe(0.1, now=10.0 + n)
    assert pace.rate == 2.0


def test_a_congested_moment_halves_the_rate_once_and_the_floor_holds() -> None:
    pace = Pace(ceiling=20.0, target_lag=0.5, rate=8.0)
    for lag in (2.0, 2.5, 3.0):  # three slow answers within the same half second: one cut
        pace.observe(lag, now=100.0)
    assert pace.rate == 4.0
    pace.observe(2.0, now=100.6)
    assert pace.rate == 2.0
    for n in range(20):
        pace.observe(9.0, now=200.0 + n)
    assert pace.rate == pace.floor


def test_starts_are_spaced_by_the_current_rate() -> None:
    pace = Pace(ceiling=4.0, rate=4.0)
    pace.delay(now=0.0)
    assert pace.delay(now=0.0) == pytest.approx(0.25)
    assert pace.delay(now=0.0) == pytest.approx(0.5)
    pace.observe(5.0, now=0.0)  # a cut postpones what was scheduled at the old rate
    assert pace.delay(now=0.0) == pytest.approx(0.5)
    assert Pace(ceiling=0.5, rate=3.0).rate == 0.5  # never above the ceiling
