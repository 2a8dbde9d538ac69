"""The notifier: turns recorded notices into deliveries and sends them, each exactly once in effect.

It runs beside the API (which knows the principals file for group addresses, and its own and the Web UI's
URLs for links), in a loop of two steps, both safe with several API processes (``FOR UPDATE SKIP LOCKED``):

1. **plan**: each new notice becomes one delivery per recipient and channel, under an id derived from
   (notice, channel, recipient): planning twice plans nothing new. Email goes to each person the notice
   names (or, with none, to the group addresses of its roles), or to their delegate while a delegation
   lasts; chat goes once to the channel.
2. **deliver**: a due delivery is claimed (status ``sending``, a lease), checked against where its
   initiative stands now (a gate that has moved on, or a recipient who has approved, is ``skipped``), sent,
   and its outcome recorded. A failure is retried with exponential backoff up to ``max_attempts``; a claimed
   email whose attempt never finished (the process died mid-send) is marked ``unknown`` instead of sent
   again, since SMTP has no idempotency key; a webhook is sent again with the same ``Idempotency-Key``.

A failing channel never touches the initiative: its deliveries wait and retry here, counted in the
``liftoff_notifications`` metric and shown in ``/readyz``'s details.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
import structlog
from temporalio.common import MetricMeter

from activities.channels import Channel, DeliveryError
from activities.messages import render, render_digest
from db import notifications_repo as repo
from schemas.notifications import NotificationPolicy

log = structlog.get_logger(__name__)

#: Notices older than this when first planned are not sent (e.g. recorded while no channel was configured).
MAX_AGE = timedelta(days=1)
#: How long a claimed delivery is this notifier's before another may take it over.
LEASE = timedelta(minutes=2)
#: What may go in an email's To: one address, no spaces or line breaks (people's emails come from rosters).
_ADDRESS = re.compile(r"[^@\s]{1,200}@[^@\s]{1,200}")
#: Notices that concern a gate still waiting: skipped once the gate has moved on.
_GATE_KINDS = frozenset({"awaiting", "reminder", "team_action"})


#: What a daily digest gathers; stalls and escalations are alarms and go at once.
_DIGESTED = frozenset({"awaiting", "reminder", "team_action", "decided"})


@dataclass(frozen=True)
class _Ready:
    """A claimed delivery that should go out, with its channel and its notice as things stand now."""

    d: repo.Claimed
    channel: Channel
    ctx: repo.DeliveryContext


def _zone(name: str) -> ZoneInfo:
    """The policy's time zone; UTC (and a warning) for a name this machine does not know."""
    try:
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        log.warning("unknown time zone in the notification policy; using UTC", timezone=name)
        return ZoneInfo("UTC")


def _next(now: datetime, hour: int, zone: ZoneInfo) -> datetime:
    """The next time (after ``now``) the clock in ``zone`` shows ``hour``:00, in UTC."""
    local = now.astimezone(zone)
    at = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if at <= local:
        at += timedelta(days=1)
    return at.astimezone(UTC)


async def _nobody_delegates() -> Mapping[str, str]:
    return {}


def delivery_id(notice_id: str, channel: str, recipient: str) -> str:
    """The deterministic id of one delivery (also its Message-ID and idempotency key)."""
    return hashlib.sha256(f"{notice_id}\x00{channel}\x00{recipient.lower()}".encode()).hexdigest()[:40]


class Notifier:
    """Plans and sends the deliveries of recorded notices over the configured channels."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        channels: Sequence[Channel],
        *,
        ui_link: Callable[[str], str],
        desk_url: str,
        role_addresses: Callable[[str], list[str]] | None = None,
        delegates: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
        policy: NotificationPolicy | None = None,
        meter: MetricMeter | None = None,
        max_attempts: int = 8,
        retry_base: timedelta = timedelta(seconds=5),
        interval: float = 1.0,
    ) -> None:
        self._pool = pool
        self._channels = {c.name: c for c in channels}
        self._ui_link = ui_link
        self._desk_url = desk_url
        self._role_addresses = role_addresses or (lambda _role: [])
        self._delegates = delegates or _nobody_delegates
        self._policy = policy or NotificationPolicy()
        self._max_attempts = max_attempts
        self._retry_base = retry_base
        self._interval = interval
        self._outcomes = (meter or MetricMeter.noop).create_counter(
            "liftoff_notifications", "Notification deliveries by channel and outcome (sent, retry, failed, …)"
        )

    @property
    def channels(self) -> list[str]:
        """The configured channels' names."""
        return sorted(self._channels)

    async def run(self, stop: asyncio.Event) -> None:
        """Plan and deliver until ``stop`` is set; a database outage pauses it, never ends it."""
        log.info("notifier started", channels=self.channels)
        while not stop.is_set():
            try:
                await self.step()
            except (OSError, asyncpg.PostgresError) as err:
                log.warning("notifier paused: the database is unavailable", error=type(err).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
        log.info("notifier stopped")

    async def step(self) -> tuple[int, int]:
        """One round: plan new notices, then attempt the due deliveries; returns (planned, attempted)."""
        planned = await self.plan()
        attempted = await self.deliver()
        return planned, attempted

    # ------------------------------------------------------------------ plan

    async def plan(self, limit: int = 100) -> int:
        """Plan the deliveries of new notices; returns how many notices were planned."""
        await repo.expire(self._pool, MAX_AGE.total_seconds())
        delegates = await self._delegates()
        async with self._pool.acquire() as conn, conn.transaction():
            notices = await repo.unplanned(conn, limit)
            for notice in notices:
                await repo.plan(conn, notice.id, self._deliveries(notice, delegates))
        return len(notices)

    def _deliveries(self, notice: repo.PlannedNotice, delegates: Mapping[str, str]) -> list[repo.Delivery]:
        now = datetime.now(UTC)
        deliveries: list[repo.Delivery] = []
        if "email" in self._channels:
            named = list(notice.people) or sorted({a for r in notice.roles for a in self._role_addresses(r)})
            emails = [e for e in named if _ADDRESS.fullmatch(e)]
            if len(emails) < len(named):
                log.warning("notice names addresses that are not email addresses", notice=notice.id)
            at = self._email_time(now, notice.kind)
            by_id: dict[str, repo.Delivery] = {}
            for email in emails:
                # A gate's notice for someone away goes to their delegate, who may decide for them.
                delegate = delegates.get(email) if notice.roles else None
                recipient = delegate if delegate and _ADDRESS.fullmatch(delegate) else email
                key = delivery_id(notice.id, "email", recipient)
                by_id.setdefault(
                    key,
                    repo.Delivery(
                        id=key,
                        notice_id=notice.id,
                        channel="email",
                        recipient=recipient,
                        on_behalf_of=email if recipient != email else None,
                        next_attempt_at=at,
                    ),
                )
            deliveries += by_id.values()
        deliveries += [
            repo.Delivery(
                id=delivery_id(notice.id, name, name),
                notice_id=notice.id,
                channel=name,
                recipient=name,
                on_behalf_of=None,
                next_attempt_at=now,
            )
            for name in sorted(self._channels)
            if name != "email"
        ]
        return deliveries

    def _email_time(self, now: datetime, kind: str) -> datetime:
        """Now; or the next digest, for what a digest gathers; or the end of quiet hours when now is inside them."""
        digest = self._policy.digest
        if digest is not None and kind in _DIGESTED:
            return _next(now, digest.hour, _zone(digest.timezone))
        quiet = self._policy.quiet_hours
        if quiet is None:
            return now
        zone = _zone(quiet.timezone)
        if not quiet.covers(now.astimezone(zone).hour):
            return now
        return _next(now, quiet.end, zone)

    # ------------------------------------------------------------------ deliver

    async def deliver(self, limit: int = 50) -> int:
        """Attempt the due deliveries; returns how many were attempted (sent, skipped or failed).

        With a daily digest, the due emails it gathers go out as one message per recipient.
        """
        claimed = await repo.claim(self._pool, limit, LEASE.total_seconds())
        digests: dict[str, list[_Ready]] = {}
        for delivery in claimed:
            async with self._guard([delivery]):
                ready = await self._ready(delivery)
                if ready is None:
                    continue
                if self._policy.digest is not None and ready.d.channel == "email" and ready.ctx.kind in _DIGESTED:
                    digests.setdefault(ready.d.recipient, []).append(ready)
                else:
                    await self._send([ready])
        for gathered in digests.values():
            async with self._guard([r.d for r in gathered]):
                await self._send(gathered)
        return len(claimed)

    @contextlib.asynccontextmanager
    async def _guard(self, deliveries: list[repo.Claimed]) -> AsyncIterator[None]:
        """One bad delivery never stops the others; a database failure does (the leases run out, and retry)."""
        try:
            yield
        except (OSError, asyncpg.PostgresError):
            raise
        except Exception as err:
            log.exception("notification could not be prepared", delivery=deliveries[0].id, count=len(deliveries))
            for d in deliveries:
                await self._finish(d, "failed", f"could not be prepared: {type(err).__name__}")

    async def _ready(self, d: repo.Claimed) -> _Ready | None:
        """The delivery with its channel and notice, or None when it was settled here (skipped, unknown)."""
        channel = self._channels.get(d.channel)
        ctx = await repo.context(self._pool, d.notice_id)
        skip = "the channel is no longer configured" if channel is None else self._stale(ctx, d)
        if skip is not None:
            await self._finish(d, "skipped", skip)
            return None
        assert channel is not None  # for the type checker: skip covers it
        assert ctx is not None
        if d.was == "sending" and d.channel == "email":
            # An earlier attempt began and never recorded its outcome: the server may have the message.
            await self._finish(d, "unknown", "an earlier attempt was interrupted; not sent again")
            return None
        return _Ready(d, channel, ctx)

    async def _send(self, items: list[_Ready]) -> None:
        """Send one message (a digest when several) to the items' recipient, and record each item's outcome."""
        first = items[0]
        if len(items) == 1:
            message = render(
                first.ctx,
                first.d.id,
                ui_link=self._ui_link(first.ctx.workflow_id),
                desk_url=self._desk_url,
                on_behalf_of=first.d.on_behalf_of,
            )
        else:
            message = render_digest(
                [(r.ctx, r.d.id, r.d.on_behalf_of) for r in items], ui_link=self._ui_link, desk_url=self._desk_url
            )
        try:
            await first.channel.send(message, first.d.recipient)
        except DeliveryError as err:
            for r in items:
                await self._failed(r.d, err)
            return
        for r in items:
            await self._finish(r.d, "sent")

    def _stale(self, ctx: repo.DeliveryContext | None, d: repo.Claimed) -> str | None:  # noqa: PLR0911 - one rule each
        """Why this delivery should not go out any more, or None."""
        if ctx is None:
            return "the notice is gone"
        if ctx.kind not in _GATE_KINDS:
            return None
        if ctx.stage_now != ctx.stage or ctx.visit_now != ctx.visit:
            return "the gate has closed"
        if ctx.status_now not in ("active", "stalled"):
            return f"the initiative is {ctx.status_now}"
        if ctx.kind == "team_action" and ctx.team_action_now != ctx.action:
            return "the team has done it"
        # A delegate who has approved in their own name may not approve for someone else too, and vice versa.
        for person in (d.on_behalf_of, d.recipient):
            if person is not None and person in ctx.approved_by:
                return f"{person} has already approved"
        if ctx.roles and not set(ctx.roles) & set(ctx.awaiting_now):
            return "the roles have decided"
        return None

    async def _failed(self, d: repo.Claimed, err: DeliveryError) -> None:
        if err.kind == "ambiguous":
            await self._finish(d, "unknown", str(err))
        elif err.kind == "permanent" or d.attempts >= self._max_attempts:
            await self._finish(d, "failed", str(err))
        else:
            retry_at = datetime.now(UTC) + self._retry_base * 2 ** (d.attempts - 1)
            await self._finish(d, "pending", str(err), retry_at)
        log.warning(
            "notification not delivered",
            channel=d.channel,
            delivery=d.id,
            attempt=d.attempts,
            kind=err.kind,
            error=str(err)[:300],
        )

    async def _finish(
        self, d: repo.Claimed, status: str, why: str | None = None, retry_at: datetime | None = None
    ) -> None:
        await repo.finish(self._pool, d.id, status, why, retry_at)
        outcome = "retry" if status == "pending" else status
        self._outcomes.add(1, {"channel": d.channel, "outcome": outcome})
        if status == "sent":
            log.info("notification sent", channel=d.channel, delivery=d.id, notice=d.notice_id)

    async def health(self) -> dict[str, dict[str, object]]:
        """Per configured channel over the last day: waiting, failed, unknown, last success, last error."""
        rows = {h.channel: h for h in await repo.health(self._pool)}
        report: dict[str, dict[str, object]] = {}
        for name in self.channels:
            h = rows.get(name)
            report[name] = {
                "waiting": h.waiting if h else 0,
                "failed": h.failed if h else 0,
                "unknown": h.unknown if h else 0,
                "last_sent_at": h.last_sent_at.isoformat() if h and h.last_sent_at else None,
                "last_error": h.last_error if h else None,
            }
        return report
