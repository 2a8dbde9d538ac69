"""The built-in ticketing and provisioning adapters over the session's PostgreSQL (they commit)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError

from activities.provisioning import BuiltinProvisioner
from activities.ticketing import BuiltinTicketing
from schemas.integrations import CloseTicketInput, DeprovisionInput, OpenTicketInput, ProvisionInput


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def ticket_input(initiative_id: str, key: str) -> OpenTicketInput:
    return OpenTicketInput(
        initiative_id=initiative_id,
        idempotency_key=key,
        kind="change",
        title="Roll out churn prediction",
        body="Production change for the initiative",
    )


def provision_input(initiative_id: str, key: str, *, ttl_seconds: int | None = None) -> ProvisionInput:
    return ProvisionInput(
        initiative_id=initiative_id,
        idempotency_key=key,
        environment="sandbox",
        gpu_type="nvidia-l4",
        gpu_count=2,
        storage_tb=1.5,
        budget_usd=1200.5,
        ttl_seconds=ttl_seconds,
    )


# ------------------------------------------------------------------ ticketing


async def test_open_ticket_records_an_open_builtin_ticket(pool: asyncpg.Pool) -> None:
    iid, key = unique("init"), unique("key")

    ticket = await BuiltinTicketing(pool).open(ticket_input(iid, key))

    assert ticket.ref.startswith("LIFT-")
    assert (ticket.system, ticket.status, ticket.kind) == ("builtin", "open", "change")
    row = await pool.fetchrow(
        "SELECT initiative_id, idempotency_key, title, body, status, closed_at, comments FROM tickets WHERE ref = $1",
        ticket.ref,
    )
    assert row is not None
    assert dict(row) == {
        "initiative_id": iid,
        "idempotency_key": key,
        "title": "Roll out churn prediction",
        "body": "Production change for the initiative",
        "status": "open",
        "closed_at": None,
        "comments": [],
    }


async def test_open_ticket_twice_with_the_same_key_returns_the_same_ticket(pool: asyncpg.Pool) -> None:
    ticketing = BuiltinTicketing(pool)
    iid, key = unique("init"), unique("key")

    first = await ticketing.open(ticket_input(iid, key))
    second = await ticketing.open(ticket_input(iid, key))

    assert second == first
    assert await pool.fetchval("SELECT count(*) FROM tickets WHERE idempotency_key = $1", key) == 1


async def test_open_ticket_with_different_keys_opens_different_tickets(pool: asyncpg.Pool) -> None:
    ticketing = BuiltinTicketing(pool)
    iid = unique("init")

    first = await ticketing.open(ticket_input(iid, unique("key")))
    second = await ticketing.open(ticket_input(iid, unique("key")))

    assert first.ref != second.ref
    assert await pool.fetchval("SELECT count(*) FROM tickets WHERE initiative_id = $1", iid) == 2


async def test_concurrent_opens_with_the_same_key_leave_one_ticket(pool: asyncpg.Pool) -> None:
    ticketing = BuiltinTicketing(pool)
    iid, key = unique("init"), unique("key")

    tickets = await asyncio.gather(*(ticketing.open(ticket_input(iid, key)) for _ in range(5)))

    assert len({t.ref for t in tickets}) == 1
    assert await pool.fetchval("SELECT count(*) FROM tickets WHERE idempotency_key = $1", key) == 1


async def test_close_ticket_sets_status_and_appends_the_comment(pool: asyncpg.Pool) -> None:
    ticketing = BuiltinTicketing(pool)
    opened = await ticketing.open(ticket_input(unique("init"), unique("key")))

    closed = await ticketing.close(CloseTicketInput(ref=opened.ref, outcome="done", comment="rolled out"))

    assert (closed.ref, closed.status, closed.system, closed.kind) == (opened.ref, "done", "builtin", "change")
    row = await pool.fetchrow("SELECT status, closed_at, comments FROM tickets WHERE ref = $1", opened.ref)
    assert row is not None
    assert row["status"] == "done"
    assert isinstance(row["closed_at"], datetime)
    assert row["comments"] == ["rolled out"]


async def test_close_ticket_without_comment_appends_nothing(pool: asyncpg.Pool) -> None:
    ticketing = BuiltinTicketing(pool)
    opened = await ticketing.open(ticket_input(unique("init"), unique("key")))

    await ticketing.close(CloseTicketInput(ref=opened.ref, outcome="cancelled"))

    row = await pool.fetchrow("SELECT status, comments FROM tickets WHERE ref = $1", opened.ref)
    assert row is not None
    assert (row["status"], row["comments"]) == ("cancelled", [])


async def test_closing_twice_keeps_the_first_closed_at(pool: asyncpg.Pool) -> None:
    ticketing = BuiltinTicketing(pool)
    opened = await ticketing.open(ticket_input(unique("init"), unique("key")))

    await ticketing.close(CloseTicketInput(ref=opened.ref, outcome="failed"))
    first_closed_at = await pool.fetchval("SELECT closed_at FROM tickets WHERE ref = $1", opened.ref)
    again = await ticketing.close(CloseTicketInput(ref=opened.ref, outcome="failed"))

    assert again.status == "failed"
    assert await pool.fetchval("SELECT closed_at FROM tickets WHERE ref = $1", opened.ref) == first_closed_at


async def test_closing_an_unknown_ticket_is_a_non_retryable_error(pool: asyncpg.Pool) -> None:
    ref = f"LIFT-{uuid.uuid4().hex[:10].upper()}"

    with pytest.raises(ApplicationError) as raised:
        await BuiltinTicketing(pool).close(CloseTicketInput(ref=ref, outcome="done"))

    assert raised.value.type == "TicketNotFound"
    assert raised.value.non_retryable is True
    assert ref in str(raised.value)


# ------------------------------------------------------------------ provisioning


async def test_provision_records_a_ready_builtin_resource(pool: asyncpg.Pool) -> None:
    iid, key = unique("init"), unique("key")

    resource = await BuiltinProvisioner(pool).provision(provision_input(iid, key))

    assert resource.ref.startswith("env-")
    assert (resource.provider, resource.environment, resource.status) == ("builtin", "sandbox", "ready")
    assert resource.cost_usd == pytest.approx(1200.5)
    row = await pool.fetchrow(
        "SELECT initiative_id, idempotency_key, spec, expires_at, deprovisioned_at"
        " FROM provisioned_resources WHERE ref = $1",
        resource.ref,
    )
    assert row is not None
    assert dict(row) == {
        "initiative_id": iid,
        "idempotency_key": key,
        "spec": {"gpu_type": "nvidia-l4", "gpu_count": 2, "storage_tb": 1.5},
        "expires_at": None,
        "deprovisioned_at": None,
    }


async def test_provision_twice_with_the_same_key_returns_the_same_resource(pool: asyncpg.Pool) -> None:
    provisioner = BuiltinProvisioner(pool)
    iid, key = unique("init"), unique("key")

    first = await provisioner.provision(provision_input(iid, key))
    second = await provisioner.provision(provision_input(iid, key))

    assert second == first
    assert await pool.fetchval("SELECT count(*) FROM provisioned_resources WHERE idempotency_key = $1", key) == 1


async def test_concurrent_provisions_with_the_same_key_leave_one_resource(pool: asyncpg.Pool) -> None:
    provisioner = BuiltinProvisioner(pool)
    iid, key = unique("init"), unique("key")

    resources = await asyncio.gather(*(provisioner.provision(provision_input(iid, key)) for _ in range(5)))

    assert len({r.ref for r in resources}) == 1
    assert await pool.fetchval("SELECT count(*) FROM provisioned_resources WHERE idempotency_key = $1", key) == 1


async def test_provision_with_ttl_sets_expires_at_in_the_future(pool: asyncpg.Pool) -> None:
    before = datetime.now(UTC)

    resource = await BuiltinProvisioner(pool).provision(
        provision_input(unique("init"), unique("key"), ttl_seconds=3600)
    )

    after = datetime.now(UTC)
    expires_at = await pool.fetchval("SELECT expires_at FROM provisioned_resources WHERE ref = $1", resource.ref)
    assert isinstance(expires_at, datetime)
    assert before + timedelta(seconds=3600) <= expires_at <= after + timedelta(seconds=3600)


async def test_deprovision_marks_the_resource_deprovisioned(pool: asyncpg.Pool) -> None:
    provisioner = BuiltinProvisioner(pool)
    created = await provisioner.provision(provision_input(unique("init"), unique("key")))

    gone = await provisioner.deprovision(DeprovisionInput(ref=created.ref, reason="initiative scrapped"))

    assert (gone.ref, gone.status, gone.provider, gone.environment) == (
        created.ref,
        "deprovisioned",
        "builtin",
        "sandbox",
    )
    row = await pool.fetchrow(
        "SELECT status, deprovisioned_at FROM provisioned_resources WHERE ref = $1",
        created.ref,
    )
    assert row is not None
    assert row["status"] == "deprovisioned"
    assert isinstance(row["deprovisioned_at"], datetime)


async def test_deprovisioning_twice_keeps_the_first_deprovisioned_at(pool: asyncpg.Pool) -> None:
    provisioner = BuiltinProvisioner(pool)
    created = await provisioner.provision(provision_input(unique("init"), unique("key")))

    await provisioner.deprovision(DeprovisionInput(ref=created.ref))
    first = await pool.fetchval("SELECT deprovisioned_at FROM provisioned_resources WHERE ref = $1", created.ref)
    again = await provisioner.deprovision(DeprovisionInput(ref=created.ref))

    assert again.status == "deprovisioned"
    assert (
        await pool.fetchval("SELECT deprovisioned_at FROM provisioned_resources WHERE ref = $1", created.ref) == first
    )


async def test_deprovisioning_an_unknown_resource_is_a_non_retryable_error(pool: asyncpg.Pool) -> None:
    ref = f"env-{uuid.uuid4().hex[:12]}"

    with pytest.raises(ApplicationError) as raised:
        await BuiltinProvisioner(pool).deprovision(DeprovisionInput(ref=ref))

    assert raised.value.type == "ResourceNotFound"
    assert raised.value.non_retryable is True
    assert ref in str(raised.value)
