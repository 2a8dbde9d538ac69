"""Logs that say what happened: JSON lines with tracebacks, a request id from the access line to the workflow."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
import structlog
from temporalio.client import Client

from api.app import create_app
from api.context import ApiContext
from api.principals import Directory
from schemas.policy import Policy
from tests.api.conftest import auth, submission
from worker.logging import configure_logging
from worker.temporal_client import connect_client
from worker.wiring import build_worker


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Logging configured as ``LIFTOFF_LOG_FORMAT=json`` (into a buffer) for one test, restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("INFO", "json", buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()


def test_every_json_line_is_json_and_an_error_carries_its_traceback(json_logs: io.StringIO) -> None:
    secret = "hunter2-in-a-local-variable"
    try:
        _ = {"password": secret}
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        structlog.get_logger("t").exception("it failed", initiative_id="i-1")
        logging.getLogger("stdlib").exception("stdlib too")
    logging.getLogger("uvicorn.error").info("Started %s", "x", extra={"color_message": "Started \x1b[1m%s\x1b[0m"})
    lines = [line for line in json_logs.getvalue().splitlines() if line]
    entries = [json.loads(line) for line in lines]  # each line is JSON on its own
    assert len(entries) == 3
    for failed in entries[:2]:
        frames = failed["exception"][0]["frames"]
        assert failed["exception"][0]["exc_type"] == "ZeroDivisionError"
        assert frames[-1]["name"] == "test_every_json_line_is_json_and_an_error_carries_its_traceback"
        assert frames[-1]["lineno"] > 0
    assert secret not in "\n".join(lines)  # frames without their locals
    assert entries[2]["event"] == "Started x"
    assert "color_message" not in entries[2]


async def test_a_request_id_follows_a_decision_from_the_access_line_to_the_workflow(
    client: Client,
    pool: asyncpg.Pool,
    policy: Policy,
    directory: Directory,
    json_logs: io.StringIO,
) -> None:
    queue = f"request-id-{uuid.uuid4()}"
    ours = await connect_client(client.service_client.config.target_host)  # with liftoff's interceptors
    ctx = ApiContext(client=ours, pool=pool, directory=directory, policy=policy, task_queue=queue, ui_base_url="x")
    async with (
        build_worker(ours, pool, task_queue=queue),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ctx)), base_url="http://api") as api,
    ):
        created = await api.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))
        iid = created.json()["id"]
        generated = created.headers["X-Request-ID"]
        assert len(generated) == 32  # none offered: one is made
        approved = await api.post(
            f"/v1/initiatives/{iid}/approve",
            json={"role": "portfolio"},
            headers={**auth("paula@example.com"), "X-Request-ID": "ticket-4711.retry:2"},
        )
        assert approved.status_code == 200, approved.text
        assert approved.headers["X-Request-ID"] == "ticket-4711.retry:2"
        hostile = await api.get("/v1/taxonomy", headers={**auth("vic@example.com"), "X-Request-ID": "<script>\n"})
        assert hostile.headers["X-Request-ID"] != "<script>\n"
        assert len(hostile.headers["X-Request-ID"]) == 32

    entries = [json.loads(line) for line in json_logs.getvalue().splitlines() if line]
    access = [
        e for e in entries if e.get("logger") == "liftoff.access" and e.get("request_id") == "ticket-4711.retry:2"
    ]
    assert [(e["route"], e["status"]) for e in access] == [("/v1/initiatives/{initiative_id}/approve", 200)]
    applied = [e for e in entries if e.get("event") == "decision approve applied"]
    assert [e.get("request_id") for e in applied] == ["ticket-4711.retry:2"]
    assert applied[0]["logger"] == "temporalio.workflow"
