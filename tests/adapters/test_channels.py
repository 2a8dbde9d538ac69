"""The notification channels against real protocol peers on loopback: an SMTP server, chat webhook receivers."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from activities.channels import (
    DeliveryError,
    Link,
    Message,
    SmtpChannel,
    SmtpConfig,
    WebhookChannel,
    markdown_text,
)
from tests.fakes.chat import ChatReceiver, chat_app
from tests.fakes.server import free_port, serve
from tests.fakes.smtp import smtp_server

HOSTILE = "<!channel> *Invoice* [OCR](https://evil.example) =HYPERLINK()"


def message(subject: str = "Invoice OCR needs a decision (proposed)") -> Message:
    return Message(
        delivery_id="d" * 40,
        subject=subject,
        lines=[f"{HOSTILE} is at stage proposed and needs a decision as portfolio.", "By: paula@example.com."],
        links=[
            Link(label="Open in Temporal", url="http://ui.test/namespaces/default/workflows/initiative-x"),
            Link(label="Get a signed payload", url="http://api.test/desk?initiative=x"),
        ],
    )


def smtp(port: int) -> SmtpChannel:
    return SmtpChannel(SmtpConfig(host="127.0.0.1", port=port, sender="liftoff@example.com", timeout_seconds=5))


async def test_email_is_plain_text_with_a_message_id_the_same_on_every_attempt() -> None:
    with smtp_server() as (mailbox, port):
        await smtp(port).send(message(), "paula@example.com")
    [mail] = mailbox.to("paula@example.com")
    assert mail["Subject"] == "Invoice OCR needs a decision (proposed)"
    assert mail["From"] == "liftoff@example.com"
    assert mail["Message-ID"] == f"<{'d' * 40}@example.com>"
    assert mail.get_content_type() == "text/plain"
    body = mail.get_content()
    assert HOSTILE in body  # as typed, in a plain-text body: nothing to interpret
    assert "Get a signed payload: http://api.test/desk?initiative=x" in body


async def test_a_long_email_goes_through_with_every_line_intact() -> None:
    # a digest, or a notice with a long detail: more than 1,000 bytes, with long lines and lines starting "."
    lines = [f"{i}. {'x' * 120} {HOSTILE}" for i in range(40)] + [".leading dot", "ünïcödé " * 200]
    long = message().model_copy(update={"lines": lines})
    with smtp_server() as (mailbox, port):
        await smtp(port).send(long, "paula@example.com")
    [mail] = mailbox.to("paula@example.com")
    body = mail.get_content()
    assert body.splitlines()[: len(lines)] == lines


async def test_a_subject_cannot_inject_headers() -> None:
    with smtp_server() as (mailbox, port):
        await smtp(port).send(message("Hi\r\nBcc: everyone@example.com"), "paula@example.com")
    [(rcpts, mail)] = mailbox.received
    assert rcpts == ["paula@example.com"]
    assert mail["Bcc"] is None


async def test_email_failures_say_whether_to_retry() -> None:
    with smtp_server() as (mailbox, port):
        mailbox.refuse_recipients.add("nobody@example.com")
        with pytest.raises(DeliveryError) as refused:
            await smtp(port).send(message(), "nobody@example.com")
        assert refused.value.kind == "permanent"
        assert mailbox.received == []

        # the server takes the message and the answer is lost: it may have been delivered
        mailbox.drop_answers = 1
        with pytest.raises(DeliveryError) as lost:
            await smtp(port).send(message(), "paula@example.com")
        assert lost.value.kind == "ambiguous"
        assert len(mailbox.to("paula@example.com")) == 1

    with pytest.raises(DeliveryError) as down:  # nothing listens: nothing was sent
        await smtp(free_port()).send(message(), "paula@example.com")
    assert down.value.kind == "retry"


async def test_slack_gets_block_kit_with_text_as_text() -> None:
    receiver = ChatReceiver()
    async with serve(chat_app(receiver)) as base:
        await WebhookChannel("slack", SecretStr(f"{base}/slack/hook")).send(message("x" * 200), "slack")
    assert receiver.invalid == []
    [(key, sent)] = receiver.slack
    assert key == "d" * 40
    kinds = [b.type for b in sent.blocks]
    assert kinds == ["header", "section", "section", "actions"]
    header = sent.blocks[0]
    assert header.type == "header"
    assert len(header.text.text) == 150  # Block Kit's limit, cut rather than refused
    section = sent.blocks[1]
    assert section.type == "section"
    assert section.text.type == "plain_text"  # never mrkdwn: <!channel> pings nobody
    assert HOSTILE in section.text.text
    actions = sent.blocks[-1]
    assert actions.type == "actions"
    assert [str(b.url) for b in actions.elements] == [
        "http://ui.test/namespaces/default/workflows/initiative-x",
        "http://api.test/desk?initiative=x",
    ]


async def test_teams_gets_an_adaptive_card_with_markdown_escaped() -> None:
    receiver = ChatReceiver()
    async with serve(chat_app(receiver)) as base:
        await WebhookChannel("teams", SecretStr(f"{base}/teams/hook")).send(message(), "teams")
    assert receiver.invalid == []
    [(key, sent)] = receiver.teams
    assert key == "d" * 40
    card = sent.attachments[0].content
    assert card.version == "1.4"
    texts = [b.text for b in card.body]
    assert markdown_text(f"{HOSTILE} is at stage proposed and needs a decision as portfolio.") in texts
    assert "[OCR](https://evil.example)" not in " ".join(texts)  # no live link from a title
    assert [a.title for a in card.actions] == ["Open in Temporal", "Get a signed payload"]


async def test_webhook_failures_say_whether_to_retry() -> None:
    receiver = ChatReceiver(fail_next=1)
    async with serve(chat_app(receiver)) as base:
        channel = WebhookChannel("slack", SecretStr(f"{base}/slack/hook"))
        with pytest.raises(DeliveryError) as busy:
            await channel.send(message(), "slack")
        assert busy.value.kind == "retry"
        gone = WebhookChannel("slack", SecretStr(f"{base}/no/such/hook"))
        with pytest.raises(DeliveryError) as missing:
            await gone.send(message(), "slack")
        assert missing.value.kind == "permanent"
    with pytest.raises(DeliveryError) as down:
        await WebhookChannel("teams", SecretStr(f"http://127.0.0.1:{free_port()}/hook")).send(message(), "teams")
    assert down.value.kind == "retry"


def test_markdown_text_escapes_every_special_character() -> None:
    assert markdown_text("*a* _b_ [c](d) <e> # f") == r"\*a\* \_b\_ \[c\]\(d\) \<e\> \# f"
