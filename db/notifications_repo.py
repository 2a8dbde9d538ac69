"""Notices and their deliveries (``notices``, ``notification_deliveries``): planning, claiming, outcomes."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from pydantic import BaseModel, ConfigDict

from db.pool import Conn
from db.queries import sql


class NoticeRow(BaseModel):
    """A notice's columns, with its initiative's title, team and workflow id."""

    model_config = ConfigDict(frozen=True)

    initiative_id: str
    kind: str
    stage: str
    visit: datetime
    roles: list[str]
    people: list[str]
    action: str
    due_at: datetime | None
    detail: str
    title: str
    team: str
    workflow_id: str


class PlannedNotice(NoticeRow):
    """A notice to plan deliveries for."""

    id: str
    created_at: datetime


class Delivery(BaseModel):
    """One planned delivery: a notice to a recipient over a channel."""

    model_config = ConfigDict(frozen=True)

    id: str
    notice_id: str
    channel: str
    recipient: str
    on_behalf_of: str | None
    next_attempt_at: datetime


class Claimed(BaseModel):
    """A delivery this notifier may attempt now; ``was`` is ``sending`` when an attempt never finished."""

    model_config = ConfigDict(frozen=True)

    id: str
    notice_id: str
    channel: str
    recipient: str
    on_behalf_of: str | None
    attempts: int
    was: str


class DeliveryContext(NoticeRow):
    """A delivery's notice, and where its initiative stands now."""

    notice_id: str
    stage_now: str
    visit_now: datetime
    status_now: str
    approved_by: list[str]
    team_action_now: str | None
    awaiting_now: list[str]


class ChannelHealth(BaseModel):
    """How a channel has done over the last day."""

    model_config = ConfigDict(frozen=True)

    channel: str
    waiting: int
    failed: int
    unknown: int
    last_sent_at: datetime | None
    last_error: str | None


async def expire(conn: Conn | asyncpg.Pool, older_than_seconds: float) -> int:
    """Mark notices too old to send as planned (nothing is delivered for them); returns how many."""
    status = await conn.execute(sql("notices_expire"), older_than_seconds)
    return int(status.split()[-1])


async def unplanned(conn: Conn, limit: int) -> list[PlannedNotice]:
    """Notices to plan, locked until the caller's transaction ends (call inside one)."""
    rows = await conn.fetch(sql("notices_unplanned"), limit)
    return [PlannedNotice.model_validate(dict(r)) for r in rows]


async def plan(conn: Conn, notice_id: str, deliveries: list[Delivery]) -> None:
    """Insert the notice's deliveries (a second plan inserts nothing) and mark it planned."""
    for d in deliveries:
        await conn.execute(
            sql("delivery_plan"), d.id, d.notice_id, d.channel, d.recipient, d.on_behalf_of, d.next_attempt_at
        )
    await conn.execute(sql("notice_planned"), notice_id)


async def claim(conn: Conn | asyncpg.Pool, limit: int, lease_seconds: float) -> list[Claimed]:
    """Take up to ``limit`` due deliveries for ``lease_seconds``."""
    rows = await conn.fetch(sql("delivery_claim"), limit, lease_seconds)
    return [Claimed.model_validate(dict(r)) for r in rows]


async def context(conn: Conn | asyncpg.Pool, notice_id: str) -> DeliveryContext | None:
    """The notice of a delivery and its initiative now."""
    row = await conn.fetchrow(sql("delivery_context"), notice_id)
    return DeliveryContext.model_validate(dict(row)) if row else None


async def finish(
    conn: Conn | asyncpg.Pool, delivery_id: str, status: str, error: str | None = None, retry_at: datetime | None = None
) -> None:
    """Record an attempt's outcome."""
    await conn.execute(sql("delivery_finish"), delivery_id, status, error, retry_at)


async def health(conn: Conn | asyncpg.Pool) -> list[ChannelHealth]:
    """Per channel over the last day."""
    rows = await conn.fetch(sql("delivery_health"))
    return [ChannelHealth.model_validate(dict(r)) for r in rows]
