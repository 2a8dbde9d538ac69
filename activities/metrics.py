"""Metrics of the calls activities make to outside systems (``liftoff_adapter_calls``, ``_failures``, ``_seconds``).

Through the SDK's activity metric meter, so they are exported with the worker's other metrics.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from temporalio import activity
from temporalio.common import MetricMeter

_SUFFIXES = ("Ticketing", "Provisioner")


def system_name(adapter: object) -> str:
    """``jira``, ``servicenow``, ``kubernetes``, ``webhook`` or ``builtin``, from the adapter's class."""
    name = type(adapter).__name__
    for suffix in _SUFFIXES:
        name = name.removesuffix(suffix)
    return name.lower() or "unknown"


@contextlib.contextmanager
def adapter_call(adapter: object, operation: str) -> Iterator[None]:
    """Count one call of ``adapter``'s ``operation``, its failure if it raises, and its duration."""
    meter = activity.metric_meter() if activity.in_activity() else MetricMeter.noop
    labels = {"system": system_name(adapter), "operation": operation}
    meter.create_counter("liftoff_adapter_calls", "Calls to ticketing and provisioning systems").add(1, labels)
    started = time.monotonic()
    try:
        yield
    except BaseException:
        meter.create_counter("liftoff_adapter_failures", "Failed calls to ticketing and provisioning systems").add(
            1, labels
        )
        raise
    finally:
        meter.create_histogram_float(
            "liftoff_adapter_seconds", "Duration of calls to ticketing and provisioning systems", "s"
        ).record(time.monotonic() - started, labels)
