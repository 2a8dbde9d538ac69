"""Limits applied before a request reaches a route: body size, and clients that keep failing to authenticate.

Both run before authentication and before any body is parsed, so a stranger's 50 MB body or a token
guessing loop costs a few bytes of reading, not a parse or a database lookup.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict, deque

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Larger request bodies are refused with 413 (a submission is a few kB; a Jira webhook rarely 100 kB).
MAX_BODY_BYTES = 1_000_000
#: An import file (``POST /v1/imports``) may be larger: 100,000 lines of a typical 1 kB.
MAX_IMPORT_BYTES = 128 * 1024 * 1024


async def _answer(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            + (headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes, declared (Content-Length) or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        #: Paths with a limit of their own (exactly these paths).
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413 before the app sees a body over the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope.get("path", ""), self.limit)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        too_large = f"the request body is larger than {limit} bytes"
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _answer(send, 413, too_large)
            return
        if declared is not None:
            await self.app(scope, receive, send)  # the server delivers no more than it declared
            return
        # No Content-Length (chunked): read up to the limit first, then hand the body on.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _answer(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class AuthFailures:
    """Counts failed authentications per client; past ``limit`` within ``window`` seconds, the client waits.

    In memory, per API process: with several API processes behind a balancer each counts on its own.
    """

    def __init__(self, limit: int = 20, window: float = 60.0, remember: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self._remember = remember
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client)
        if times is None:
            return deque()
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int | None:
        """Seconds the client must wait before trying again, or None when it may try now."""
        now = time.monotonic()
        times = self._recent(client, now)
        if len(times) < self.limit:
            return None
        return max(1, int(self.window - (now - times[0])) + 1)

    def failed(self, client: str) -> None:
        """Count one failed authentication of ``client``."""
        now = time.monotonic()
        times = self._failures.setdefault(client, deque(maxlen=self.limit * 2))
        times.append(now)
        self._failures.move_to_end(client)
        while len(self._failures) > self._remember:
            self._failures.popitem(last=False)
