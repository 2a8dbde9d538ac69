"""ServiceNowTicketing against a local fake that speaks the Table API contract."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from temporalio.exceptions import ApplicationError

from activities.adapters.servicenow import ServiceNowConfig, ServiceNowTicketing, correlation_token
from activities.ticketing import TicketingSystem
from schemas.integrations import CloseTicketInput, OpenTicketInput
from tests.fakes.server import free_port, serve
from tests.fakes.servicenow import FakeServiceNowState, create_fake_servicenow

USER = "liftoff"
PASSWORD = "s3cret-pass"
TOKEN = "oauth-token-123"


@contextlib.asynccontextmanager
async def servicenow(**config: Any) -> AsyncIterator[tuple[ServiceNowTicketing, FakeServiceNowState]]:
    app, state = create_fake_servicenow(user=USER, password=PASSWORD, token=TOKEN)
    async with serve(app) as url:
        settings: dict[str, Any] = {"url": url, "user": USER, "password": SecretStr(PASSWORD)} | config
        adapter = ServiceNowTicketing(ServiceNowConfig(**settings))
        try:
            yield adapter, state
        finally:
            await adapter.aclose()


def opening(kind: str = "change", key: str = "init-1:rollout:change", initiative: str = "init-1") -> OpenTicketInput:
    return OpenTicketInput(initiative_id=initiative, idempotency_key=key, kind=kind, title="Roll out model", body="why")


async def test_open_change_creates_a_change_request_with_correlation_fields() -> None:
    async with servicenow() as (adapter, state):
        ticket = await adapter.open(opening(kind="change", key="k-change", initiative="Init/42 ä"))

        [record] = state.records("change_request")
        assert state.records("incident") == []
        assert ticket.ref == f"change_request:{record['sys_id']}"
        assert (ticket.system, ticket.status, ticket.kind) == ("servicenow", "new", "change")
        assert record["number"] == "CHG0030001"
        assert record["correlation_id"] == correlation_token("k-change")
        assert len(record["correlation_id"]) == 32
        assert record["correlation_display"] == "liftoff:Init/42 ä"
        assert record["short_description"] == "Roll out model"
        assert record["category"] == "change"


async def test_open_escalation_creates_an_incident_and_other_kinds_too() -> None:
    async with servicenow() as (adapter, state):
        escalation = await adapter.open(opening(kind="escalation", key="k-esc"))
        signoff = await adapter.open(opening(kind="signoff", key="k-sign"))

        numbers = [r["number"] for r in state.records("incident")]
        assert numbers == ["INC0010001", "INC0010002"]
        assert escalation.ref.startswith("incident:")
        assert (escalation.kind, escalation.status) == ("escalation", "new")
        assert (signoff.kind, signoff.status) == ("signoff", "new")
        assert state.records("change_request") == []


async def test_escalations_go_to_sc_task_when_configured() -> None:
    async with servicenow(escalation_table="sc_task") as (adapter, state):
        ticket = await adapter.open(opening(kind="escalation", key="k-task"))

        [record] = state.records("sc_task")
        assert record["number"] == "SCTASK0010001"
        assert ticket.ref == f"sc_task:{record['sys_id']}"
        assert ticket.status == "open"


async def test_opening_the_same_key_twice_keeps_one_record() -> None:
    async with servicenow() as (adapter, state):
        first = await adapter.open(opening(key="same"))
        second = await adapter.open(opening(key="same"))

        assert first == second
        assert len(state.records("change_request")) == 1
        assert state.count("POST") == 1


async def test_retry_after_a_500_that_created_the_record_finds_it() -> None:
    async with servicenow() as (adapter, state):
        state.fail_next(500, method="POST", apply_first=True)

        with pytest.raises(ApplicationError) as failure:
            await adapter.open(opening(key="ambiguous"))
        assert failure.value.type == "ServiceNowUnavailable"
        assert not failure.value.non_retryable
        assert len(state.records("change_request")) == 1

        ticket = await adapter.open(opening(key="ambiguous"))

        [record] = state.records("change_request")
        assert ticket.ref == f"change_request:{record['sys_id']}"
        assert state.count("POST") == 1


async def test_retry_after_a_timeout_that_created_the_record_finds_it() -> None:
    async with servicenow(timeout_seconds=0.3) as (adapter, state):
        state.delay_seconds, state.delay_method = 0.6, "POST"
        with pytest.raises(ApplicationError) as failure:
            await adapter.open(opening(key="slow"))
        assert failure.value.type == "ServiceNowTimeout"
        assert not failure.value.non_retryable
        assert len(state.records("change_request")) == 1  # committed, though the answer never arrived

        state.delay_seconds = 0
        ticket = await adapter.open(opening(key="slow"))

        assert len(state.records("change_request")) == 1
        assert ticket.ref == f"change_request:{state.records('change_request')[0]['sys_id']}"


async def test_429_is_retryable_after_the_retry_after_delay() -> None:
    async with servicenow() as (adapter, state):
        state.fail_next(429, retry_after=5)

        with pytest.raises(ApplicationError) as failure:
            await adapter.open(opening())

        assert failure.value.type == "ServiceNowUnavailable"
        assert not failure.value.non_retryable
        assert failure.value.next_retry_delay == timedelta(seconds=5)
        assert state.records("change_request") == []


async def test_wrong_password_is_a_permanent_unauthorized_error_without_the_password() -> None:
    wrong = "hunter2-do-not-leak"
    async with servicenow(password=SecretStr(wrong)) as (adapter, state):
        with pytest.raises(ApplicationError) as failure:
            await adapter.open(opening())

        assert failure.value.type == "ServiceNowUnauthorized"
        assert failure.value.non_retryable
        assert "User Not Authenticated" in str(failure.value)
        assert wrong not in str(failure.value)
        assert wrong not in repr(failure.value)
        assert state.records("change_request") == []


async def test_config_never_shows_its_secrets() -> None:
    config = ServiceNowConfig(url="https://x.service-now.com", user=USER, password=SecretStr(PASSWORD))
    assert PASSWORD not in repr(config)
    assert PASSWORD not in str(config.model_dump())


async def test_slow_server_is_a_retryable_timeout() -> None:
    async with servicenow(timeout_seconds=0.2) as (adapter, state):
        state.delay_seconds = 0.5

        with pytest.raises(ApplicationError) as failure:
            await adapter.get(f"incident:{'0' * 32}")

        assert failure.value.type == "ServiceNowTimeout"
        assert not failure.value.non_retryable


async def test_unreachable_instance_is_a_retryable_timeout() -> None:
    config = ServiceNowConfig(url=f"http://127.0.0.1:{free_port()}", token=SecretStr(TOKEN), timeout_seconds=2)
    adapter = ServiceNowTicketing(config)
    try:
        with pytest.raises(ApplicationError) as failure:
            await adapter.open(opening())
    finally:
        await adapter.aclose()

    assert failure.value.type == "ServiceNowTimeout"
    assert not failure.value.non_retryable


async def test_bearer_token_authenticates() -> None:
    async with servicenow(user=None, password=None, token=SecretStr(TOKEN)) as (adapter, state):
        ticket = await adapter.open(opening(kind="escalation", key="k-bearer"))

        assert ticket.ref == f"incident:{state.records('incident')[0]['sys_id']}"


async def test_wrong_bearer_token_is_unauthorized() -> None:
    async with servicenow(user=None, password=None, token=SecretStr("stale-token")) as (adapter, _):
        with pytest.raises(ApplicationError) as failure:
            await adapter.open(opening())

        assert failure.value.type == "ServiceNowUnauthorized"
        assert "stale-token" not in str(failure.value)


def test_config_needs_a_token_or_user_and_password() -> None:
    with pytest.raises(ValidationError):
        ServiceNowConfig(url="https://x.service-now.com")
    with pytest.raises(ValidationError):
        ServiceNowConfig(url="https://x.service-now.com", user=USER)
    with pytest.raises(ValidationError):
        ServiceNowConfig(url="https://x.service-now.com", token=SecretStr(TOKEN), escalation_table="bad table")
    assert ServiceNowConfig(url="https://x.service-now.com", token=SecretStr(TOKEN)).change_table == "change_request"


async def test_close_done_closes_a_change_successfully_with_a_work_note() -> None:
    async with servicenow() as (adapter, state):
        ticket = await adapter.open(opening(kind="change", key="k-done"))

        closed = await adapter.close(CloseTicketInput(ref=ticket.ref, outcome="done", comment="Rolled out cleanly"))

        [record] = state.records("change_request")
        assert (record["state"], record["close_code"], record["active"]) == ("3", "successful", "false")
        assert record["close_notes"] == "Rolled out cleanly"
        assert state.work_notes(record["sys_id"]) == ["Rolled out cleanly"]
        assert (closed.ref, closed.status, closed.kind) == (ticket.ref, "closed", "change")


async def test_close_done_closes_an_incident_with_resolution_code_and_notes() -> None:
    async with servicenow() as (adapter, state):
        ticket = await adapter.open(opening(kind="escalation", key="k-inc-done"))

        closed = await adapter.close(CloseTicketInput(ref=ticket.ref, outcome="done"))

        [record] = state.records("incident")
        assert (record["state"], record["close_code"]) == ("7", "Solution provided")
        assert record["close_notes"] == "Closed by liftoff: done"
        assert state.work_notes(record["sys_id"]) == []
        assert closed.status == "closed"


async def test_close_failed_cancels_an_incident() -> None:
    async with servicenow() as (adapter, state):
        ticket = await adapter.open(opening(kind="escalation", key="k-inc-failed"))

        closed = await adapter.close(CloseTicketInput(ref=ticket.ref, outcome="failed", comment="Budget refused"))

        [record] = state.records("incident")
        assert record["state"] == "8"
        assert state.work_notes(record["sys_id"]) == ["Budget refused"]
        assert closed.status == "cancelled"


async def test_close_failed_closes_a_change_as_unsuccessful_and_cancelled_cancels_it() -> None:
    async with servicenow() as (adapter, state):
        failed = await adapter.open(opening(kind="change", key="k-chg-failed"))
        cancelled = await adapter.open(opening(kind="change", key="k-chg-cancelled"))

        failed_ticket = await adapter.close(CloseTicketInput(ref=failed.ref, outcome="failed", comment="Smoke failed"))
        cancelled_ticket = await adapter.close(CloseTicketInput(ref=cancelled.ref, outcome="cancelled"))

        first, second = state.records("change_request")
        assert (first["state"], first["close_code"], first["close_notes"]) == ("3", "unsuccessful", "Smoke failed")
        assert second["state"] == "4"
        assert (failed_ticket.status, cancelled_ticket.status) == ("failed", "cancelled")


async def test_close_twice_changes_nothing_the_second_time() -> None:
    async with servicenow() as (adapter, state):
        ticket = await adapter.open(opening(kind="escalation", key="k-twice"))
        first = await adapter.close(CloseTicketInput(ref=ticket.ref, outcome="done", comment="ok"))
        patches = state.count("PATCH")

        second = await adapter.close(CloseTicketInput(ref=ticket.ref, outcome="failed", comment="again"))

        [record] = state.records("incident")
        assert second == first
        assert record["state"] == "7"
        assert state.count("PATCH") == patches
        assert state.work_notes(record["sys_id"]) == ["ok"]


async def test_close_retried_after_an_ambiguous_500_writes_one_work_note() -> None:
    async with servicenow() as (adapter, state):
        ticket = await adapter.open(opening(kind="change", key="k-close-500"))
        state.fail_next(500, method="PATCH", apply_first=True)

        with pytest.raises(ApplicationError) as failure:
            await adapter.close(CloseTicketInput(ref=ticket.ref, outcome="done", comment="done once"))
        assert not failure.value.non_retryable
        closed = await adapter.close(CloseTicketInput(ref=ticket.ref, outcome="done", comment="done once"))

        [record] = state.records("change_request")
        assert closed.status == "closed"
        assert state.work_notes(record["sys_id"]) == ["done once"]


async def test_close_with_an_unknown_outcome_is_permanent() -> None:
    async with servicenow() as (adapter, state):
        ticket = await adapter.open(opening(kind="escalation", key="k-odd"))

        with pytest.raises(ApplicationError) as failure:
            await adapter.close(CloseTicketInput(ref=ticket.ref, outcome="maybe"))

        assert failure.value.non_retryable
        assert failure.value.type == "ServiceNowBadOutcome"
        assert state.records("incident")[0]["state"] == "1"


async def test_comment_appends_a_work_note() -> None:
    async with servicenow() as (adapter, state):
        ticket = await adapter.open(opening(kind="escalation", key="k-comment"))

        await adapter.comment(ticket.ref, "Waiting on security review")
        await adapter.comment(ticket.ref, "Security approved")

        [record] = state.records("incident")
        assert state.work_notes(record["sys_id"]) == ["Waiting on security review", "Security approved"]
        assert record["work_notes"] == ""  # a journal field reads back empty, as on a real instance


@pytest.mark.parametrize(
    ("table", "fields", "status"),
    [
        ("incident", {"state": "2"}, "in_progress"),
        ("incident", {"state": "3"}, "on_hold"),
        ("incident", {"state": "6"}, "resolved"),
        ("incident", {"state": "7"}, "closed"),
        ("incident", {"state": "8"}, "cancelled"),
        ("change_request", {"state": "-4"}, "assess"),
        ("change_request", {"state": "-3", "approval": "requested"}, "authorize"),
        ("change_request", {"state": "-3", "approval": "approved"}, "approved"),
        ("change_request", {"state": "-5", "approval": "rejected"}, "rejected"),
        ("change_request", {"state": "-2", "approval": "approved"}, "scheduled"),
        ("change_request", {"state": "-1"}, "implement"),
        ("change_request", {"state": "0"}, "review"),
        ("change_request", {"state": "3", "close_code": "successful"}, "closed"),
        ("change_request", {"state": "3", "close_code": "unsuccessful"}, "failed"),
        ("change_request", {"state": "4"}, "cancelled"),
        ("change_request", {"state": "99"}, "state_99"),
    ],
)
async def test_get_maps_documented_states(table: str, fields: dict[str, str], status: str) -> None:
    kind = "change" if table == "change_request" else "escalation"
    async with servicenow() as (adapter, state):
        ticket = await adapter.open(opening(kind=kind, key=f"k-get-{table}"))
        state.update(table, ticket.ref.partition(":")[2], **fields)

        current = await adapter.get(ticket.ref)

        assert (current.ref, current.status, current.kind) == (ticket.ref, status, kind)


async def test_get_of_a_missing_record_is_permanent_not_found() -> None:
    async with servicenow() as (adapter, _):
        with pytest.raises(ApplicationError) as failure:
            await adapter.get(f"incident:{'a' * 32}")

        assert failure.value.type == "ServiceNowNotFound"
        assert failure.value.non_retryable
        assert "No Record found" in str(failure.value)


@pytest.mark.parametrize("ref", ["INC0010001", "incident:not-a-sys-id", "../sys_user:" + "a" * 32])
async def test_malformed_refs_are_refused_before_any_request(ref: str) -> None:
    async with servicenow() as (adapter, state):
        with pytest.raises(ApplicationError) as failure:
            await adapter.get(ref)

        assert failure.value.type == "ServiceNowBadRef"
        assert failure.value.non_retryable
        assert state.requests == []


async def test_the_adapter_is_a_ticketing_system() -> None:
    async with servicenow() as (adapter, _):
        system: TicketingSystem = adapter
        ticket = await system.open(opening(kind="escalation", key="k-protocol"))
        assert (await system.get(ticket.ref)).status == "new"


async def test_a_query_answered_404_counts_as_no_rows() -> None:
    # Table API v1 answers an empty query with 404 instead of an empty list.
    async with servicenow() as (adapter, state):
        state.fail_next(404, method="GET")

        ticket = await adapter.open(opening(kind="escalation", key="k-v1"))

        assert ticket.ref == f"incident:{state.records('incident')[0]['sys_id']}"


async def test_a_data_policy_refusal_is_permanent() -> None:
    # Without a resolution code the incident data policy refuses the close (403), which retrying cannot heal.
    async with servicenow(incident_close_code="") as (adapter, state):
        ticket = await adapter.open(opening(kind="escalation", key="k-policy"))

        with pytest.raises(ApplicationError) as failure:
            await adapter.close(CloseTicketInput(ref=ticket.ref, outcome="done"))

        assert failure.value.type == "ServiceNowForbidden"
        assert failure.value.non_retryable
        assert "Data Policy Exception" in str(failure.value)
        assert state.records("incident")[0]["state"] == "1"
