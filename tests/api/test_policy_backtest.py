"""``POST /v1/policy/backtest`` and ``liftoff policy backtest`` against a served API over a seeded portfolio."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import asyncpg
import httpx
from temporalio.client import Client

from api.app import create_app
from api.context import ApiContext
from api.principals import Directory
from schemas.policy import Policy
from tests.api.conftest import auth, token
from tests.db.test_backtest import portfolio
from tests.fakes.server import serve

__all__ = ["portfolio"]  # the seeded portfolio fixture, used by name


async def run_cli(*argv: str) -> tuple[int, str, str]:
    """``liftoff ARGV`` in its own process (stdout is the command's alone), with what it printed."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("liftoff")),
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_backtest_over_http_and_in_the_terminal(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory, portfolio: str, tmp_path: Path
) -> None:
    ctx = ApiContext(
        client=client, pool=pool, directory=directory, policy=policy, task_queue="unused", ui_base_url="http://ui.test"
    )
    stricter = {"version": "with-security", "quorum": {"infra_review": ["infrastructure", "security"]}}
    async with serve(create_app(ctx)) as base, httpx.AsyncClient(base_url=base, timeout=60) as http:
        body = {"policy": stricter, "team": portfolio}
        answer = await http.post("/v1/policy/backtest", json=body, headers=auth("paula@example.com"))
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert list(result) == [
            "baseline_version",
            "candidate_version",
            "initiatives",
            "totals",
            "changed",
            "days_by_stage",
            "not_assessed",
        ]
        assert result["not_assessed"] == 0
        assert result["totals"]["gates_not_closed"] == {"baseline": 0, "candidate": 1}
        assert [c["what"] for c in result["changed"]] == ["infra_review's gate would not have closed without security"]

        # only the portfolio role or an admin; a bad candidate is a 422 that names the key
        assert (await http.post("/v1/policy/backtest", json=body, headers=auth("vic@example.com"))).status_code == 403
        bad = {"policy": {"stages": {"poc": {"sla": "soon"}}}, "team": portfolio}
        refused = await http.post("/v1/policy/backtest", json=bad, headers=auth("paula@example.com"))
        assert refused.status_code == 422
        assert ["body", "policy", "stages", "poc", "sla"] in [e["loc"] for e in refused.json()["detail"]]
        unknown = await http.post(
            "/v1/policy/backtest", json={"policy": {"colour": "blue"}}, headers=auth("paula@example.com")
        )
        assert unknown.status_code == 422

        candidate = tmp_path / "candidate.yaml"
        candidate.write_text(
            "version: with-security\nquorum:\n  infra_review: [infrastructure, security]\n", encoding="utf-8"
        )
        common = ["--team", portfolio, "--api-url", base, "--bearer", token("paula@example.com")]
        code, out, _ = await run_cli("policy", "backtest", str(candidate), "--format", "json", *common)
        assert code == 0
        assert json.loads(out)["totals"] == result["totals"]  # JSON alone on stdout
        code, out, _ = await run_cli("policy", "backtest", str(candidate), *common)
        assert code == 0
        assert "3 initiatives: 2026.11-default -> with-security" in out
        assert "infra_review's gate would not have closed without security" in out
        code, _, err = await run_cli("policy", "backtest", str(candidate), *common[:-1], token("vic@example.com"))
        assert code == 1
        assert "refused (403)" in err
