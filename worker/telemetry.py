"""Where a process's metrics go: Prometheus text at ``LIFTOFF_METRICS_ADDRESS`` through the Temporal SDK runtime.

One runtime per process serves every metric it has: the SDK's own (``temporal_*``: workflow task and
activity latencies, slots, poll results, sticky cache), the workflow and activity metrics liftoff emits
through the SDK's meters (``liftoff_*``), and the API's request metrics (``liftoff_http_*``).
"""

from __future__ import annotations

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig


def metrics_runtime(address: str | None) -> Runtime | None:
    """A runtime serving ``/metrics`` on ``address`` (``host:port``), or None to keep the SDK's default runtime."""
    if not address:
        return None
    prometheus = PrometheusConfig(bind_address=address, counters_total_suffix=True, durations_as_seconds=True)
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))
