"""OpenTelemetry tracing, on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``…_TRACES_ENDPOINT``) is set.

One trace follows a decision: the API's request span (FastAPI instrumented), the update the Temporal
client starts, the workflow's handling of it and the activities it runs (``temporalio.contrib.opentelemetry``'s
``TracingInterceptor`` on the client, which the worker built from that client uses too). Spans go to the
OTLP/HTTP endpoint with the standard ``OTEL_*`` variables (headers, service name, sampler).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

#: Where ``TracingInterceptor`` carries the trace context in Temporal headers.
TRACE_HEADER = "_tracer-data"
#: Activities started this soon after a decision belong to its trace.
FOLLOW_FOR = timedelta(seconds=60)

#: Probes are not traced: they would be most of the spans.
UNTRACED_URLS = "healthz,readyz,metrics"


def tracer_provider_from_env(service: str) -> TracerProvider | None:
    """A provider exporting to the configured OTLP endpoint, or None when tracing is off."""
    if not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    name = os.environ.get("OTEL_SERVICE_NAME") or f"liftoff-{service}"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


class _FollowDecision(WorkflowInboundInterceptor):
    """Remembers the trace context of the update being applied, for the activities it leads to."""

    carrier: Payload | None = None
    at: datetime | None = None

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_DecisionActivities(outbound, self))

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:  # noqa: A002, ANN401 - SDK names
        self.carrier, self.at = input.headers.get(TRACE_HEADER), workflow.now()
        return await super().handle_update_handler(input)


class _DecisionActivities(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, decision: _FollowDecision) -> None:  # noqa: A002
        super().__init__(next)
        self._decision = decision

    def _follow(self, headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
        # ``run`` schedules what a decision leads to in the workflow tasks right after it: activities started
        # within a minute of the latest decision continue its trace (a stall timer's, days later, do not).
        decision = self._decision
        if decision.carrier is not None and decision.at is not None and workflow.now() - decision.at <= FOLLOW_FOR:
            return {**headers, TRACE_HEADER: decision.carrier}
        return headers

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:  # noqa: A002 - SDK name
        input.headers = self._follow(input.headers)
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:  # noqa: A002
        input.headers = self._follow(input.headers)
        return super().start_local_activity(input)


class DecisionTraceInterceptor(Interceptor, ClientInterceptor):
    """Puts the activities a decision leads to into the decision's trace.

    ``TracingInterceptor`` parents every workflow-side span to the workflow's start and only links an
    update to its caller; liftoff's updates record, and ``run`` then does the work. Listed before
    ``TracingInterceptor``, so its outbound call sees (and replaces) the header that one sets.
    Headers are not part of replay: nothing about the workflow's commands changes.
    """

    def workflow_interceptor_class(
        self,
        input: WorkflowInterceptorClassInput,  # noqa: A002 - the SDK names it so
    ) -> type[WorkflowInboundInterceptor] | None:
        """The interceptor that follows decisions."""
        del input
        return _FollowDecision


def temporal_tracing(provider: TracerProvider | None) -> list[ClientInterceptor]:
    """The client (and worker) interceptors that trace starts, updates, workflows and activities."""
    if provider is None:
        return []
    return [DecisionTraceInterceptor(), TracingInterceptor(provider.get_tracer("liftoff"))]


def trace_api(app: FastAPI, provider: TracerProvider | None) -> None:
    """Trace every request to ``app`` (but the probes) when tracing is on."""
    if provider is not None:
        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED_URLS)
