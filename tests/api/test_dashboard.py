"""The dashboard in headless Chromium: charts render with a seeded portfolio; a screenshot is saved."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from temporalio.client import Client

from api.app import create_app
from api.context import ApiContext
from api.principals import Directory
from db import events_repo
from schemas.events import EventKind, InitiativeSnapshot, LifecycleEvent, RecordEventsInput
from schemas.policy import Policy
from schemas.stages import InitiativeStatus, Stage
from schemas.taxonomy import ReasonCode
from tests.api.conftest import token
from tests.conftest import SUBMITTER, make_spec, repo_root
from tests.fakes.server import serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = repo_root() / "artifacts"
T0 = datetime(2026, 2, 1, tzinfo=UTC)
DAY = timedelta(days=1)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="Debian chromium not installed (CI installs it)"
)


def _event(
    iid: str,
    seq: int,
    kind: EventKind,
    stage: Stage,
    day: float,
    reason: ReasonCode | None = None,
    data: dict[str, object] | None = None,
    t0: datetime = T0,
) -> LifecycleEvent:
    return LifecycleEvent(
        event_id=f"dash-{iid}-{seq}",
        initiative_id=iid,
        seq=seq,
        kind=kind,
        stage=stage,
        reason_code=reason,
        data=data or {},
        occurred_at=t0 + day * DAY,
        policy_version="p1",
    )


async def _seed(pool: asyncpg.Pool, team: str, t0: datetime = T0, title: str = "Initiative") -> None:
    """Three initiatives submitted at ``t0``: one in production, one abandoned in PoC, one stalled awaiting
    portfolio.
    """
    plans: list[
        tuple[Stage, InitiativeStatus, list[tuple[EventKind, Stage, float, ReasonCode | None, dict[str, object]]]]
    ] = [
        (
            Stage.PRODUCTION,
            InitiativeStatus.PRODUCTION,
            [
                (EventKind.STAGE_LEFT, Stage.PROPOSED, 3, None, {"outcome": "advanced"}),
                (EventKind.STAGE_ENTERED, Stage.POC, 3, None, {}),
                (EventKind.STAGE_LEFT, Stage.POC, 40, None, {"outcome": "advanced"}),
                (EventKind.STAGE_ENTERED, Stage.INFRA_REVIEW, 40, None, {}),
                (EventKind.STAGE_LEFT, Stage.INFRA_REVIEW, 50, None, {"outcome": "advanced"}),
                (EventKind.STAGE_ENTERED, Stage.IT_SIGNOFF, 50, None, {}),
                (EventKind.STAGE_LEFT, Stage.IT_SIGNOFF, 55, None, {"outcome": "advanced"}),
                (EventKind.STAGE_ENTERED, Stage.ROLLOUT, 55, None, {}),
                (EventKind.STAGE_LEFT, Stage.ROLLOUT, 60, None, {"outcome": "advanced"}),
                (EventKind.STAGE_ENTERED, Stage.PRODUCTION, 60, None, {}),
            ],
        ),
        (
            Stage.SCRAPPED,
            InitiativeStatus.SCRAPPED,
            [
                (EventKind.STAGE_LEFT, Stage.PROPOSED, 2, None, {"outcome": "advanced"}),
                (EventKind.STAGE_ENTERED, Stage.POC, 2, None, {}),
                (EventKind.STALLED, Stage.POC, 92, ReasonCode.POC_RESULTS_MISSING, {}),
                (EventKind.SCRAPPED, Stage.POC, 182, ReasonCode.ABANDONED, {"stalled_seconds": 90 * 86400.0}),
            ],
        ),
        (
            Stage.PROPOSED,
            InitiativeStatus.STALLED,
            [
                (EventKind.STALLED, Stage.PROPOSED, 14, ReasonCode.APPROVAL_PENDING, {"roles": ["portfolio"]}),
            ],
        ),
    ]
    for n, (stage, status_, steps) in enumerate(plans):
        iid = f"dash{uuid.uuid4().hex[:10]}"
        events = [
            _event(iid, 1, EventKind.SUBMITTED, Stage.PROPOSED, 0, t0=t0),
            _event(iid, 2, EventKind.STAGE_ENTERED, Stage.PROPOSED, 0, t0=t0),
        ] + [
            _event(iid, seq, kind, st, day, reason, data, t0)
            for seq, (kind, st, day, reason, data) in enumerate(steps, 3)
        ]
        snapshot = InitiativeSnapshot(
            initiative_id=iid,
            workflow_id=f"initiative-{iid}",
            spec=make_spec(team=team, title=f"{title} {n}"),
            submitter=SUBMITTER,
            policy_version="p1",
            stage=stage,
            status=status_,
            stage_entered_at=t0,
            awaiting_roles=["portfolio"] if status_ is InitiativeStatus.STALLED else [],
            reason_code=ReasonCode.ABANDONED if stage is Stage.SCRAPPED else None,
            submitted_at=t0,
            poc_spend_usd=12_000 if stage is Stage.SCRAPPED else 0,
        )
        async with pool.acquire() as conn:
            await events_repo.record_events(conn, RecordEventsInput(events=events, snapshot=snapshot))


async def _chromium(*args: str) -> str:
    assert CHROMIUM is not None, "CI must install Debian chromium (see .ci/run)"
    profile = tempfile.mkdtemp(prefix="liftoff-chromium-")
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=8000",
        "--window-size=1400,1500",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=90)
    shutil.rmtree(profile, ignore_errors=True)
    return out.decode()


async def test_dashboard_renders_the_seeded_portfolio(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> None:
    team = f"dash-{uuid.uuid4().hex[:8]}"
    await _seed(pool, team)
    ctx = ApiContext(
        client=client, pool=pool, directory=directory, policy=policy, task_queue="unused", ui_base_url="http://ui.test"
    )
    async with serve(create_app(ctx)) as base:
        url = f"{base}/dashboard?team={team}&token={token('vic@example.com')}"
        dom = await _chromium("--dump-dom", url)
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "dashboard.png"
        await _chromium(f"--screenshot={shot}", url)

    assert 'data-ready="true"' in dom, dom[-2000:]
    assert "3 initiatives" in dom
    funnel = dom.split('id="funnel"')[1].split("</svg>")[0]
    assert len(re.findall(r'class="bar"', funnel)) == 6  # one bar per stage
    stalls = dom.split('id="stalls"')[1].split("</svg>")[0]
    assert "APPROVAL_PENDING" in stalls
    assert "POC_RESULTS_MISSING" in stalls
    assert "ABANDONED" in dom.split('id="scraps"')[1].split("</svg>")[0]
    assert "$12,000" in dom.split('id="cost"')[1].split("</svg>")[0]
    table = dom.split('id="stalled-table"')[1].split("</table>")[0]
    assert "Initiative 2" in table
    assert "portfolio" in table
    png = await asyncio.to_thread(shot.read_bytes)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 10_000
