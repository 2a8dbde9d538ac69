"""Decisions over HTTP: one endpoint per workflow update (``-`` in place of ``_``).

The approver is the authenticated principal. A validator's refusal becomes 409 with its message and
is written to the event log as ``decision_refused`` (refusals never reach workflow history). With an
approval secret configured, the API signs a token for each decision it sends.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from api import bodies
from api.context import ApiContext, Caller, Ctx
from api.principals import Principal
from api.routes.initiatives import InitiativeId, handle_for
from api.temporal_errors import is_not_found, not_found, unavailable
from db import events_repo, initiatives_repo
from schemas import decisions
from schemas.approval_token import sign_token
from schemas.contract import DECISION_REFUSED, UPDATE_NAMES
from schemas.stages import Role
from schemas.status import InitiativeStatusView

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1/initiatives", tags=["actions"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Refused by the workflow's validator (the message says why)",
        "content": {"application/json": {"example": {"detail": "role security does not decide stage proposed"}}},
    },
    403: {"description": "The caller lacks the role or is not on the initiative's team"},
    404: {"description": "Unknown initiative"},
}


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


def _require_role(principal: Principal, role: Role) -> None:
    if not principal.has(role):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.email} does not hold role {role.value}")


async def _require_team_or(ctx: ApiContext, principal: Principal, initiative_id: str, *roles: Role) -> None:
    if any(principal.has(r) for r in (*roles, Role.ADMIN)):
        return
    row = await initiatives_repo.get_initiative(ctx.pool, initiative_id)
    team = row.team if row is not None else (await _query(ctx, initiative_id)).team
    if not principal.in_team(team):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.email} is not on the initiative's team")


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


def _token_for(
    ctx: ApiContext, initiative_id: str, update: str, role: str, person: str, stage: str
) -> tuple[str, datetime]:
    assert ctx.approval_secret is not None
    expires = datetime.now(UTC) + timedelta(seconds=ctx.approval_token_ttl_seconds)
    token = sign_token(
        ctx.approval_secret,
        initiative_id=initiative_id,
        stage=stage,
        action=update,
        role=role,
        person=person,
        expires_at=expires,
    )
    return token, expires


async def _send(
    ctx: ApiContext, initiative_id: str, update: str, payload: BaseModel, principal: Principal, role: str | None
) -> InitiativeStatusView:
    if ctx.approval_secret is not None:
        stage = getattr(payload, "stage", None)
        stage_value = stage.value if stage is not None else (await _query(ctx, initiative_id)).stage.value
        token, _ = _token_for(ctx, initiative_id, update, role or "", principal.email, stage_value)
        payload = payload.model_copy(update={"token": token})
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


# ---------------------------------------------------------------------------- the action table


@dataclass(frozen=True)
class Action:
    """How one HTTP action becomes one workflow update."""

    update: str
    body: type[BaseModel]
    summary: str
    #: Builds the workflow payload from the body and the caller's email; returns it and the role it acts as.
    build: Callable[[Any, str], tuple[BaseModel, Role | None]]
    #: Extra roles (besides the initiative's team and admins) allowed to take a team action.
    team_or: tuple[Role, ...] = ()


def _decision(model: type[BaseModel]) -> Callable[[Any, str], tuple[BaseModel, Role | None]]:
    def build(body: Any, email: str) -> tuple[BaseModel, Role | None]:  # noqa: ANN401 - any action body
        return model.model_validate({**body.model_dump(), "approver": email}), body.role

    return build


def _team(model: type[BaseModel]) -> Callable[[Any, str], tuple[BaseModel, Role | None]]:
    def build(body: Any, email: str) -> tuple[BaseModel, Role | None]:  # noqa: ANN401 - any action body
        return model.model_validate({**body.model_dump(), "actor": email}), None

    return build


ACTIONS: dict[str, Action] = {
    "approve": Action(
        "approve",
        bodies.ApproveBody,
        "Approve the current gate as one of your roles",
        _decision(decisions.ApproveInput),
    ),
    "reject": Action(
        "reject",
        bodies.RejectBody,
        "Reject at the current gate (ends the initiative)",
        _decision(decisions.RejectInput),
    ),
    "request-changes": Action(
        "request_changes",
        bodies.RequestChangesBody,
        "Send the initiative back one stage",
        _decision(decisions.RequestChangesInput),
    ),
    "waive-finding": Action(
        "waive_finding",
        bodies.WaiveFindingBody,
        "Waive a finding (role infrastructure)",
        _decision(decisions.WaiveFindingInput),
    ),
    "submit-poc-results": Action(
        "submit_poc_results",
        bodies.SubmitPocResultsBody,
        "Submit PoC results (team)",
        _team(decisions.SubmitPocResultsInput),
    ),
    "resolve-finding": Action(
        "resolve_finding",
        bodies.ResolveFindingBody,
        "Resolve a finding with evidence (team)",
        _team(decisions.ResolveFindingInput),
        team_or=(Role.INFRASTRUCTURE,),
    ),
    "report-blocker": Action(
        "report_blocker", bodies.ReasonBody, "Report what blocks the team", _team(decisions.ReportBlockerInput)
    ),
    "hold": Action(
        "hold",
        bodies.ReasonBody,
        "Put the initiative on hold (team, portfolio or admin)",
        _team(decisions.HoldInput),
        team_or=(Role.PORTFOLIO,),
    ),
    "resume": Action(
        "resume",
        bodies.ResumeBody,
        "Resume a held initiative (team, portfolio or admin)",
        _team(decisions.ResumeInput),
        team_or=(Role.PORTFOLIO,),
    ),
    "scrap": Action(
        "scrap",
        bodies.ScrapBody,
        "Scrap the initiative (team, portfolio or admin)",
        _team(decisions.ScrapInput),
        team_or=(Role.PORTFOLIO,),
    ),
}
assert {a.update for a in ACTIONS.values()} == set(UPDATE_NAMES)


def _endpoint(action: Action) -> Callable[..., Awaitable[InitiativeStatusView]]:
    async def endpoint(initiative_id: InitiativeId, body: Any, principal: Caller, ctx: Ctx) -> InitiativeStatusView:  # noqa: ANN401
        payload, role = action.build(body, principal.email)
        if role is not None:
            _require_role(principal, role)
        else:
            await _require_team_or(ctx, principal, initiative_id, *action.team_or)
        return await _send(ctx, initiative_id, action.update, payload, principal, role.value if role else None)

    endpoint.__annotations__["body"] = action.body
    endpoint.__name__ = action.update
    endpoint.__doc__ = action.summary
    return endpoint


for _path, _action in ACTIONS.items():
    router.add_api_route(
        f"/{{initiative_id}}/{_path}",
        _endpoint(_action),
        methods=["POST"],
        response_model=InitiativeStatusView,
        responses=_RESPONSES,
        summary=_action.summary,
    )


# ---------------------------------------------------------------------------- approval tokens


class ApprovalTokenResponse(BaseModel):
    """A signed token and the payload to paste into the Web UI's update dialog."""

    token: str
    expires_at: datetime
    action: str
    ui_payload: dict[str, Any]


@router.post(
    "/{initiative_id}/approval-token",
    response_model=ApprovalTokenResponse,
    responses=_RESPONSES,
    summary="A signed token for deciding in the Web UI",
)
async def approval_token(
    initiative_id: InitiativeId, body: bodies.ApprovalTokenBody, principal: Caller, ctx: Ctx
) -> ApprovalTokenResponse:
    """Sign a token for the caller to send ``action`` (default approve) as ``role`` at the current stage."""
    update = body.action.replace("-", "_")
    if update not in UPDATE_NAMES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown action {body.action!r}")
    if ctx.approval_secret is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "approval tokens are not enabled: set LIFTOFF_APPROVAL_SECRET for the API and the workers",
        )
    if body.role is not None:
        _require_role(principal, body.role)
    elif update in {"approve", "reject", "request_changes", "waive_finding"}:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"action {update} needs a role")
    view = await _query(ctx, initiative_id)
    role = body.role.value if body.role else ""
    token, expires = _token_for(ctx, initiative_id, update, role, principal.email, view.stage.value)
    who = {"approver": principal.email, "role": role} if body.role else {"actor": principal.email}
    ui_payload: dict[str, Any] = {**who, "stage": view.stage.value, "token": token}
    if update == "approve":
        ui_payload["comment"] = ""
    return ApprovalTokenResponse(token=token, expires_at=expires, action=update, ui_payload=ui_payload)


@router.post("/{initiative_id}/{action}", include_in_schema=False)
async def unknown_action(initiative_id: InitiativeId, action: str, _: Caller) -> None:
    """A clear 404 for an action that does not exist (instead of a bare "Not Found")."""
    del initiative_id
    raise HTTPException(
        status.HTTP_404_NOT_FOUND, f"unknown action {action!r}; available: {', '.join(sorted(ACTIONS))}"
    )
