"""The request id across Temporal: the client sends it as a header, the workflow logs each decision with it.

Client side: the current request's id (``schemas.request_id.current_request_id``) goes with every workflow
start and update as the header ``liftoff-request-id``. Worker side: the update handler logs the decision
it applies with that id (``workflow.logger``, which is silent during replay), so one grep follows a
decision from the API's access line to the workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Interceptor as ClientInterceptor,
)
from temporalio.client import (
    OutboundInterceptor,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    WorkflowHandle,
    WorkflowUpdateHandle,
)
from temporalio.converter import PayloadConverter
from temporalio.worker import HandleUpdateInput, Interceptor, WorkflowInboundInterceptor, WorkflowInterceptorClassInput

from schemas.request_id import HEADER, current_request_id

_TO_PAYLOAD = PayloadConverter.default


def _with_request_id(headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
    request_id = current_request_id.get()
    if not request_id:
        return dict(headers)
    return {**headers, HEADER: _TO_PAYLOAD.to_payload(request_id)}


class _Outbound(OutboundInterceptor):
    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:  # noqa: A002 - SDK name
        input.headers = _with_request_id(input.headers)
        return await super().start_workflow(input)

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle[Any]:  # noqa: A002
        input.headers = _with_request_id(input.headers)
        return await super().start_workflow_update(input)


class RequestIdClientInterceptor(ClientInterceptor):
    """Sends the current request id with every start and update."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:  # noqa: A002 - SDK name
        """Wrap the client's outbound calls."""
        return _Outbound(next)


class _LogDecision(WorkflowInboundInterceptor):
    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:  # noqa: A002, ANN401 - SDK name
        carried = input.headers.get(HEADER)
        request_id = workflow.payload_converter().from_payload(carried, str) if carried else ""
        workflow.logger.info(
            "decision %s applied", input.update, extra={"request_id": request_id, "update_id": input.id}
        )
        return await super().handle_update_handler(input)


class RequestIdInterceptor(Interceptor):
    """Logs every update the workflows apply with the id of the request that sent it."""

    def workflow_interceptor_class(
        self,
        input: WorkflowInterceptorClassInput,  # noqa: A002 - the SDK names it so
    ) -> type[WorkflowInboundInterceptor] | None:
        """The inbound interceptor that logs decisions."""
        del input
        return _LogDecision
