"""Decisions over HTTP: one endpoint per workflow update (``-`` in place of ``_``).

The approver is the authenticated principal. A validator's refusal becomes 409 with its message and
is written to the event log as ``decision_refused`` (refusals never reach workflow history). With an
approval secret configured, the API signs a token for each decision it sends.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import APIRouter, Header, HTTPException, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from api import bodies
from api.context import ApiContext, Caller, Ctx
from api.delegation import Delegations
from api.errors import problems, unprocessable
from api.principals import Principal
from api.temporal import InitiativeId, handle_for, live_status, require_initiative, temporal_call
from api.tokens import signed, token_for
from db import events_repo, initiatives_repo
from db.pool import UNAVAILABLE
from schemas import decisions
from schemas.contract import CHANGE_DECISION, DECISION_REFUSED, UPDATE_NAMES, workflow_id_for
from schemas.integrations import ChangeDecisionInput
from schemas.stages import CHANGE_BOARD_ROLE, TEAM_ACTIONS, Role
from schemas.status import InitiativeStatusView

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1/initiatives", tags=["actions"])


class DecisionPending(BaseModel):
    """202: the decision was accepted by the workflow but is not applied yet (its event awaits the database)."""

    decision_id: str
    state: str = "accepted"
    detail: str
    status_url: str


_DECISION_KEYS = uuid.UUID("0b6f5f0e-3c1a-4d55-9d0e-6a3f1f7c2b81")
_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Accepted by the workflow, applied as soon as its event can be recorded",
        "model": DecisionPending,
    },
    **problems(
        {
            409: "Refused by the workflow's validator (the message says why), or the initiative has finished",
            403: "The caller lacks the role or is not on the initiative's team",
            404: "Unknown initiative",
            503: "Temporal, the database or the initiative's workflow cannot answer right now",
            504: "Temporal did not answer in time; the decision may still be applied",
        }
    ),
}


def _require_role(principal: Principal, role: Role) -> None:
    if not principal.has(role):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.email} does not hold role {role.value}")


async def _require_authority(
    ctx: ApiContext, initiative_id: str, update: str, principal: Principal, role: Role, payload: BaseModel
) -> None:
    """The caller holds ``role``, or decides for someone whose delegation in force names them for it.

    A refused delegation is audited like a refused decision: someone tried to act in another's name.
    """
    behalf = getattr(payload, "on_behalf_of", None)
    if behalf is None:
        _require_role(principal, role)
        return
    reason = await Delegations(ctx.pool, ctx.directory).refusal(
        delegate=principal.email, delegator=behalf, role=role.value
    )
    if reason is not None:
        await require_initiative(ctx, initiative_id)  # an unknown initiative is 404, not a refused delegation
        await _record_refusal(ctx, initiative_id, update, principal, role.value, reason, payload)
        log.info("delegated decision refused", initiative_id=initiative_id, action=update, reason=reason)
        raise HTTPException(status.HTTP_403_FORBIDDEN, reason)


async def _require_team_or(ctx: ApiContext, principal: Principal, initiative_id: str, *roles: Role) -> None:
    if any(principal.has(r) for r in (*roles, Role.ADMIN)):
        return
    if not principal.roles - {Role.VIEWER}:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.email} only views; a viewer takes no action")
    try:
        row = await initiatives_repo.get_initiative(ctx.pool, initiative_id)
    except UNAVAILABLE:
        row = None  # the database is down: the workflow knows the team as well
    team = row.team if row is not None else (await live_status(ctx, initiative_id)).team
    if not principal.in_team(team):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.email} is not on the initiative's team")


#: Right after a submission the initiative's row may not be written yet: a refusal waits this long for it.
_REFUSAL_WAITS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6)


async def _record_refusal(
    ctx: ApiContext,
    initiative_id: str,
    update: str,
    principal: Principal,
    role: str | None,
    message: str,
    payload: BaseModel,
) -> None:
    event_id = f"refusal-{uuid.uuid4()}"
    at = datetime.now(UTC)
    data: dict[str, object] = {"action": update, "payload": payload.model_dump(mode="json", exclude={"token"})}
    try:
        for wait in _REFUSAL_WAITS:
            await asyncio.sleep(wait)
            async with ctx.pool.acquire() as conn:
                recorded = await events_repo.record_refusal(
                    conn,
                    event_id=event_id,
                    initiative_id=initiative_id,
                    actor=principal.email,
                    role=role,
                    detail=message,
                    data=data,
                    at=at,
                )
            if recorded:
                return
        log.warning("refused decision not audited: the initiative has no row yet", initiative_id=initiative_id)
    except Exception:  # the refusal answer matters more than its audit line; the failure is logged
        log.exception("could not record refused decision", initiative_id=initiative_id, action=update)


def _update_id(update: str, principal: Principal, idempotency_key: str | None) -> str:
    if idempotency_key:
        key = f"{principal.email}\n{idempotency_key}"
        return f"{update}-{uuid.uuid5(_DECISION_KEYS, key)}"
    return f"{update}-{uuid.uuid4()}"


async def _send(
    ctx: ApiContext,
    initiative_id: str,
    update: str,
    payload: BaseModel,
    principal: Principal,
    role: str | None,
    idempotency_key: str | None,
) -> InitiativeStatusView | JSONResponse:
    if ctx.approval_secret is not None:
        stage = getattr(payload, "stage", None)
        stage_value = stage.value if stage is not None else (await live_status(ctx, initiative_id)).stage.value
        payload = signed(ctx, initiative_id, update, role or "", stage_value, payload)
    handle = handle_for(ctx, initiative_id)
    update_id = _update_id(update, principal, idempotency_key)
    try:
        async with temporal_call(ctx.temporal_timeout, f"sending {update}", initiative_id):
            sent = await handle.start_update(
                update,
                payload,
                id=update_id,
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                result_type=InitiativeStatusView,
            )
        try:
            result: InitiativeStatusView = await asyncio.wait_for(sent.result(), ctx.decision_wait)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError) as err:
            # Accepted means recorded in the workflow's history: it will be applied even if Temporal went away.
            log.warning(
                "decision accepted, not yet applied",
                initiative_id=initiative_id,
                action=update,
                id=update_id,
                waiting=type(err).__name__,
            )
            pending = DecisionPending(
                decision_id=update_id,
                detail=f"{update} was accepted but is not applied yet (the event log may be unavailable); "
                "it will be applied as soon as it can be recorded: watch the status",
                status_url=f"/v1/initiatives/{initiative_id}",
            )
            return JSONResponse(pending.model_dump(), status_code=status.HTTP_202_ACCEPTED)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == DECISION_REFUSED:
            await _record_refusal(ctx, initiative_id, update, principal, role, cause.message, payload)
            log.info("decision refused", initiative_id=initiative_id, action=update, reason=cause.message)
            raise HTTPException(status.HTTP_409_CONFLICT, cause.message) from err
        message = str(cause.message if isinstance(cause, ApplicationError) else cause or err)
        raise HTTPException(status.HTTP_409_CONFLICT, f"update {update} failed: {message}") from err
    except HTTPException as err:
        if err.status_code != status.HTTP_404_NOT_FOUND:
            raise
        # Either no such workflow, or it has finished: tell the two apart for the caller.
        try:
            view = await live_status(ctx, initiative_id)
        except HTTPException as lookup:
            if lookup.status_code == status.HTTP_404_NOT_FOUND:
                raise err from None  # no such initiative
            raise
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"initiative is already {view.stage.value}; no further decisions"
        ) from err
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

    @property
    def team_or(self) -> tuple[Role, ...]:
        """Roles (besides the initiative's team and admins) allowed to take this team action."""
        return TEAM_ACTIONS.get(self.update, ())


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
    ),
    "report-blocker": Action(
        "report_blocker", bodies.ReasonBody, "Report what blocks the team", _team(decisions.ReportBlockerInput)
    ),
    "hold": Action(
        "hold",
        bodies.ReasonBody,
        "Put the initiative on hold (team, portfolio or admin)",
        _team(decisions.HoldInput),
    ),
    "resume": Action(
        "resume",
        bodies.ResumeBody,
        "Resume a held initiative (team, portfolio or admin)",
        _team(decisions.ResumeInput),
    ),
    "scrap": Action(
        "scrap",
        bodies.ScrapBody,
        "Scrap the initiative (team, portfolio or admin)",
        _team(decisions.ScrapInput),
    ),
}
assert {a.update for a in ACTIONS.values()} == set(UPDATE_NAMES)
_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Awaitable[Any]])


IdempotencyKey = Annotated[str | None, Header(max_length=200)]


async def _act(
    path: str,
    ctx: ApiContext,
    initiative_id: str,
    body: BaseModel,
    principal: Principal,
    idempotency_key: str | None,
) -> InitiativeStatusView | JSONResponse:
    """Check who may take the action, build its workflow payload and send it as the update."""
    action = ACTIONS[path]
    payload, role = action.build(body, principal.email)
    if role is not None:
        await _require_authority(ctx, initiative_id, action.update, principal, role, payload)
    else:
        await _require_team_or(ctx, principal, initiative_id, *action.team_or)
    return await _send(
        ctx, initiative_id, action.update, payload, principal, role.value if role else None, idempotency_key
    )


def _route(path: str) -> Callable[[_Endpoint], _Endpoint]:
    """``POST /{initiative_id}/<path>``, documented as every action is."""
    return router.post(
        f"/{{initiative_id}}/{path}",
        response_model=InitiativeStatusView,
        responses=_RESPONSES,
        summary=ACTIONS[path].summary,
    )


@_route("approve")
async def approve(
    initiative_id: InitiativeId,
    body: bodies.ApproveBody,
    principal: Caller,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> InitiativeStatusView | JSONResponse:
    """Approve the current gate as one of your roles."""
    return await _act("approve", ctx, initiative_id, body, principal, idempotency_key)


@_route("reject")
async def reject(
    initiative_id: InitiativeId,
    body: bodies.RejectBody,
    principal: Caller,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> InitiativeStatusView | JSONResponse:
    """Reject at the current gate (ends the initiative)."""
    return await _act("reject", ctx, initiative_id, body, principal, idempotency_key)


@_route("request-changes")
async def request_changes(
    initiative_id: InitiativeId,
    body: bodies.RequestChangesBody,
    principal: Caller,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> InitiativeStatusView | JSONResponse:
    """Send the initiative back one stage."""
    return await _act("request-changes", ctx, initiative_id, body, principal, idempotency_key)


@_route("waive-finding")
async def waive_finding(
    initiative_id: InitiativeId,
    body: bodies.WaiveFindingBody,
    principal: Caller,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> InitiativeStatusView | JSONResponse:
    """Waive a finding (role infrastructure)."""
    return await _act("waive-finding", ctx, initiative_id, body, principal, idempotency_key)


@_route("submit-poc-results")
async def submit_poc_results(
    initiative_id: InitiativeId,
    body: bodies.SubmitPocResultsBody,
    principal: Caller,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> InitiativeStatusView | JSONResponse:
    """Submit PoC results (team)."""
    return await _act("submit-poc-results", ctx, initiative_id, body, principal, idempotency_key)


@_route("resolve-finding")
async def resolve_finding(
    initiative_id: InitiativeId,
    body: bodies.ResolveFindingBody,
    principal: Caller,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> InitiativeStatusView | JSONResponse:
    """Resolve a finding with evidence (team)."""
    return await _act("resolve-finding", ctx, initiative_id, body, principal, idempotency_key)


@_route("report-blocker")
async def report_blocker(
    initiative_id: InitiativeId,
    body: bodies.ReasonBody,
    principal: Caller,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> InitiativeStatusView | JSONResponse:
    """Report what blocks the team."""
    return await _act("report-blocker", ctx, initiative_id, body, principal, idempotency_key)


@_route("hold")
async def hold(
    initiative_id: InitiativeId,
    body: bodies.ReasonBody,
    principal: Caller,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> InitiativeStatusView | JSONResponse:
    """Put the initiative on hold (team, portfolio or admin)."""
    return await _act("hold", ctx, initiative_id, body, principal, idempotency_key)


@_route("resume")
async def resume(
    initiative_id: InitiativeId,
    body: bodies.ResumeBody,
    principal: Caller,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> InitiativeStatusView | JSONResponse:
    """Resume a held initiative (team, portfolio or admin)."""
    return await _act("resume", ctx, initiative_id, body, principal, idempotency_key)


@_route("scrap")
async def scrap(
    initiative_id: InitiativeId,
    body: bodies.ScrapBody,
    principal: Caller,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> InitiativeStatusView | JSONResponse:
    """Scrap the initiative (team, portfolio or admin)."""
    return await _act("scrap", ctx, initiative_id, body, principal, idempotency_key)


# ---------------------------------------------------------------------------- approval tokens


class ApprovalTokenResponse(BaseModel):
    """A signed token and the payload to paste into the Web UI's update dialog of ``workflow_id``."""

    token: str
    expires_at: datetime
    action: str
    ui_payload: dict[str, Any]
    workflow_id: str = ""


@router.post(
    "/{initiative_id}/approval-token",
    response_model=ApprovalTokenResponse,
    responses=_RESPONSES,
    summary="A signed token for deciding in the Web UI",
)
async def approval_token(
    initiative_id: InitiativeId, body: bodies.ApprovalTokenBody, principal: Caller, ctx: Ctx
) -> ApprovalTokenResponse:
    """Sign a token for one decision of the caller's (``action``, ``role`` and ``fields``) at the current stage.

    The token is bound to exactly the returned ``ui_payload``: paste it unchanged. Team actions need a
    place on the initiative's team (or a role that may take them); decisions need the role.
    """
    if ctx.approval_secret is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "approval tokens are not enabled: set LIFTOFF_APPROVAL_SECRET for the API and the workers",
        )
    update = body.action.replace("-", "_")
    if update == CHANGE_DECISION:
        return await _change_decision_token(ctx, initiative_id, body, principal)
    action = ACTIONS.get(update.replace("_", "-"))
    if action is None:
        raise unprocessable(f"unknown action {body.action!r}", loc=("body", "action"))
    view = await live_status(ctx, initiative_id)
    fields: dict[str, Any] = {**body.fields, "stage": view.stage.value}
    if body.role is not None:
        fields["role"] = body.role.value
    request = _validated(action.body, fields)
    payload, role = action.build(request, principal.email)
    if role is not None:
        await _require_authority(ctx, initiative_id, update, principal, role, payload)
    else:
        await _require_team_or(ctx, principal, initiative_id, *action.team_or)
    token, expires = token_for(ctx, initiative_id, update, role.value if role else "", view.stage.value, payload)
    # what a person pastes: an unused on_behalf_of is left out (the token's digest ignores it when unset)
    shown = payload.model_dump(mode="json", exclude=_unset_later_fields(payload))
    ui_payload: dict[str, Any] = {**shown, "token": token}
    return ApprovalTokenResponse(
        token=token,
        expires_at=expires,
        action=update,
        ui_payload=ui_payload,
        workflow_id=workflow_id_for(initiative_id),
    )


def _unset_later_fields(payload: BaseModel) -> set[str]:
    """Optional fields added after tokens existed and left unset: not shown in the payload to paste."""
    return {"on_behalf_of"} if getattr(payload, "on_behalf_of", "") is None else set()


def _validated(model: type[BaseModel], fields: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(fields)
    except ValidationError as err:
        errors = [
            {"loc": ["body", "fields", *(str(p) for p in e["loc"])], "msg": str(e["msg"]), "type": str(e["type"])}
            for e in err.errors()
        ]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, errors) from err


async def _change_decision_token(
    ctx: ApiContext, initiative_id: str, body: bodies.ApprovalTokenBody, principal: Principal
) -> ApprovalTokenResponse:
    if not (principal.has(CHANGE_BOARD_ROLE) or principal.has(Role.ADMIN)):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"{principal.email} does not hold role {CHANGE_BOARD_ROLE.value}"
        )
    view = await live_status(ctx, initiative_id)
    if view.rollout_workflow_id is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"initiative is at {view.stage.value}, not rolling out")
    decision = _validated(ChangeDecisionInput, {**body.fields, "actor": principal.email})
    token, expires = token_for(ctx, initiative_id, CHANGE_DECISION, "", "rollout", decision)
    return ApprovalTokenResponse(
        token=token,
        expires_at=expires,
        action=CHANGE_DECISION,
        ui_payload={**decision.model_dump(mode="json"), "token": token},
        workflow_id=view.rollout_workflow_id,
    )


@router.post("/{initiative_id}/{action}", include_in_schema=False)
async def unknown_action(initiative_id: InitiativeId, action: str, _: Caller) -> None:
    """A clear 404 for an action that does not exist (instead of a bare "Not Found")."""
    del initiative_id
    raise HTTPException(
        status.HTTP_404_NOT_FOUND, f"unknown action {action!r}; available: {', '.join(sorted(ACTIONS))}"
    )
