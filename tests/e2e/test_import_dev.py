"""``liftoff import`` against ``liftoff dev``: a file comes in with progress, counted at its stages and dates, once."""

from __future__ import annotations

import asyncio
import json
import sysconfig
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.api.conftest import submission
from tests.e2e.test_liftoff_dev import DevStack, start_dev

LINES = 240
STAGES = ("proposed", "poc", "poc", "infra_review", "it_signoff", "production")
ORDER = ("proposed", "poc", "infra_review", "it_signoff", "rollout", "production")
#: how many stages of ORDER an initiative imported at a stage has reached
REACHED = {"proposed": 1, "poc": 2, "infra_review": 3, "it_signoff": 4, "production": 6}


def month_of(at: datetime) -> str:
    return f"{at.year}-{at.month:02d}"


def overdue(n: int) -> bool:
    """Whether line ``n`` is a PoC that has waited past its SLA."""
    return n % len(STAGES) == 1


def portfolio(team: str, now: datetime) -> tuple[str, list[dict[str, object]]]:
    """``LINES`` initiatives of ``team`` over six months of submissions; every other PoC is overdue (SLA 90 d)."""
    lines = []
    for n in range(LINES):
        stage = STAGES[n % len(STAGES)]
        submitted = datetime(now.year, now.month, 3, 9, tzinfo=UTC) - timedelta(days=31 * (1 + n % 6))
        # within every stage's SLA, but for every other PoC: entered 120 days ago (SLA 90 days)
        entered = now - timedelta(days=120 if overdue(n) else 2)
        submitted = min(submitted, entered)
        body = submission(title=f"Legacy initiative {n}", team=team)
        body.update(
            stage=stage,
            submitted_at=submitted.isoformat(),
            stage_entered_at=entered.isoformat(),
            submitter="alice@demo.liftoff",
            external_refs=[{"system": "sheet", "ref": f"{team}-{n}"}],
        )
        lines.append(body)
    return "\n".join(json.dumps(line) for line in lines) + "\n", lines


async def liftoff_import(stack: DevStack, path: Path) -> tuple[int, str, str]:
    """Run ``liftoff import`` as a person would, with ada's (admin) token."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sysconfig.get_path("scripts")) / "liftoff"),
        "import",
        str(path),
        "--api-url",
        stack.api,
        "--bearer",
        stack.tokens["ada@demo.liftoff"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_portfolio_file_imports_under_liftoff_dev_counted_at_its_stages_and_dates(tmp_path: Path) -> None:
    stack = await start_dev(tmp_path / "dev", LIFTOFF_IMPORT_RATE="100", LIFTOFF_IMPORT_CONCURRENCY="8")
    now = datetime.now(UTC)
    team = f"legacy-{now.strftime('%H%M%S')}"
    text, lines = portfolio(team, now)
    path = tmp_path / "portfolio.jsonl"
    path.write_text(text, encoding="utf-8")
    try:
        code, out, err = await liftoff_import(stack, path)
        assert code == 0, err
        assert f"{LINES} lines: {LINES} valid ({LINES} new, 0 already in liftoff), 0 not" in err
        assert f"] {LINES}/{LINES} (new {LINES}" in err  # the progress line at the end (not a terminal)
        assert out.strip().endswith(f"{LINES} new, 0 already in liftoff, 0 invalid, 0 failed")

        async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
            funnel: dict[str, object] = {}
            for _ in range(300):  # each workflow records its history on its first task
                funnel = (await http.get("/v1/reports/funnel", params={"team": team}, headers=stack.auth("vic"))).json()
                if funnel["total"] == LINES:
                    break
                await asyncio.sleep(0.2)
            assert funnel["total"] == LINES
            reached = {s["stage"]: s["reached"] for s in funnel["stages"]}  # type: ignore[attr-defined]
            expected = Counter(stage for line in lines for stage in ORDER[: REACHED[str(line["stage"])]])
            assert {k: v for k, v in reached.items() if v} == dict(expected)

            cohorts = (await http.get("/v1/reports/cohorts", params={"team": team}, headers=stack.auth("vic"))).json()
            by_month = Counter(month_of(datetime.fromisoformat(str(line["submitted_at"]))) for line in lines)
            assert {r["period"]: r["submitted"] for r in cohorts["rows"]} == dict(by_month)

            late = sum(1 for n in range(LINES) if overdue(n))
            stalled: list[dict[str, object]] = []
            for _ in range(100):
                stalled = (
                    await http.get(
                        "/v1/initiatives",
                        params={"team": team, "stalled": "true", "limit": 500},
                        headers=stack.auth("vic"),
                    )
                ).json()["items"]
                if len(stalled) == late:
                    break
                await asyncio.sleep(0.2)
            assert len(stalled) == late
            assert {s["stage"] for s in stalled} == {"poc"}

        code, out, err = await liftoff_import(stack, path)  # the same file again: nothing new
        assert code == 0, err
        assert out.strip().endswith(f"0 new, {LINES} already in liftoff, 0 invalid, 0 failed")
    finally:
        assert await stack.stop() == 0
