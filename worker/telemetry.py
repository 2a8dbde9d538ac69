"""A process's Temporal runtime: the SDK core's logs through liftoff's logging, metrics at ``LIFTOFF_METRICS_ADDRESS``.

Logs: the core (Rust) part of the SDK writes its warnings to stderr in its own format unless told
otherwise; forwarded to the ``temporalio.core`` logger, they come out like every other line (JSON with
``LIFTOFF_LOG_FORMAT=json``).

Metrics: with an address, the runtime serves Prometheus text at ``/metrics`` for everything the process
has: the SDK's own series (``temporal_*``: workflow task and activity latencies, slots, poll results,
sticky cache), the workflow and activity metrics liftoff emits through the SDK's meters (``liftoff_*``),
and the API's request metrics (``liftoff_http_*``).
"""

from __future__ import annotations

import logging

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)


def process_runtime(metrics_address: str | None) -> Runtime:
    """The runtime for this process's Temporal client (and the worker built from it)."""
    prometheus = (
        PrometheusConfig(bind_address=metrics_address, counters_total_suffix=True, durations_as_seconds=True)
        if metrics_address
        else None
    )
    logs = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    return Runtime(telemetry=TelemetryConfig(logging=logs, metrics=prometheus))
