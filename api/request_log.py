"""Every request: an id (``X-Request-ID``), one access-log line that carries it, and its metrics.

The id is the client's ``X-Request-ID`` when that is a plain token, else a new one. It is bound to the log
context for the request's own log lines and set in ``schemas.request_id.current_request_id``, from where
the Temporal client sends it with the request's update or start. The access line names the route
template, the status, the duration and the client.

Metrics (``liftoff_http_requests_total``, ``liftoff_http_request_seconds``) go through the process's
Temporal runtime meter, so they are served at ``LIFTOFF_METRICS_ADDRESS`` with everything else; without
it the meter is a no-op. Routes are labelled by their template (``/v1/initiatives/{initiative_id}/approve``),
never by the path a client sent, so labels stay few.
"""

from __future__ import annotations

import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.common import MetricMeter

from schemas.request_id import current_request_id, request_id_from

log = structlog.get_logger("liftoff.access")


class RequestLog:
    """ASGI middleware (outermost): request id in and out, one access line and the metrics per request."""

    def __init__(self, app: ASGIApp, meter: MetricMeter) -> None:
        self.app = app
        self.requests = meter.create_counter("liftoff_http_requests", "HTTP requests, by method, route and status")
        self.seconds = meter.create_histogram_float(
            "liftoff_http_request_seconds", "HTTP request duration, by method and route", "s"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Bind the request id, answer with it, then log, count and time the request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        request_id = request_id_from(headers.get(b"x-request-id", b"").decode("latin-1"))
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
                    self._done(scope, status, time.monotonic() - started)
        finally:
            current_request_id.reset(token)

    def _done(self, scope: Scope, status: int, seconds: float) -> None:
        route = str(getattr(scope.get("route"), "path", "") or "")
        method = str(scope.get("method", ""))
        client = scope.get("client")
        log.info(
            "request",
            method=method,
            path=scope.get("path"),
            route=route,
            status=status,
            ms=round(seconds * 1000, 1),
            client=client[0] if client else None,
        )
        labels = {"method": method, "route": route or "unmatched"}
        self.requests.add(1, {**labels, "status": str(status)})
        self.seconds.record(seconds, labels)
