"""Request metrics of the API (``liftoff_http_requests_total``, ``liftoff_http_request_seconds``).

Recorded through the process's Temporal runtime meter, so they are served at ``LIFTOFF_METRICS_ADDRESS``
with everything else; without it the meter is a no-op. Routes are labelled by their template
(``/v1/initiatives/{initiative_id}/approve``), never by the path a client sent, so labels stay few.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.common import MetricMeter


class HttpMetrics:
    """ASGI middleware: count every request by method, route and status, and time it."""

    def __init__(self, app: ASGIApp, meter: MetricMeter) -> None:
        self.app = app
        self.requests = meter.create_counter("liftoff_http_requests", "HTTP requests, by method, route and status")
        self.seconds = meter.create_histogram_float(
            "liftoff_http_request_seconds", "HTTP request duration, by method and route", "s"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; count and time it once it has been answered (or has failed)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = str(getattr(scope.get("route"), "path", "") or "unmatched")
            method = str(scope.get("method", ""))
            self.requests.add(1, {"method": method, "route": route, "status": str(status)})
            self.seconds.record(time.monotonic() - started, {"method": method, "route": route})
