"""Connecting to Temporal with the data converter every liftoff process must share."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import temporalio.api.failure.v1
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverter, PayloadConverter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime

from schemas.contract import DECISION_REFUSED
from worker.request_id import RequestIdClientInterceptor


class RefusalFailureConverter(DefaultFailureConverter):
    """Drops the worker's stack trace from a validator's refusal.

    Approvers read refusals in the Web UI's update dialog; the message stands on its own and a trace
    with the worker's file paths only hides it. Every other failure keeps its trace.
    """

    def to_failure(
        self,
        exception: BaseException,
        payload_converter: PayloadConverter,
        failure: temporalio.api.failure.v1.Failure,
    ) -> None:
        """Convert as usual, then blank the stack trace of refusals."""
        super().to_failure(exception, payload_converter, failure)
        if isinstance(exception, ApplicationError) and exception.type == DECISION_REFUSED:
            failure.stack_trace = ""


DATA_CONVERTER: DataConverter = dataclasses.replace(
    pydantic_data_converter, failure_converter_class=RefusalFailureConverter
)


async def connect_client(
    address: str,
    namespace: str = "default",
    api_key: str | None = None,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """A client that encodes pydantic models the same way the worker decodes them.

    ``api_key`` is sent as ``Authorization: Bearer`` (a Temporal server with its JWT authorizer needs one);
    ``runtime`` carries the process's telemetry (``worker/telemetry.py``); None keeps the SDK's default.
    ``interceptors`` come after the request-id one (tracing: ``worker/tracing.py``); a worker built from the
    client uses those that are worker interceptors too.
    """
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=DATA_CONVERTER,
        api_key=api_key,
        runtime=runtime,
        interceptors=[RequestIdClientInterceptor(), *interceptors],
    )
