"""A real SMTP server on loopback (aiosmtpd) that records what it receives, and can lose its answer."""

from __future__ import annotations

import asyncio
import contextlib
import email
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.fakes.server import free_port


@dataclass
class Mailbox:
    """Messages received, with their envelope recipients; ``drop_answers`` loses the answer to that many DATA."""

    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    drop_answers: int = 0
    refuse_recipients: set[str] = field(default_factory=set)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        del server, session, rcpt_options
        if address in self.refuse_recipients:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        del session
        content: Any = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        raw = raw.replace(b"\r\n", b"\n")  # as a mail store keeps it: the wire's CRLF line ends become LF
        self.received.append(
            (list(envelope.rcpt_tos), email.message_from_bytes(raw, _class=EmailMessage, policy=default))
        )
        if self.drop_answers > 0:
            self.drop_answers -= 1
            transport = server.transport
            if isinstance(transport, asyncio.Transport):
                transport.abort()  # the message is taken, the answer never reaches the client
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages whose envelope named ``address``."""
        return [m for rcpts, m in self.received if address in rcpts]


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """An SMTP server on 127.0.0.1 and a free port, for the duration of the block."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()
