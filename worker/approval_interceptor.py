"""Worker interceptor that verifies signed approval tokens before an update's validator runs.

The secret lives in the worker process only (held by this interceptor), never in workflow history.
Validators and this hook do not run on replay, so rotating or removing the secret never breaks
replay.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from schemas.approval_token import payload_digest, token_nonce, verify_token
from schemas.contract import DECISION_REFUSED, INITIATIVE_WORKFLOW, ROLLOUT_WORKFLOW

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


class ApprovalTokenInterceptor(Interceptor):
    """Installs the token check on every update of ``InitiativeWorkflow`` and ``RolloutWorkflow``."""

    def __init__(self, secret: bytes | None) -> None:
        self._secret = secret

    def workflow_interceptor_class(
        self,
        input: WorkflowInterceptorClassInput,  # noqa: A002 - the SDK names it so
    ) -> type[WorkflowInboundInterceptor] | None:
        """The inbound interceptor class, bound to this worker's secret."""
        del input
        secret = self._secret

        class _TokenCheck(WorkflowInboundInterceptor):
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
