"""Where notifications go: email over SMTP, a Slack incoming webhook, a Microsoft Teams workflow webhook.

Each channel is optional (configured by settings) and knows nothing of initiatives: it delivers a
:class:`Message` to one recipient and says how a failure should be treated (:class:`DeliveryError`):

* **retry**: nothing was delivered (refused before the message went out, a 429 or 5xx answer, a
  connection that failed before the body was sent);
* **permanent**: retrying cannot help (a 4xx answer other than 429, a recipient the server refuses);
* **ambiguous**: the message may have been delivered (an SMTP connection lost after the message was
  sent, before the server's answer). SMTP has no idempotency key, so such a delivery is not sent again;
  webhooks carry one (``Idempotency-Key``, the delivery's id), so they are.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP as SMTP_LINES
from email.utils import formatdate
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr


class Link(BaseModel):
    """A link a message offers (the initiative in the Web UI, the signed-payload page)."""

    model_config = ConfigDict(frozen=True)

    label: str
    url: str


class Message(BaseModel):
    """One notification, channel-neutral: the channels render it (plain text, Block Kit, Adaptive Card)."""

    model_config = ConfigDict(frozen=True)

    #: deterministic per (notice, channel, recipient): the email's Message-ID, the webhooks' Idempotency-Key
    delivery_id: str
    subject: str
    #: what is needed, by whom, by when: one sentence each, in order
    lines: list[str]
    links: list[Link]


class DeliveryError(Exception):
    """A delivery failed; ``kind`` says whether to retry (``retry``, ``permanent``, ``ambiguous``)."""

    def __init__(self, message: str, kind: str = "retry") -> None:
        super().__init__(message)
        self.kind = kind


class Channel(Protocol):
    """A way to tell people; ``name`` is ``email``, ``slack`` or ``teams``."""

    name: str

    async def send(self, message: Message, recipient: str) -> None:
        """Deliver ``message`` to ``recipient`` (an email address, or the channel's own name for chat)."""
        ...


# ------------------------------------------------------------------ email


class SmtpConfig(BaseModel):
    """``LIFTOFF_SMTP_*``."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int = 25
    sender: str
    user: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    timeout_seconds: float = 20.0


def render_email(message: Message, sender: str, recipient: str) -> EmailMessage:
    """Plain text (nothing a mail client would run), a Message-ID the same on every attempt."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = recipient
    mail["Subject"] = message.subject.replace("\r", " ").replace("\n", " ")
    mail["Date"] = formatdate(usegmt=True)
    domain = sender.rpartition("@")[2] or "liftoff"
    mail["Message-ID"] = f"<{message.delivery_id}@{domain}>"
    links = [f"{link.label}: {link.url}" for link in message.links]
    mail.set_content("\n\n".join(["\n".join(message.lines), "\n".join(links)]) + "\n")
    return mail


class SmtpChannel:
    """Email over SMTP (optionally STARTTLS and a login), one message per recipient."""

    name = "email"

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config

    async def send(self, message: Message, recipient: str) -> None:
        """Send in a thread (``smtplib`` blocks)."""
        await asyncio.to_thread(self._send, render_email(message, self._config.sender, recipient), recipient)

    def _send(self, mail: EmailMessage, recipient: str) -> None:
        config = self._config
        try:
            server = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
        except (OSError, smtplib.SMTPException) as err:
            raise DeliveryError(f"cannot reach {config.host}:{config.port}: {err}") from err
        try:
            self._prepare(server, recipient)
            # From here the message goes out: a lost answer leaves it unknown whether the server took it.
            try:
                # CRLF line ends: smtplib sends bytes as given, and a server reads lines up to CRLF (a message
                # over 1,000 bytes with bare LFs is one "line too long" to it).
                code, answer = server.data(mail.as_bytes(policy=SMTP_LINES))
            except smtplib.SMTPDataError as err:
                kind = "permanent" if 500 <= err.smtp_code < 600 else "retry"
                raise DeliveryError(f"the server refused the message: {err.smtp_code}", kind) from err
            except (OSError, smtplib.SMTPException) as err:
                raise DeliveryError(f"no answer after the message was sent: {err}", "ambiguous") from err
            if code != 250:
                raise DeliveryError(f"unexpected answer {code}: {answer!r}", "ambiguous")
        finally:
            try:
                server.quit()
            except (OSError, smtplib.SMTPException):
                server.close()

    def _prepare(self, server: smtplib.SMTP, recipient: str) -> None:
        """Everything before the message itself: a failure here delivered nothing."""
        config = self._config
        try:
            server.ehlo()
            if config.starttls:
                server.starttls(context=ssl.create_default_context())
                server.ehlo()
            if config.user and config.password is not None:
                server.login(config.user, config.password.get_secret_value())
            code, answer = server.mail(config.sender)
            if code != 250:
                raise DeliveryError(f"sender refused: {code} {answer!r}", "permanent" if code >= 500 else "retry")
            code, answer = server.rcpt(recipient)
            if code not in (250, 251):
                raise DeliveryError(f"recipient refused: {code} {answer!r}", "permanent" if code >= 500 else "retry")
        except (OSError, smtplib.SMTPException) as err:
            raise DeliveryError(f"SMTP session failed before the message: {err}") from err


# ------------------------------------------------------------------ chat webhooks


def slack_payload(message: Message) -> dict[str, Any]:
    """An incoming-webhook message in Block Kit: a header, the lines as plain text, link buttons.

    People's text (titles, details) is sent as ``plain_text``, never ``mrkdwn``: ``<!channel>`` or a link in a
    title stays text.
    """
    return {
        "text": message.subject,  # the notification's fallback text
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": message.subject[:150]}},
            *({"type": "section", "text": {"type": "plain_text", "text": line[:3000]}} for line in message.lines[:45]),
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": link.label[:75]}, "url": link.url}
                    for link in message.links[:5]
                ],
            },
        ],
    }


def teams_payload(message: Message) -> dict[str, Any]:
    """A Teams workflow webhook message carrying one Adaptive Card (1.4): text blocks, open-URL actions.

    TextBlock text is rendered as Markdown by Teams, so people's text is escaped first.
    """
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": markdown_text(message.subject), "weight": "Bolder", "wrap": True},
                        *({"type": "TextBlock", "text": markdown_text(line), "wrap": True} for line in message.lines),
                    ],
                    "actions": [
                        {"type": "Action.OpenUrl", "title": link.label, "url": link.url} for link in message.links
                    ],
                },
            }
        ],
    }


_MARKDOWN_SPECIALS = "\\`*_{}[]()#+-.!|<>~"


def markdown_text(text: str) -> str:
    """``text`` with every Markdown special character escaped, so it renders as the characters typed."""
    return "".join(f"\\{c}" if c in _MARKDOWN_SPECIALS else c for c in text)


class WebhookChannel:
    """A chat webhook (Slack or Teams): one JSON POST per message, carrying the delivery id as idempotency key."""

    def __init__(self, name: str, url: SecretStr, *, timeout_seconds: float = 10.0) -> None:
        self.name = name
        self._url = url
        self._timeout = timeout_seconds

    async def send(self, message: Message, recipient: str) -> None:
        """POST the rendered message; 2xx delivered, 429 and 5xx retried, other 4xx permanent."""
        del recipient  # the webhook is the channel
        body = slack_payload(message) if self.name == "slack" else teams_payload(message)
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                answer = await http.post(
                    self._url.get_secret_value(), json=body, headers={"Idempotency-Key": message.delivery_id}
                )
        except httpx.HTTPError as err:
            # a timeout may come after the webhook took it: the same idempotency key makes a retry harmless
            raise DeliveryError(f"{self.name} webhook unreachable: {type(err).__name__}") from err
        if answer.is_success:
            return
        kind = "retry" if answer.status_code == 429 or answer.status_code >= 500 else "permanent"
        raise DeliveryError(f"{self.name} webhook answered {answer.status_code}: {answer.text[:200]}", kind)
