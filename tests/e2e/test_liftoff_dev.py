"""End to end: ``liftoff dev`` as a user runs it, driven over HTTP, stopped with Ctrl-C, restarted."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sysconfig
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.api.conftest import submission

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class DevStack:
    """A running ``liftoff dev`` process and what its banner told us."""

    process: asyncio.subprocess.Process
    api: str
    tokens: dict[str, str]
    output: list[str]
    temporal_address: str

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[f'{name}@demo.liftoff']}"}

    async def stop(self) -> int:
        """Ctrl-C, then wait for a clean exit."""
        self.process.send_signal(signal.SIGINT)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout=30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise


async def start_dev(data_dir: Path, **settings: str) -> DevStack:
    """Start ``liftoff dev`` on free ports and wait for it to say ready."""
    api_port, temporal_port, ui_port = _free_port(), _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFTOFF_")} | settings
    process = await asyncio.create_subprocess_exec(
        str(Path(sysconfig.get_path("scripts")) / "liftoff"),
        "dev",
        "--data-dir",
        str(data_dir),
        "--api-port",
        str(api_port),
        "--temporal-port",
        str(temporal_port),
        "--ui-port",
        str(ui_port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    assert process.stdout is not None
    output: list[str] = []
    tokens: dict[str, str] = {}
    async with asyncio.timeout(60):
        while True:
            line = (await process.stdout.readline()).decode()
            if not line:
                pytest.fail("liftoff dev exited before it was ready:\n" + "".join(output))
            output.append(line)
            match = re.match(r"^\s+(\S+@demo\.liftoff)\s+(\S+)$", line)
            if match:
                tokens[match.group(1)] = match.group(2)
            if line.startswith("Press Ctrl-C"):
                break
    assert any("liftoff is ready" in line for line in output)
    assert any(f"http://127.0.0.1:{ui_port}/namespaces/default/workflows" in line for line in output)

    async def drain() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            output.append(line.decode())

    asyncio.get_running_loop().create_task(drain())
    return DevStack(
        process=process,
        api=f"http://127.0.0.1:{api_port}",
        tokens=tokens,
        output=output,
        temporal_address=f"127.0.0.1:{temporal_port}",
    )


@pytest_asyncio.fixture(loop_scope="session")
async def data_dir(tmp_path: Path) -> AsyncIterator[Path]:
    yield tmp_path / "liftoff-data"


async def _act(http: httpx.AsyncClient, stack: DevStack, iid: str, action: str, who: str, body: dict[str, Any]) -> Any:
    response = await http.post(f"/v1/initiatives/{iid}/{action}", json=body, headers=stack.auth(who))
    assert response.status_code == 200, response.text
    return response.json()


async def _wait_for(http: httpx.AsyncClient, stack: DevStack, iid: str, stage: str) -> dict[str, Any]:
    for _ in range(200):
        body: dict[str, Any] = (await http.get(f"/v1/initiatives/{iid}", headers=stack.auth("vic"))).json()
        if body["stage"] == stage:
            return body
        await asyncio.sleep(0.05)
    pytest.fail(f"{iid} never reached {stage}")


async def test_liftoff_dev_runs_the_whole_lifecycle_and_survives_a_restart(data_dir: Path) -> None:
    stack = await start_dev(data_dir)
    try:
        async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text

            created = await http.post(
                "/v1/initiatives", json=submission(title="To production"), headers=stack.auth("alice")
            )
            assert created.status_code == 201, created.text
            good = created.json()["id"]
            doomed = (
                await http.post("/v1/initiatives", json=submission(title="To the bin"), headers=stack.auth("alice"))
            ).json()["id"]

            await _act(http, stack, good, "approve", "paula", {"role": "portfolio"})
            await _act(http, stack, good, "submit-poc-results", "alice", {"metrics": {"f1": 0.93}, "spend_usd": 2500})
            await _act(http, stack, good, "approve", "bob", {"role": "business_owner"})
            await _act(http, stack, good, "approve", "ian", {"role": "infrastructure"})
            await _act(http, stack, good, "approve", "olga", {"role": "it_operations"})
            await _act(http, stack, good, "approve", "bob", {"role": "business_owner"})
            final = await _wait_for(http, stack, good, "production")
            assert final["status"] == "production"

            await _act(http, stack, doomed, "approve", "paula", {"role": "portfolio"})
            scrapped = await _act(
                http, stack, doomed, "scrap", "alice", {"reason_code": "DATA_GOVERNANCE_GAP", "detail": "no consent"}
            )
            assert scrapped["stage"] == "scrapped"

            events = (await http.get(f"/v1/initiatives/{good}/events", headers=stack.auth("vic"))).json()["events"]
            entered = [e["stage"] for e in events if e["kind"] == "stage_entered"]
            assert entered == ["proposed", "poc", "infra_review", "it_signoff", "rollout", "production"]
            bin_events = (await http.get(f"/v1/initiatives/{doomed}/events", headers=stack.auth("vic"))).json()[
                "events"
            ]
            assert [(e["kind"], e["stage"], e["reason_code"]) for e in bin_events][-1] == (
                "scrapped",
                "poc",
                "DATA_GOVERNANCE_GAP",
            )

            listed = (await http.get("/v1/initiatives", headers=stack.auth("vic"))).json()["items"]
            assert {i["id"]: (i["stage"], i["status"]) for i in listed} == {
                good: ("production", "production"),
                doomed: ("scrapped", "scrapped"),
            }
    finally:
        code = await stack.stop()
    assert code == 0, "".join(stack.output)
    assert any("liftoff stopped." in line for line in stack.output)
    pid_file = data_dir / "postgres" / "postmaster.pid"
    assert not pid_file.exists(), "the embedded PostgreSQL outlived liftoff dev"

    again = await start_dev(data_dir)
    try:
        assert again.tokens == stack.tokens
        async with httpx.AsyncClient(base_url=again.api, timeout=30) as http:
            body = (await http.get(f"/v1/initiatives/{good}", headers=again.auth("vic"))).json()
            assert body["stage"] == "production"
            assert body["title"] == "To production"
    finally:
        assert await again.stop() == 0


async def _run(*cmd: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_web_ui_decision_with_a_signed_token(tmp_path: Path) -> None:
    """As an approver does it: get a token from the CLI, send the update the way the Web UI does."""
    stack = await start_dev(tmp_path / "secured", LIFTOFF_APPROVAL_SECRET="e2e-secret")
    scripts = Path(sysconfig.get_path("scripts"))
    try:
        async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
            created = await http.post("/v1/initiatives", json=submission(), headers=stack.auth("alice"))
            iid = created.json()["id"]
        # The approver learns it waits for her: `liftoff queue`, as JSON and as a table.
        queue = (
            str(scripts / "liftoff"),
            "queue",
            "--api-url",
            stack.api,
            "--bearer",
            stack.tokens["paula@demo.liftoff"],
        )
        for _ in range(100):
            code, out = await _run(*queue, "--format", "json")
            assert code == 0, out
            if iid in {item["id"] for item in json.loads(out)["items"]}:
                break
            await asyncio.sleep(0.2)
        [mine] = [item for item in json.loads(out)["items"] if item["id"] == iid]
        assert (mine["action"], mine["roles"], mine["stage"]) == ("approve", ["portfolio"], "proposed")
        code, out = await _run(*queue)
        assert code == 0, out
        [row] = [line for line in out.splitlines() if iid in line]
        assert "approve as portfolio" in row
        assert "in 13d 23h" in row
        code, out = await _run(*queue[:-2], "--bearer", stack.tokens["bob@demo.liftoff"])
        assert code == 0, out
        assert iid not in out
        code, out = await _run(
            str(scripts / "liftoff"),
            "approval-token",
            iid,
            "--role",
            "portfolio",
            "--field",
            "comment=looks good",
            "--api-url",
            stack.api,
            "--bearer",
            stack.tokens["paula@demo.liftoff"],
        )
        assert code == 0, out
        payload = json.loads(out.split("\n", 1)[1])
        assert payload["approver"] == "paula@demo.liftoff"
        assert payload["comment"] == "looks good"

        def update(body: dict[str, Any]) -> tuple[str, ...]:
            return (
                str(scripts / "temporal"),
                "workflow",
                "update",
                "execute",
                "--address",
                stack.temporal_address,
                "--workflow-id",
                f"initiative-{iid}",
                "--name",
                "approve",
                "--input",
                json.dumps(body),
            )

        code, out = await _run(*update({**payload, "token": payload["token"][:-3] + "abc"}))
        assert code != 0
        assert "signature is invalid" in out
        code, out = await _run(*update({key: v for key, v in payload.items() if key != "token"}))
        assert code != 0
        assert "token is required" in out
        code, out = await _run(*update(payload))
        assert code == 0, out
        async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
            view = (await http.get(f"/v1/initiatives/{iid}", headers=stack.auth("vic"))).json()
        assert view["stage"] == "poc"
        assert view["approvals"] == []
    finally:
        assert await stack.stop() == 0


async def test_fast_policy_stalls_and_abandons_in_seconds(tmp_path: Path) -> None:
    """A policy file overriding one stage's timings makes a stall happen in wall-clock seconds."""
    policy = tmp_path / "fast.yaml"
    policy.write_text("stages:\n  proposed: {sla: PT3S, abandon_after: PT9S}\n", encoding="utf-8")
    stack = await start_dev(tmp_path / "fast", LIFTOFF_POLICY_FILE=str(policy))
    scripts = Path(sysconfig.get_path("scripts"))
    try:
        async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
            iid = (await http.post("/v1/initiatives", json=submission(), headers=stack.auth("alice"))).json()["id"]
            for _ in range(150):
                view = (await http.get(f"/v1/initiatives/{iid}", headers=stack.auth("vic"))).json()
                if view["status"] == "stalled" and view["stall"]["escalation_level"] >= 1:
                    break  # the escalation ticket is opened right after the stall is recorded
                await asyncio.sleep(0.1)
            assert view["status"] == "stalled"
            assert view["stall"]["reason_code"] == "APPROVAL_PENDING"
            assert view["stall"]["escalation_level"] == 1
            assert view["stall"]["since"]

            code, out = await _run(
                str(scripts / "temporal"),
                "workflow",
                "list",
                "--address",
                stack.temporal_address,
                "--query",
                "Stalled=true",
                "--output",
                "json",
            )
            assert code == 0, out
            assert f"initiative-{iid}" in out

            for _ in range(200):
                view = (await http.get(f"/v1/initiatives/{iid}", headers=stack.auth("vic"))).json()
                if view["stage"] == "scrapped":
                    break
                await asyncio.sleep(0.1)
            assert (view["stage"], view["reason_code"]) == ("scrapped", "ABANDONED")
            # The live status moves first; the event log follows once the workflow has recorded the scrap.
            for _ in range(100):
                events = (await http.get(f"/v1/initiatives/{iid}/events", headers=stack.auth("vic"))).json()["events"]
                kinds = [(e["kind"], e["reason_code"]) for e in events]
                if kinds[-1][0] == "scrapped":
                    break
                await asyncio.sleep(0.1)
            assert ("stalled", "APPROVAL_PENDING") in kinds
            assert ("escalated", "APPROVAL_PENDING") in kinds
            assert kinds[-1] == ("scrapped", "ABANDONED")
    finally:
        assert await stack.stop() == 0
