"""End to end under faults: the chaos harness's short variant must find nothing lost, duplicated or stuck.

Runs ``bench.chaos`` in-process (so pytest's timeout applies) on 20 initiatives with every fault: the
worker killed, PostgreSQL stopped for 5 s, Temporal killed for 8 s and the API killed in the middle of
a submission. The harness starts and stops its own PostgreSQL, Temporal server, worker and API.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import ChaosConfig, run_chaos
from bench.chaos_faults import FAULT_LABELS, FAULTS

pytestmark = pytest.mark.e2e

PG_CTL = Path("/usr/lib/postgresql/15/bin/pg_ctl")


@pytest.mark.skipif(
    not PG_CTL.exists(),
    reason=f"Debian's PostgreSQL 15 is not installed ({PG_CTL} missing): apt-get install postgresql",
)
@pytest.mark.timeout(240)
async def test_no_initiative_is_lost_duplicated_stuck_or_unreplayable_under_faults() -> None:
    config = ChaosConfig(
        initiatives=20,
        concurrency=8,
        worker_down=2,
        pg_outage=5,
        temporal_outage=8,
        fault_gap=2,
        settle_timeout=60,
        recovery_timeout=60,
        seed=7,
    )

    report = await run_chaos(config, log=print)

    text = report.render()
    print(text)
    faults = [row.fault for row in report.rows if row.outage_s is not None]
    assert faults == [FAULT_LABELS[name] for name in FAULTS], text
    assert all(row.recover_s is not None for row in report.rows if row.outage_s is not None), text
    assert report.acknowledged == report.initiatives >= config.initiatives, text
    assert report.lost == 0, text
    assert report.duplicated == 0, text
    assert report.stuck == 0, text
    assert report.replay_failures == 0, text
    assert report.http_500 == 0, text
    assert report.in_production == report.initiatives, text
    assert report.ok, text
