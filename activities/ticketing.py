"""Ticketing: the protocol, the built-in adapter (the ``tickets`` table) and the activities."""

from __future__ import annotations

import uuid
from typing import Protocol

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.metrics import adapter_call
from db.queries import sql
from schemas.integrations import CloseTicketInput, OpenTicketInput, ResourceRef, Ticket


class TicketingSystem(Protocol):
    """Anything that can hold liftoff's tickets (built-in table, Jira, ServiceNow)."""

    async def open(self, inp: OpenTicketInput) -> Ticket:
        """Open a ticket, or return the one already opened with the same idempotency key."""
        ...

    async def close(self, inp: CloseTicketInput) -> Ticket:
        """Close (transition) a ticket with an outcome; closing twice is harmless."""
        ...

    async def comment(self, ref: str, text: str) -> None:
        """Add a comment (work note) to a ticket."""
        ...

    async def get(self, ref: str) -> Ticket:
        """The ticket's current status (the polling fallback when no webhook comes)."""
        ...


class BuiltinTicketing:
    """Tickets kept in liftoff's own PostgreSQL; needs nothing else running."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def open(self, inp: OpenTicketInput) -> Ticket:
        """Insert the ticket unless its idempotency key exists."""
        ref = f"LIFT-{uuid.uuid5(uuid.NAMESPACE_URL, inp.idempotency_key).hex[:10].upper()}"
        row = await self._pool.fetchrow(
            sql("ticket_open"), ref, inp.idempotency_key, inp.initiative_id, inp.kind, inp.title, inp.body
        )
        if row is None:  # a concurrent open won the race between our insert and our read
            row = await self._pool.fetchrow("SELECT ref, system, status, kind FROM tickets WHERE ref = $1", ref)
        if row is None:
            msg = f"ticket {ref} vanished after being opened"
            raise RuntimeError(msg)
        return Ticket.model_validate(dict(row))

    async def close(self, inp: CloseTicketInput) -> Ticket:
        """Set the ticket's final status."""
        row = await self._pool.fetchrow(sql("ticket_close"), inp.ref, inp.outcome, inp.comment)
        if row is None:
            msg = f"no ticket {inp.ref}"
            raise ApplicationError(msg, type="TicketNotFound", non_retryable=True)
        return Ticket.model_validate(dict(row))

    async def comment(self, ref: str, text: str) -> None:
        """Append a comment."""
        row = await self._pool.fetchrow(
            "UPDATE tickets SET comments = comments || jsonb_build_array($2::text) WHERE ref = $1 RETURNING ref",
            ref,
            text,
        )
        if row is None:
            msg = f"no ticket {ref}"
            raise ApplicationError(msg, type="TicketNotFound", non_retryable=True)

    async def get(self, ref: str) -> Ticket:
        """Read the ticket."""
        row = await self._pool.fetchrow(sql("ticket_get"), ref)
        if row is None:
            msg = f"no ticket {ref}"
            raise ApplicationError(msg, type="TicketNotFound", non_retryable=True)
        return Ticket.model_validate(dict(row))


class TicketingActivities:
    """Activities over whichever ticketing system the worker was built with."""

    def __init__(self, system: TicketingSystem) -> None:
        self._system = system

    @activity.defn(name="open_ticket")
    async def open_ticket(self, inp: OpenTicketInput) -> Ticket:
        """Open (idempotently) a ticket."""
        with adapter_call(self._system, "open"):
            ticket = await self._system.open(inp)
        activity.logger.info("ticket opened", extra={"ref": ticket.ref, "kind": inp.kind})
        return ticket

    @activity.defn(name="get_ticket")
    async def get_ticket(self, inp: ResourceRef) -> Ticket:
        """Read a ticket's state (the polling fallback when no webhook arrives)."""
        with adapter_call(self._system, "get"):
            return await self._system.get(inp.ref)

    @activity.defn(name="close_ticket")
    async def close_ticket(self, inp: CloseTicketInput) -> Ticket:
        """Close a ticket with an outcome."""
        with adapter_call(self._system, "close"):
            ticket = await self._system.close(inp)
        activity.logger.info("ticket closed", extra={"ref": ticket.ref, "outcome": inp.outcome})
        return ticket
