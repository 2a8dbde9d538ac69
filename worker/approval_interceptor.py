"""Worker interceptor that makes liftoff's signatures count: on decisions and on start inputs.

- Every update of a guarded workflow must carry an approval token the API signed for exactly that
  decision, before its validator runs; an accepted token is spent (``schemas/approval_token.py``).
- A guarded workflow runs only with a start input liftoff signed (``schemas/start_signature.py``);
  what the worker starts itself (the next run on continue-as-new, the rollout child) it signs.

The secret lives in the worker process only (held by this interceptor), never in workflow history.
Validators and the start check do not run on replay, so rotating or removing the secret never breaks
replay.
"""

from __future__ import annotations

from typing import Any, NoReturn

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    HandleUpdateInput,
    Interceptor,
    StartChildWorkflowInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from schemas.approval_token import payload_digest, token_nonce, verify_token
from schemas.contract import DECISION_REFUSED, INITIATIVE_WORKFLOW, ROLLOUT_WORKFLOW
from schemas.start_signature import sign_start, verify_start

#: Error type of a workflow that refused to run an unsigned or altered start input.
UNVERIFIED_START = "UnverifiedStart"

#: Workflows whose every update must carry a token when a secret is configured.
GUARDED_WORKFLOWS = frozenset({INITIATIVE_WORKFLOW, ROLLOUT_WORKFLOW})


def _refuse(message: str) -> None:
    raise ApplicationError(message, type=DECISION_REFUSED, non_retryable=True)


def check_token(secret: bytes | None, update: str, payload: Any) -> None:  # noqa: ANN401 - any update payload
    """Refuse the update unless its token fits the secret (or no secret is configured and no token sent)."""
    token = getattr(payload, "token", None)
    if secret is None:
        if token:
            _refuse("this decision carries an approval token, but approval tokens are not enabled on this worker")
        return
    if not token:
        _refuse(
            "a signed approval token is required: get one with POST /v1/initiatives/{id}/approval-token "
            'or `liftoff approval-token`, and paste it as "token"'
        )
    instance = workflow.instance()
    initiative_id, stage = instance.approval_context()
    role = getattr(payload, "role", None)
    person = getattr(payload, "approver", None) or getattr(payload, "actor", "")
    reason = verify_token(
        secret,
        str(token),
        initiative_id=initiative_id,
        stage=stage,
        action=update,
        role=role.value if role is not None else "",
        person=str(person),
        digest=payload_digest(payload.model_dump(mode="json")),
        now=workflow.now(),
        spent=instance.nonce_spent,
    )
    if reason:
        _refuse(reason)


def check_start(secret: bytes | None, argument: Any) -> None:  # noqa: ANN401 - the workflow's start argument
    """Fail the workflow at once unless liftoff signed exactly this start input (when a secret is configured)."""
    if secret is None or workflow.unsafe.is_replaying():
        return
    info = workflow.info()
    payload = argument.model_dump(mode="json") if isinstance(argument, BaseModel) else {}
    reason = verify_start(secret, workflow_id=info.workflow_id, payload=payload, started_at=info.start_time)
    if reason:
        workflow.logger.error("refused an unverified start", extra={"reason": reason})
        raise ApplicationError(
            f"{info.workflow_type} {info.workflow_id} refused to run: {reason}; nothing was recorded",
            type=UNVERIFIED_START,
            non_retryable=True,
        )


def signed_start(secret: bytes | None, argument: Any, workflow_id: str) -> Any:  # noqa: ANN401 - a start argument
    """``argument`` with liftoff's signature for starting ``workflow_id`` now (unchanged without a secret)."""
    if secret is None or not isinstance(argument, BaseModel) or "signature" not in type(argument).model_fields:
        return argument
    payload = argument.model_dump(mode="json")
    signature = sign_start(secret, workflow_id=workflow_id, payload=payload, now=workflow.now())
    return argument.model_copy(update={"signature": signature})


class ApprovalTokenInterceptor(Interceptor):
    """Installs the token checks on every update and the start check on every run of the guarded workflows."""

    def __init__(self, secret: bytes | None) -> None:
        self._secret = secret

    def workflow_interceptor_class(
        self,
        input: WorkflowInterceptorClassInput,  # noqa: A002 - the SDK names it so
    ) -> type[WorkflowInboundInterceptor] | None:
        """The inbound interceptor class, bound to this worker's secret."""
        del input
        secret = self._secret

        class _Signing(WorkflowOutboundInterceptor):
            def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:  # noqa: A002 - SDK name
                if input.args:
                    input.args = [signed_start(secret, input.args[0], workflow.info().workflow_id), *input.args[1:]]
                super().continue_as_new(input)

            async def start_child_workflow(self, input: StartChildWorkflowInput) -> Any:  # noqa: A002, ANN401 - SDK
                if input.workflow == ROLLOUT_WORKFLOW and input.args:
                    input.args = [signed_start(secret, input.args[0], input.id), *input.args[1:]]
                return await super().start_child_workflow(input)

        class _TokenCheck(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(_Signing(outbound))

            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:  # noqa: A002, ANN401 - SDK
                if workflow.info().workflow_type in GUARDED_WORKFLOWS:
                    check_start(secret, input.args[0] if input.args else None)
                return await super().execute_workflow(input)

            def handle_update_validator(self, input: HandleUpdateInput) -> None:  # noqa: A002 - SDK name
                if workflow.info().workflow_type in GUARDED_WORKFLOWS:
                    check_token(secret, input.update, input.args[0] if input.args else None)
                super().handle_update_validator(input)

            async def handle_update_handler(self, input: HandleUpdateInput) -> Any:  # noqa: A002, ANN401 - SDK
                # An accepted token is spent before the handler runs (also on replay: it rebuilds the state).
                if workflow.info().workflow_type in GUARDED_WORKFLOWS and input.args:
                    nonce = token_nonce(getattr(input.args[0], "token", None))
                    if nonce:
                        workflow.instance().spend_nonce(nonce)
                return await super().handle_update_handler(input)

        return _TokenCheck
