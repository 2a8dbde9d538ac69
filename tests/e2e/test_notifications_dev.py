"""``liftoff dev`` with email and Slack configured and a short SLA: the approver is told, reminded, then left alone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.api.conftest import submission
from tests.e2e.test_liftoff_dev import DevStack, start_dev
from tests.fakes.chat import ChatReceiver, chat_app
from tests.fakes.server import serve
from tests.fakes.smtp import Mailbox, smtp_server

PAULA = "paula@demo.liftoff"  # the demo's portfolio approver
BOB = "bob@demo.liftoff"  # the demo's business owner, Paula's delegate here


def subjects(mailbox: Mailbox, to: str, title: str) -> list[str]:
    return [str(m["Subject"]) for m in mailbox.to(to) if title in str(m["Subject"])]


async def a_delegate_is_told_and_approves(http: httpx.AsyncClient, stack: DevStack, mailbox: Mailbox) -> None:
    """Paula names Bob: the next gate's email goes to him, he sees it in his queue and approves for her."""
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    named = await http.put("/v1/me/delegate", json={"to": BOB, "until": until}, headers=stack.auth("paula"))
    assert named.status_code == 200, named.text
    other = "Delegated initiative"
    created = await http.post("/v1/initiatives", json=submission(title=other), headers=stack.auth("alice"))
    assert created.status_code == 201, created.text
    second = created.json()["id"]
    for _ in range(100):
        if subjects(mailbox, BOB, other):
            break
        await asyncio.sleep(0.1)
    assert subjects(mailbox, BOB, other) == [f"{other} needs a decision (proposed)"]
    assert subjects(mailbox, PAULA, other) == []
    [to_bob] = [m for m in mailbox.to(BOB) if other in str(m["Subject"])]
    assert f"You receive this as the delegate of {PAULA}." in to_bob.get_content()
    queue = (await http.get("/v1/me/queue", headers=stack.auth("bob"))).json()["items"]
    assert [(i["id"], i["on_behalf_of"]) for i in queue if i["id"] == second] == [(second, PAULA)]
    on_behalf = await http.post(
        f"/v1/initiatives/{second}/approve",
        json={"role": "portfolio", "on_behalf_of": PAULA},
        headers=stack.auth("bob"),
    )
    assert on_behalf.status_code == 200, on_behalf.text
    assert on_behalf.json()["stage"] == "poc"
    events = (await http.get(f"/v1/initiatives/{second}/events", headers=stack.auth("vic"))).json()
    [approval] = [e for e in events["events"] if e["kind"] == "approved"]
    assert (approval["actor"], approval["data"]["on_behalf_of"]) == (BOB, PAULA)


async def test_submission_notifies_the_roster_reminds_at_half_the_sla_and_stops_after_approval(tmp_path: Path) -> None:
    policy = tmp_path / "short.yaml"
    # proposed: SLA 20 s, reminders at 10 s and 16 s; later stages keep their days
    policy.write_text("stages:\n  proposed: {sla: PT20S, abandon_after: PT10M}\n", encoding="utf-8")
    receiver = ChatReceiver()
    with smtp_server() as (mailbox, smtp_port):
        async with serve(chat_app(receiver)) as chat:
            stack = await start_dev(
                tmp_path / "notify",
                LIFTOFF_POLICY_FILE=str(policy),
                LIFTOFF_SMTP_HOST="127.0.0.1",
                LIFTOFF_SMTP_PORT=str(smtp_port),
                LIFTOFF_SMTP_FROM="liftoff@demo.liftoff",
                LIFTOFF_SLACK_WEBHOOK_URL=f"{chat}/slack/hook",
            )
            try:
                async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
                    title = "Notified initiative"
                    created = await http.post(
                        "/v1/initiatives", json=submission(title=title), headers=stack.auth("alice")
                    )
                    assert created.status_code == 201, created.text
                    iid = created.json()["id"]

                    # Within seconds: one email to the portfolio roster, one chat message.
                    for _ in range(100):
                        if subjects(mailbox, PAULA, title) and receiver.slack:
                            break
                        await asyncio.sleep(0.1)
                    assert subjects(mailbox, PAULA, title) == [f"{title} needs a decision (proposed)"]
                    assert [m.text for _, m in receiver.slack] == [f"{title} needs a decision (proposed)"]
                    [mail] = mailbox.to(PAULA)
                    body = mail.get_content()
                    assert f"{stack.api}/desk?initiative={iid}" in body
                    assert f"/workflows/initiative-{iid}" in body

                    # A reminder at half the SLA (10 s).
                    for _ in range(200):
                        if len(subjects(mailbox, PAULA, title)) == 2:
                            break
                        await asyncio.sleep(0.1)
                    assert subjects(mailbox, PAULA, title)[1] == f"Reminder: {title} needs a decision (proposed)"

                    approved = await http.post(
                        f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=stack.auth("paula")
                    )
                    assert approved.status_code == 200, approved.text

                    # Past the 80% mark (16 s): nothing more for the approver; the submitter hears of it.
                    await asyncio.sleep(8)
                    assert len(subjects(mailbox, PAULA, title)) == 2
                    alice = subjects(mailbox, "alice@demo.liftoff", title)
                    assert f"{title}: proposed was approved" in alice

                    await a_delegate_is_told_and_approves(http, stack, mailbox)

                    ready = (await http.get("/readyz")).json()
                    assert ready["notifications"]["email"]["failed"] == 0
                    assert ready["notifications"]["slack"]["last_sent_at"] is not None
            finally:
                assert await stack.stop() == 0
