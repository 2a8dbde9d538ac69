"""Every request gets an id (``X-Request-ID``) and one access-log line that carries it.

The id is bound to the log context for the request's own log lines and set in
``schemas.request_id.current_request_id``, from where the Temporal client sends it with the request's
update or start. The access line names the route template, the status, the duration and the client.
"""

from __future__ import annotations

import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.request_id import current_request_id, request_id_from

log = structlog.get_logger("liftoff.access")


class RequestLog:
    """ASGI middleware: request id in, request id out, one access line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Bind the request id, answer with it, then log the request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        offered = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = request_id_from(offered)
        started = time.monotonic()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        token = current_request_id.set(request_id)
        try:
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                try:
                    await self.app(scope, receive, sending)
                finally:
                    client = scope.get("client")
                    log.info(
                        "request",
                        method=scope.get("method"),
                        path=scope.get("path"),
                        route=str(getattr(scope.get("route"), "path", "") or ""),
                        status=status,
                        ms=round((time.monotonic() - started) * 1000, 1),
                        client=client[0] if client else None,
                    )
        finally:
            current_request_id.reset(token)
