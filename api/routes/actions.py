"""Decisions over HTTP: one endpoint per workflow update (``-`` in place of ``_``).

The approver is the authenticated principal. A validator's refusal becomes 409 with its message and
is written to the event log as ``decision_refused`` (refusals never reach workflow history).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from api.bodies import ApproveBody, RejectBody, ScrapBody, SubmitPocResultsBody
from api.context import ApiContext, Caller, Ctx
from api.principals import Principal
from api.routes.initiatives import InitiativeId, handle_for
from api.temporal_errors import is_not_found, not_found, unavailable
from db import events_repo, initiatives_repo
from schemas.contract import DECISION_REFUSED, UPDATE_NAMES
from schemas.decisions import ApproveInput, RejectInput, ScrapInput, SubmitPocResultsInput
from schemas.stages import Role
from schemas.status import InitiativeStatusView

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1/initiatives", tags=["actions"])

_REFUSAL = {
    "description": "Refused by the workflow's validator (message says why)",
    "content": {"application/json": {"example": {"detail": "role security does not decide stage proposed"}}},
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: _REFUSAL,
    403: {"description": "Caller lacks the role"},
    404: {"description": "Unknown initiative"},
}


def _require_role(principal: Principal, role: Role) -> None:
    if not principal.has(role):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.email} does not hold role {role.value}")


async def _require_team_or(ctx: ApiContext, principal: Principal, initiative_id: str, *roles: Role) -> None:
    if any(principal.has(r) for r in (*roles, Role.ADMIN)):
        return
    row = await initiatives_repo.get_initiative(ctx.pool, initiative_id)
    if row is not None and principal.in_team(row.team):
        return
    if row is None:
        view = await _query(ctx, initiative_id)
        if principal.in_team(view.team):
            return
    raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.email} is not on the initiative's team")


async def _query(ctx: ApiContext, initiative_id: str) -> InitiativeStatusView:
    try:
        view: InitiativeStatusView = await handle_for(ctx, initiative_id).query(
            "status", result_type=InitiativeStatusView
        )
    except RPCError as err:
        if is_not_found(err):
            raise not_found(initiative_id) from err
        raise unavailable(err) from err
    return view


async def _record_refusal(
    ctx: ApiContext,
    initiative_id: str,
    update: str,
    principal: Principal,
    role: str | None,
    message: str,
    payload: BaseModel,
) -> None:
    try:
        async with ctx.pool.acquire() as conn:
            await events_repo.record_refusal(
                conn,
                event_id=f"refusal-{uuid.uuid4()}",
                initiative_id=initiative_id,
                actor=principal.email,
                role=role,
                detail=message,
                data={"action": update, "payload": payload.model_dump(mode="json", exclude={"token"})},
                at=datetime.now(UTC),
            )
    except Exception:  # the refusal answer matters more than its audit line; the failure is logged
        log.exception("could not record refused decision", initiative_id=initiative_id, action=update)


async def _send(
    ctx: ApiContext, initiative_id: str, update: str, payload: BaseModel, principal: Principal, role: str | None
) -> InitiativeStatusView:
    handle = handle_for(ctx, initiative_id)
    try:
        result: InitiativeStatusView = await handle.execute_update(update, payload, result_type=InitiativeStatusView)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == DECISION_REFUSED:
            await _record_refusal(ctx, initiative_id, update, principal, role, cause.message, payload)
            log.info("decision refused", initiative_id=initiative_id, action=update, reason=cause.message)
            raise HTTPException(status.HTTP_409_CONFLICT, cause.message) from err
        message = str(cause.message if isinstance(cause, ApplicationError) else cause or err)
        raise HTTPException(status.HTTP_409_CONFLICT, f"update {update} failed: {message}") from err
    except RPCError as err:
        if is_not_found(err):
            # Either no such workflow, or it has finished: tell the two apart for the caller.
            try:
                view = await handle.query("status", result_type=InitiativeStatusView)
            except RPCError:
                raise not_found(initiative_id) from err
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"initiative is already {view.stage.value}; no further decisions"
            ) from err
        raise unavailable(err) from err
    log.info("decision accepted", initiative_id=initiative_id, action=update, actor=principal.email)
    return result


@router.post(
    "/{initiative_id}/approve",
    response_model=InitiativeStatusView,
    responses=_RESPONSES,
    summary="Approve the current gate as one of your roles",
)
async def approve(initiative_id: InitiativeId, body: ApproveBody, principal: Caller, ctx: Ctx) -> InitiativeStatusView:
    """Approve as ``role``; the caller must hold it."""
    _require_role(principal, body.role)
    payload = ApproveInput(approver=principal.email, role=body.role, comment=body.comment, stage=body.stage)
    return await _send(ctx, initiative_id, "approve", payload, principal, body.role.value)


@router.post(
    "/{initiative_id}/reject",
    response_model=InitiativeStatusView,
    responses=_RESPONSES,
    summary="Reject at the current gate (ends the initiative)",
)
async def reject(initiative_id: InitiativeId, body: RejectBody, principal: Caller, ctx: Ctx) -> InitiativeStatusView:
    """Reject as ``role`` with a reason code; the caller must hold the role."""
    _require_role(principal, body.role)
    payload = RejectInput(
        approver=principal.email, role=body.role, reason_code=body.reason_code, detail=body.detail, stage=body.stage
    )
    return await _send(ctx, initiative_id, "reject", payload, principal, body.role.value)


@router.post(
    "/{initiative_id}/submit-poc-results",
    response_model=InitiativeStatusView,
    responses=_RESPONSES,
    summary="Submit PoC results (team members)",
)
async def submit_poc_results(
    initiative_id: InitiativeId, body: SubmitPocResultsBody, principal: Caller, ctx: Ctx
) -> InitiativeStatusView:
    """Report PoC metrics; they are evaluated against the criteria given at submission."""
    await _require_team_or(ctx, principal, initiative_id)
    payload = SubmitPocResultsInput(
        actor=principal.email, metrics=body.metrics, spend_usd=body.spend_usd, summary=body.summary, stage=body.stage
    )
    return await _send(ctx, initiative_id, "submit_poc_results", payload, principal, None)


@router.post(
    "/{initiative_id}/scrap",
    response_model=InitiativeStatusView,
    responses=_RESPONSES,
    summary="Scrap the initiative (team, portfolio or admin)",
)
async def scrap(initiative_id: InitiativeId, body: ScrapBody, principal: Caller, ctx: Ctx) -> InitiativeStatusView:
    """End the initiative at any stage with a reason code."""
    await _require_team_or(ctx, principal, initiative_id, Role.PORTFOLIO)
    payload = ScrapInput(actor=principal.email, reason_code=body.reason_code, detail=body.detail, stage=body.stage)
    return await _send(ctx, initiative_id, "scrap", payload, principal, None)


_KNOWN = sorted(name.replace("_", "-") for name in UPDATE_NAMES)
_IMPLEMENTED = {"approve", "reject", "submit-poc-results", "scrap"}


@router.post("/{initiative_id}/{action}", include_in_schema=False)
async def unknown_action(initiative_id: InitiativeId, action: str, _: Caller) -> None:
    """A clear 404 for an action that does not exist (instead of a bare "Not Found")."""
    del initiative_id
    if action in _KNOWN and action not in _IMPLEMENTED:
        raise HTTPException(status.HTTP_501_NOT_IMPLEMENTED, f"action {action!r} is not available yet")
    raise HTTPException(
        status.HTTP_404_NOT_FOUND, f"unknown action {action!r}; available: {', '.join(sorted(_IMPLEMENTED))}"
    )


Sender = Callable[..., Awaitable[InitiativeStatusView]]
