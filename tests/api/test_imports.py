"""``POST /v1/imports``: lines checked one by one, imported once, started behind live work, progress readable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from temporalio.client import Client

from api.context import ApiContext
from api.imports import IMPORT_PRIORITY, ImportRunner
from schemas.contract import workflow_id_for
from schemas.policy import Policy
from schemas.stages import Role
from tests.api.conftest import PEOPLE, app_client, auth, directory_of, submission

ADMIN = "ada@example.com"
NOW = datetime.now(UTC)
DAY = timedelta(days=1)


@pytest_asyncio.fixture(loop_scope="session")
async def importing(
    client: Client, pool: asyncpg.Pool, task_queue: str, policy: Policy
) -> AsyncIterator[tuple[httpx.AsyncClient, ApiContext]]:
    """The app with an admin, and its import runner fast (no rate limit to wait out in a test)."""
    directory = directory_of({**PEOPLE, ADMIN: ([Role.ADMIN], [])})
    ctx = ApiContext(
        client=client,
        pool=pool,
        directory=directory,
        policy=policy,
        task_queue=task_queue,
        ui_base_url="http://ui.test",
        imports=ImportRunner(rate=200, concurrency=4),
    )
    async with app_client(ctx) as http:
        yield http, ctx
    await ctx.imports.stop()


def line(ref: str | None, **fields: Any) -> str:
    body = submission(title=f"Imported {ref}", stage="poc")
    body["submitted_at"] = (NOW - 60 * DAY).isoformat()
    body["stage_entered_at"] = (NOW - 10 * DAY).isoformat()
    if ref is not None:
        body["external_refs"] = [{"system": "servicenow", "ref": ref}]
    body.update(fields)
    return json.dumps(body)


async def _done(http: httpx.AsyncClient, ctx: ApiContext, import_id: str) -> dict[str, Any]:
    await ctx.imports.idle()
    for _ in range(100):
        progress = (await http.get(f"/v1/imports/{import_id}", headers=auth(ADMIN))).json()
        if progress["done"]:
            return dict(progress)
        await asyncio.sleep(0.1)
    raise AssertionError(progress)


async def test_a_file_imports_each_good_line_once_and_reports_each_bad_line_by_number(
    importing: tuple[httpx.AsyncClient, ApiContext], pool: asyncpg.Pool, client: Client
) -> None:
    http, ctx = importing
    run = NOW.strftime("%H%M%S%f")
    good = [line(f"DMND-{run}-{n}") for n in range(3)]
    future = line(f"DMND-{run}-future", stage_entered_at=(NOW + DAY).isoformat())
    lines = [
        good[0],
        "{not json",
        good[1],
        "",  # blank lines are skipped, but counted
        json.dumps({**json.loads(good[2]), "stage": "rollout"}),
        future,
        good[2],
        good[0],  # the same initiative twice in one file
    ]
    text = "\n".join(lines) + "\n"

    imports_before = await pool.fetchval("SELECT count(*) FROM imports")
    dry = await http.post("/v1/imports", params={"dry_run": "true"}, content=text, headers=auth(ADMIN))
    assert dry.status_code == 200, dry.text
    checked = dry.json()
    assert (checked["id"], checked["dry_run"], checked["lines"], checked["valid"], checked["new"]) == (
        None,
        True,
        7,
        3,
        3,
    )
    reasons = {p["line"]: p["error"] for p in checked["invalid"]}
    assert set(reasons) == {2, 5, 6, 8}
    assert reasons[2].startswith("not JSON")
    assert "stage" in reasons[5]
    assert reasons[6] == "a date is in the future"
    assert reasons[8] == "the same initiative as line 1 (same external_refs or content)"
    assert await pool.fetchval("SELECT count(*) FROM imports") == imports_before  # the dry run wrote nothing
    ids = [json.loads(g)["external_refs"][0]["ref"] for g in good]
    assert not await pool.fetchval(
        "SELECT count(*) FROM lifecycle_events WHERE data -> 'external_refs' -> 0 ->> 'ref' = ANY($1::text[])", ids
    )

    first = await http.post("/v1/imports", content=text, headers=auth(ADMIN))
    assert first.status_code == 202, first.text
    accepted = first.json()
    assert first.headers["location"] == accepted["status_url"] == f"/v1/imports/{accepted['id']}"
    progress = await _done(http, ctx, accepted["id"])
    assert (progress["started"], progress["existed"], progress["invalid"], progress["failed"]) == (3, 0, 4, 0)
    assert [(e["line"], e["outcome"]) for e in progress["errors"]] == [(n, "invalid") for n in (2, 5, 6, 8)]
    started = await pool.fetch(
        "SELECT initiative_id FROM import_lines WHERE import_id=$1 AND outcome='started'", accepted["id"]
    )
    for row in started:  # started at the lowest task priority; the default back once the import had finished
        handle = client.get_workflow_handle(workflow_id_for(row["initiative_id"]))
        history = await handle.fetch_history()
        started_with = history.events[0].workflow_execution_started_event_attributes
        assert started_with.priority.priority_key == IMPORT_PRIORITY.priority_key
        assert (await handle.describe()).raw_description.workflow_execution_info.priority.priority_key == 3
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM import_lines WHERE import_id=$1 AND outcome='started' AND restored_at IS NOT NULL",
            accepted["id"],
        )
        == len(started)
        == 3
    )

    for _ in range(100):  # each workflow records its initiative's row on its first task
        if (
            await pool.fetchval(
                "SELECT count(*) FROM initiatives WHERE id = ANY($1::text[])", [r["initiative_id"] for r in started]
            )
            == 3
        ):
            break
        await asyncio.sleep(0.05)
    again = await http.post("/v1/imports", content=text, headers=auth(ADMIN))
    assert again.status_code == 202
    assert (again.json()["new"], again.json()["existing"]) == (0, 3)
    progress = await _done(http, ctx, again.json()["id"])
    assert (progress["started"], progress["existed"]) == (0, 3)  # re-importing creates nothing new


async def test_only_admins_import_and_read_imports(
    importing: tuple[httpx.AsyncClient, ApiContext],
) -> None:
    http, _ = importing
    refused = await http.post("/v1/imports", content=line("DMND-x"), headers=auth("alice@example.com"))
    assert refused.status_code == 403
    assert (await http.post("/v1/imports", content=line("DMND-x"))).status_code == 401
    unknown = await http.get("/v1/imports/import-0000000000000000", headers=auth(ADMIN))
    assert unknown.status_code == 404
    assert (await http.get("/v1/imports/import-0000000000000000", headers=auth("alice@example.com"))).status_code == 403
    assert (await http.get("/v1/imports/not-an-id", headers=auth(ADMIN))).status_code == 422


async def test_hostile_lines_are_refused_line_by_line_and_an_oversized_line_stops_the_file(
    importing: tuple[httpx.AsyncClient, ApiContext],
) -> None:
    http, _ = importing
    hostile = [
        line("DMND-h1", budget_usd=float("inf")).replace("Infinity", "1e999"),
        line("DMND-h2", title="\x00"),
        line("DMND-h3", submitted_at=1700000000),  # a number is not a time
        line("DMND-h4", approvals=[{"role": "admin", "person": "x@example.com", "at": NOW.isoformat()}]),
        line("DMND-h5", risk_tier="unacceptable"),
        "[1, 2]",
        "[" * 50_000,  # deeper than the JSON parser goes
    ]
    answer = await http.post("/v1/imports", params={"dry_run": "true"}, content="\n".join(hostile), headers=auth(ADMIN))
    assert answer.status_code == 200, answer.text
    reasons = {p["line"]: p["error"] for p in answer.json()["invalid"]}
    assert set(reasons) == {1, 2, 3, 4, 5, 6, 7}
    assert "budget_usd" in reasons[1]
    assert "title" in reasons[2]
    assert "submitted_at" in reasons[3]
    assert "approvals.0.role" in reasons[4]
    assert "REG_PROHIBITED" in reasons[5]
    assert reasons[6] == "not a JSON object"
    assert reasons[7] == "not JSON: nested too deeply"

    huge = line("DMND-big", summary="x" * 70_000)
    too_long = await http.post("/v1/imports", params={"dry_run": "true"}, content=huge, headers=auth(ADMIN))
    assert too_long.status_code == 422
    assert "longer than" in too_long.text
