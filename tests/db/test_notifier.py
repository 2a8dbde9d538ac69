"""The notifier over a real PostgreSQL, a real SMTP server and chat receivers on loopback.

Each test records its own initiative with a notice, as ``record_events`` does for a workflow, and looks only
at what concerns that initiative (other tests' notices may be delivered by the same steps).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest_asyncio
from pydantic import SecretStr

from activities.channels import SmtpChannel, SmtpConfig, WebhookChannel
from activities.notifier import Notifier, delivery_id
from api.principals import Directory, GroupEntry
from db import events_repo
from schemas.events import EventKind, RecordEventsInput
from schemas.notifications import DailyDigest, Notice, NoticeKind, NotificationPolicy, QuietHours
from schemas.stages import Role, Stage
from tests.db.test_events_repo import event, snapshot
from tests.fakes.chat import ChatReceiver, chat_app
from tests.fakes.server import serve
from tests.fakes.smtp import Mailbox, smtp_server

Peers = tuple[Mailbox, ChatReceiver, list[SmtpChannel | WebhookChannel]]


@pytest_asyncio.fixture(loop_scope="session")
async def peers(pool: asyncpg.Pool) -> AsyncIterator[Peers]:
    """An SMTP server and the chat receivers, with a channel for each; no backlog of earlier tests' notices."""
    await pool.execute("UPDATE notices SET planned_at = now() WHERE planned_at IS NULL")
    await pool.execute("UPDATE notification_deliveries SET status = 'skipped' WHERE status IN ('pending', 'sending')")
    receiver = ChatReceiver()
    with smtp_server() as (mailbox, port):
        async with serve(chat_app(receiver)) as base:
            yield (
                mailbox,
                receiver,
                [
                    SmtpChannel(SmtpConfig(host="127.0.0.1", port=port, sender="liftoff@example.com")),
                    WebhookChannel("slack", SecretStr(f"{base}/slack/hook")),
                    WebhookChannel("teams", SecretStr(f"{base}/teams/hook")),
                ],
            )


def notifier(pool: asyncpg.Pool, channels: list[SmtpChannel | WebhookChannel], **kw: object) -> Notifier:
    return Notifier(
        pool,
        channels,
        ui_link=lambda wf: f"http://ui.test/workflows/{wf}",
        desk_url="http://api.test/desk",
        retry_base=timedelta(minutes=5),  # a retry is not due again within a test unless the test says so
        **kw,  # type: ignore[arg-type]
    )


async def recorded(
    pool: asyncpg.Pool,
    *,
    stage: Stage = Stage.PROPOSED,
    roles: list[str] | None = None,
    people: list[str] | None = None,
    kind: NoticeKind = NoticeKind.AWAITING,
) -> tuple[str, str, datetime]:
    """A new initiative awaiting ``roles`` with one notice (``awaiting``); (initiative id, notice id, visit)."""
    iid = f"n-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    roles = ["portfolio"] if roles is None else roles
    snap = snapshot(iid, stage=stage, stage_entered_at=now, submitted_at=now, awaiting_roles=roles)
    snap = snap.model_copy(update={"approvers_can_act": True, "due_at": now + timedelta(days=14)})
    notice = Notice(
        key=f"2-{kind.value}",
        kind=kind,
        stage=stage,
        visit=now,
        roles=roles,
        people=people if people is not None else ["paula@example.com"],
        action="approve",
        due_at=now + timedelta(days=14),
    )
    async with pool.acquire() as conn:
        await events_repo.record_events(
            conn,
            RecordEventsInput(
                events=[
                    event(iid, 1, EventKind.SUBMITTED, stage, at=now),
                    event(iid, 2, EventKind.STAGE_ENTERED, stage, at=now),
                ],
                snapshot=snap,
                notices=[notice],
            ),
        )
    return iid, f"initiative-{iid}/2-{kind.value}", now


async def moved(pool: asyncpg.Pool, iid: str, seq: int, **update: object) -> None:
    """A later snapshot of ``iid`` (another event), changed by ``update``."""
    now = datetime.now(UTC)
    base = snapshot(iid, stage_entered_at=now, submitted_at=now)
    async with pool.acquire() as conn:
        await events_repo.record_events(
            conn,
            RecordEventsInput(
                events=[event(iid, seq, EventKind.APPROVED, Stage.PROPOSED, at=now)],
                snapshot=base.model_copy(update=update),
            ),
        )


async def statuses(pool: asyncpg.Pool, notice_id: str) -> dict[tuple[str, str], str]:
    rows = await pool.fetch(
        "SELECT channel, recipient, status FROM notification_deliveries WHERE notice_id = $1", notice_id
    )
    return {(r["channel"], r["recipient"]): r["status"] for r in rows}


def mails_about(mailbox: Mailbox, iid: str) -> list[str]:
    """Recipients of the emails about initiative ``iid`` (they link to its signed-payload page)."""
    return [str(m["To"]) for _, m in mailbox.received if f"desk?initiative={iid}\n" in str(m.get_content())]


def chats_about(receiver: ChatReceiver, key: str) -> tuple[int, int]:
    return (sum(k == key for k, _ in receiver.slack), sum(k == key for k, _ in receiver.teams))


async def test_each_notice_reaches_each_recipient_and_channel_once(pool: asyncpg.Pool, peers: Peers) -> None:
    mailbox, receiver, channels = peers
    iid, notice, _ = await recorded(pool, people=["paula@example.com", "pete@example.com"])
    n = notifier(pool, channels)
    await n.step()
    assert await statuses(pool, notice) == {
        ("email", "paula@example.com"): "sent",
        ("email", "pete@example.com"): "sent",
        ("slack", "slack"): "sent",
        ("teams", "teams"): "sent",
    }
    [mail] = [m for _, m in mailbox.received if f"desk?initiative={iid}\n" in str(m.get_content())][:1]
    body = str(mail.get_content())
    assert "needs a decision as portfolio" in body  # what is needed
    assert "By: paula@example.com, pete@example.com." in body  # by whom
    assert "By when: " in body  # by when
    assert f"http://ui.test/workflows/initiative-{iid}" in body
    assert f"http://api.test/desk?initiative={iid}" in body
    assert chats_about(receiver, delivery_id(notice, "slack", "slack")) == (1, 0)
    assert chats_about(receiver, delivery_id(notice, "teams", "teams")) == (0, 1)

    # Again, and as a second notifier would plan it again: nothing is planned or sent twice.
    await pool.execute("UPDATE notices SET planned_at = NULL WHERE id = $1", notice)
    await notifier(pool, channels).step()
    await n.step()
    assert len(await statuses(pool, notice)) == 4
    assert sorted(mails_about(mailbox, iid)) == ["paula@example.com", "pete@example.com"]
    assert chats_about(receiver, delivery_id(notice, "slack", "slack")) == (1, 0)


async def test_nothing_goes_to_who_has_approved_or_for_a_gate_that_moved_on(pool: asyncpg.Pool, peers: Peers) -> None:
    mailbox, _, channels = peers
    email_only = [c for c in channels if c.name == "email"]
    # A joint sign-off: Olga approves before the notifier runs; Bob still owes his decision.
    roles = ["it_operations", "business_owner"]
    iid, notice, visit = await recorded(
        pool, stage=Stage.IT_SIGNOFF, roles=roles, people=["olga@example.com", "bob@example.com"]
    )
    await moved(
        pool,
        iid,
        3,
        stage=Stage.IT_SIGNOFF,
        stage_entered_at=visit,
        awaiting_roles=["business_owner"],
        approved_by=["olga@example.com"],
        approvers_can_act=True,
    )
    await notifier(pool, email_only).step()
    assert await statuses(pool, notice) == {
        ("email", "olga@example.com"): "skipped",
        ("email", "bob@example.com"): "sent",
    }
    assert mails_about(mailbox, iid) == ["bob@example.com"]

    # The gate closed (the initiative moved on) before delivery: nothing at all is sent.
    iid2, notice2, _ = await recorded(pool)
    await moved(pool, iid2, 3, stage=Stage.POC, awaiting_roles=["business_owner"])
    await notifier(pool, channels).step()
    assert set((await statuses(pool, notice2)).values()) == {"skipped"}
    assert mails_about(mailbox, iid2) == []
    reason = await pool.fetchval("SELECT last_error FROM notification_deliveries WHERE notice_id = $1", notice2)
    assert reason == "the gate has closed"


async def test_a_failing_channel_is_retried_with_backoff_under_one_key(pool: asyncpg.Pool, peers: Peers) -> None:
    mailbox, receiver, channels = peers
    slack = [c for c in channels if c.name == "slack"]
    iid, notice, _ = await recorded(pool)
    receiver.fail_next = 1
    n = notifier(pool, slack)
    await n.step()
    row = await pool.fetchrow(
        "SELECT status, attempts, next_attempt_at > now() + interval '4 minutes' AS later, last_error"
        " FROM notification_deliveries WHERE notice_id = $1",
        notice,
    )
    assert row is not None
    assert (row["status"], row["attempts"], row["later"]) == ("pending", 1, True)
    assert "503" in row["last_error"]
    health = await n.health()
    assert int(str(health["slack"]["waiting"])) >= 1
    assert "503" in str(health["slack"]["last_error"])

    await pool.execute("UPDATE notification_deliveries SET next_attempt_at = now() WHERE notice_id = $1", notice)
    await n.step()
    assert await statuses(pool, notice) == {("slack", "slack"): "sent"}
    assert chats_about(receiver, delivery_id(notice, "slack", "slack")) == (1, 0)
    assert receiver.attempts >= 2
    assert mails_about(mailbox, iid) == []  # email was not configured for this notifier


async def test_an_email_that_may_have_gone_out_is_not_sent_again(pool: asyncpg.Pool, peers: Peers) -> None:
    mailbox, _, channels = peers
    # The SMTP server takes the message but its answer is lost: unknown, never resent.
    iid, notice, _ = await recorded(pool)
    mailbox.drop_answers = 1
    n = notifier(pool, channels)
    await n.step()
    await pool.execute("UPDATE notification_deliveries SET next_attempt_at = now() WHERE notice_id = $1", notice)
    await n.step()
    assert (await statuses(pool, notice))[("email", "paula@example.com")] == "unknown"
    assert mails_about(mailbox, iid) == ["paula@example.com"]

    # A notifier died mid-send (the delivery stayed 'sending' past its lease): the email is not sent again,
    # the webhook is, with the same idempotency key (the receiver can tell it is the same message).
    iid2, notice2, _ = await recorded(pool)
    await n.plan()
    await pool.execute(
        "UPDATE notification_deliveries SET status = 'sending', attempts = 1, next_attempt_at = now()"
        " WHERE notice_id = $1",
        notice2,
    )
    await n.deliver()
    assert await statuses(pool, notice2) == {
        ("email", "paula@example.com"): "unknown",
        ("slack", "slack"): "sent",
        ("teams", "teams"): "sent",
    }
    assert mails_about(mailbox, iid2) == []


async def test_quiet_hours_hold_emails_but_not_chat(pool: asyncpg.Pool, peers: Peers) -> None:
    mailbox, receiver, channels = peers
    hour = datetime.now(UTC).hour
    quiet = NotificationPolicy(quiet_hours=QuietHours(start=hour, end=(hour + 2) % 24, timezone="UTC"))
    iid, notice, _ = await recorded(pool)
    await notifier(pool, channels, policy=quiet).step()
    held = await pool.fetchrow(
        "SELECT status, next_attempt_at FROM notification_deliveries WHERE notice_id = $1 AND channel = 'email'",
        notice,
    )
    assert held is not None
    assert held["status"] == "pending"
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    assert held["next_attempt_at"] == end
    assert mails_about(mailbox, iid) == []
    assert chats_about(receiver, delivery_id(notice, "slack", "slack")) == (1, 0)


async def test_a_delivery_that_cannot_be_sent_never_stops_the_others(pool: asyncpg.Pool, peers: Peers) -> None:
    mailbox, _, channels = peers
    email_only = [c for c in channels if c.name == "email"]
    # a roster can hold anything a workflow was started with: a line break in an address is not an address
    bad, bad_notice, _ = await recorded(pool, people=["eve@example.com\nBcc: all@example.com"])
    good, good_notice, _ = await recorded(pool)
    await notifier(pool, email_only).step()
    assert await statuses(pool, bad_notice) == {}  # nothing planned for it
    assert await statuses(pool, good_notice) == {("email", "paula@example.com"): "sent"}
    assert mails_about(mailbox, good) == ["paula@example.com"]
    assert mails_about(mailbox, bad) == []


async def test_a_delegate_receives_the_gate_notices_of_the_person_they_act_for(
    pool: asyncpg.Pool, peers: Peers
) -> None:
    mailbox, _, channels = peers
    iid, notice, _ = await recorded(pool, people=["paula@example.com", "pete@example.com", "pia@example.com"])

    async def delegates() -> dict[str, str]:  # paula and pia are both away: dana acts for them
        return {"paula@example.com": "dana@example.com", "pia@example.com": "dana@example.com"}

    await notifier(pool, channels, delegates=delegates).step()

    # dana gets one email for the gate (not one per person she acts for); pete, at his desk, gets his own
    sent = await statuses(pool, notice)
    assert {k: v for k, v in sent.items() if k[0] == "email"} == {
        ("email", "dana@example.com"): "sent",
        ("email", "pete@example.com"): "sent",
    }
    assert sorted(mails_about(mailbox, iid)) == ["dana@example.com", "pete@example.com"]
    [mail] = [m for _, m in mailbox.received if str(m["To"]) == "dana@example.com" and iid in str(m.get_content())]
    assert "You receive this as the delegate of paula@example.com." in str(mail.get_content())


async def test_a_team_notice_is_not_redirected_to_a_delegate(pool: asyncpg.Pool, peers: Peers) -> None:
    _, _, channels = peers
    iid, notice, _ = await recorded(pool, roles=[], people=["alice@example.com"])

    async def delegates() -> dict[str, str]:
        return {"alice@example.com": "dana@example.com"}

    await notifier(pool, channels[:1], delegates=delegates).step()
    assert await statuses(pool, notice) == {("email", "alice@example.com"): "sent"}, iid


async def test_a_delegate_who_approved_is_not_reminded_on_behalf_of_anyone(pool: asyncpg.Pool, peers: Peers) -> None:
    _, _, channels = peers
    iid, notice, _ = await recorded(pool, people=["paula@example.com"])
    await moved(pool, iid, 3, approved_by=["dana@example.com"], awaiting_roles=["portfolio"], approvers_can_act=True)

    async def delegates() -> dict[str, str]:
        return {"paula@example.com": "dana@example.com"}

    await notifier(pool, channels[:1], delegates=delegates).step()
    assert await statuses(pool, notice) == {("email", "dana@example.com"): "skipped"}


async def test_a_daily_digest_gathers_each_persons_emails_into_one_but_not_the_alarms(
    pool: asyncpg.Pool, peers: Peers
) -> None:
    mailbox, receiver, channels = peers
    hour = (datetime.now(UTC).hour + 3) % 24
    policy = NotificationPolicy(digest=DailyDigest(hour=hour, timezone="UTC"))
    first, first_notice, _ = await recorded(pool, people=["dina@example.com", "pete@example.com"])
    second, second_notice, _ = await recorded(pool, people=["dina@example.com"], kind=NoticeKind.REMINDER)
    alarm, _, _ = await recorded(pool, people=["dina@example.com"], kind=NoticeKind.STALLED)
    n = notifier(pool, channels, policy=policy)
    await n.step()

    # the stall goes now, by email and chat; the rest waits for the digest hour; chat is never held
    stalls = [m for _, m in mailbox.received if f"workflows/initiative-{alarm}\n" in str(m.get_content())]
    assert [str(m["To"]) for m in stalls] == ["dina@example.com"]
    assert mails_about(mailbox, first) == mails_about(mailbox, second) == []
    assert chats_about(receiver, delivery_id(first_notice, "slack", "slack")) == (1, 0)
    assert chats_about(receiver, delivery_id(first_notice, "teams", "teams")) == (0, 1)
    held = await pool.fetch(
        "SELECT recipient, next_attempt_at FROM notification_deliveries"
        " WHERE notice_id = ANY($1::text[]) AND channel = 'email' AND status = 'pending'",
        [first_notice, second_notice],
    )
    assert len(held) == 3
    due = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=3)
    assert {r["next_attempt_at"] for r in held} == {due if due.hour == hour else due + timedelta(days=1)}

    # the digest hour comes
    await pool.execute(
        "UPDATE notification_deliveries SET next_attempt_at = now() WHERE notice_id = ANY($1::text[])",
        [first_notice, second_notice],
    )
    await n.step()
    to_dina = [m for _, m in mailbox.received if str(m["To"]) == "dina@example.com" and "digest" in str(m["Subject"])]
    assert len(to_dina) == 1
    body = str(to_dina[0].get_content())
    assert str(to_dina[0]["Subject"]) == "liftoff daily digest: 2 things need your attention"
    assert f"desk?initiative={first}\n" in body
    assert f"desk?initiative={second}\n" in body
    assert "Reminder: " in body
    assert alarm not in body  # sent already, not again
    # pete had one thing: his digest is that one message as it would have gone
    assert mails_about(mailbox, first).count("pete@example.com") == 1
    statuses_now = {**await statuses(pool, first_notice), **await statuses(pool, second_notice)}
    assert {k: v for k, v in statuses_now.items() if k[0] == "email"} == {
        ("email", "dina@example.com"): "sent",
        ("email", "pete@example.com"): "sent",
    }
    assert len([1 for _, m in mailbox.received if str(m["To"]) == "dina@example.com"]) == 2  # the alarm, the digest


async def test_an_unknown_time_zone_in_the_policy_falls_back_to_utc(pool: asyncpg.Pool, peers: Peers) -> None:
    _, _, channels = peers
    policy = NotificationPolicy(quiet_hours=QuietHours(start=0, end=0, timezone="Mars/Olympus_Mons"))
    iid, notice, _ = await recorded(pool, people=["paula@example.com"])
    await notifier(pool, channels[:1], policy=policy).step()
    assert await statuses(pool, notice) == {("email", "paula@example.com"): "sent"}, iid


async def test_with_an_identity_provider_email_goes_to_the_group_address_of_the_role(
    pool: asyncpg.Pool, peers: Peers
) -> None:
    mailbox, _, channels = peers
    groups = Directory(
        [],
        [
            GroupEntry(group="ai-board", roles=[Role.PORTFOLIO], email="ai-board@example.com"),
            GroupEntry(group="ai-board-deputies", roles=[Role.PORTFOLIO, Role.SECURITY], email="deputies@example.com"),
            GroupEntry(group="security", roles=[Role.SECURITY], email="sec@example.com"),
            GroupEntry(group="no-list", roles=[Role.PORTFOLIO]),
        ],
    )
    # with an identity provider the roster is empty: the notice names roles, not people
    iid, notice, _ = await recorded(pool, people=[])
    await notifier(pool, channels[:1], role_addresses=groups.addresses_for).step()

    assert await statuses(pool, notice) == {
        ("email", "ai-board@example.com"): "sent",
        ("email", "deputies@example.com"): "sent",
    }
    assert sorted(mails_about(mailbox, iid)) == ["ai-board@example.com", "deputies@example.com"]
