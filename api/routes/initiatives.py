"""Submitting initiatives and reading them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response, status
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.context import ApiContext, Caller, Ctx
from api.principals import Principal
from api.temporal_errors import is_not_found, not_found, unavailable
from api.views import EventList, EventView, InitiativeList, InitiativeSummary, SubmitResponse
from db import events_repo, initiatives_repo
from schemas.classification import RiskTier
from schemas.contract import INITIATIVE_WORKFLOW, workflow_id_for
from schemas.initiative import InitiativeSpec, StartInitiativeInput, SubmitInitiativeRequest
from schemas.stages import InitiativeStatus, Role, Stage
from schemas.status import InitiativeStatusView

router = APIRouter(prefix="/v1/initiatives", tags=["initiatives"])

InitiativeId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Initiative id")]
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d2c1e-8a53-4c8e-9a0e-1f5e2b7c4d10")


def _new_id(principal: Principal, idempotency_key: str | None) -> str:
    if idempotency_key:
        return uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{principal.email}\n{idempotency_key}").hex[:16]
    return uuid.uuid4().hex[:16]


def _check_may_submit(principal: Principal, body: SubmitInitiativeRequest) -> None:
    if not (principal.has(Role.SUBMITTER) or principal.has(Role.ADMIN)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.email} lacks role submitter")
    if not principal.in_team(body.team):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.email} is not a member of team {body.team!r}")
    if body.risk_tier is RiskTier.UNACCEPTABLE:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            {
                "reason_code": "REG_PROHIBITED",
                "message": "risk tier 'unacceptable' is a prohibited use and cannot be submitted",
            },
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SubmitResponse,
    summary="Submit an initiative (starts its workflow)",
)
async def submit(
    body: SubmitInitiativeRequest,
    principal: Caller,
    ctx: Ctx,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> SubmitResponse:
    """Start an ``InitiativeWorkflow``; the same ``Idempotency-Key`` returns the same initiative."""
    _check_may_submit(principal, body)
    initiative_id = _new_id(principal, idempotency_key)
    workflow_id = workflow_id_for(initiative_id)
    spec = InitiativeSpec.model_validate(body.model_dump())
    start = StartInitiativeInput(
        initiative_id=initiative_id,
        spec=spec,
        submitter=principal.email,
        submitted_at_iso=datetime.now(UTC).isoformat(),
        policy=ctx.policy,
        roster=ctx.directory.roster(),
        ui_base_url=ctx.ui_base_url,
    )
    replayed = False
    try:
        await ctx.client.start_workflow(
            INITIATIVE_WORKFLOW,
            start,
            id=workflow_id,
            task_queue=ctx.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=f"{body.title} ({body.team})",
            static_details=(
                f"**{body.title}**\n\nTeam: {body.team} · Business unit: {body.business_unit} · "
                f"Sponsor: {body.sponsor} · Risk tier: {body.risk_tier.value} · Submitted by {principal.email}"
            ),
        )
    except WorkflowAlreadyStartedError:
        if not idempotency_key:
            raise HTTPException(status.HTTP_409_CONFLICT, "initiative id collision; submit again") from None
        replayed = True
    except RPCError as err:
        raise unavailable(err) from err
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return SubmitResponse(
        id=initiative_id,
        workflow_id=workflow_id,
        stage=Stage.PROPOSED.value,
        status=InitiativeStatus.ACTIVE.value,
        web_ui_url=ctx.ui_link(workflow_id),
    )


@router.get("", response_model=InitiativeList, summary="List initiatives (read model)")
async def list_initiatives(
    ctx: Ctx,
    _: Caller,
    stage: Stage | None = None,
    status_: Annotated[InitiativeStatus | None, Query(alias="status")] = None,
    team: str | None = None,
    stalled: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> InitiativeList:
    """Initiatives newest first, filtered by stage, status, team or stalled."""
    rows = await initiatives_repo.list_initiatives(
        ctx.pool,
        stage=stage.value if stage else None,
        status=status_.value if status_ else None,
        team=team,
        stalled=stalled,
        limit=limit,
        offset=offset,
    )
    items = [InitiativeSummary.model_validate(row.model_dump()) for row in rows]
    return InitiativeList(items=items, limit=limit, offset=offset)


def handle_for(ctx: ApiContext, initiative_id: str) -> WorkflowHandle[object, InitiativeStatusView]:
    """The workflow handle of an initiative (no round trip)."""
    return ctx.client.get_workflow_handle(workflow_id_for(initiative_id), result_type=InitiativeStatusView)


@router.get("/{initiative_id}", response_model=InitiativeStatusView, summary="One initiative, live")
async def get_initiative(initiative_id: InitiativeId, ctx: Ctx, _: Caller) -> InitiativeStatusView:
    """The live status from the initiative's workflow (stage, awaiting roles, approvals, findings)."""
    try:
        view: InitiativeStatusView = await handle_for(ctx, initiative_id).query(
            "status", result_type=InitiativeStatusView
        )
    except RPCError as err:
        if is_not_found(err):
            raise not_found(initiative_id) from err
        raise unavailable(err) from err
    return view


@router.get("/{initiative_id}/events", response_model=EventList, summary="An initiative's lifecycle events")
async def list_events(initiative_id: InitiativeId, ctx: Ctx, _: Caller) -> EventList:
    """Every recorded event, oldest first."""
    async with ctx.pool.acquire() as conn:
        rows = await events_repo.list_events(conn, initiative_id)
    if not rows:
        # Not yet written by the worker, or unknown: only Temporal can tell the two apart.
        try:
            await handle_for(ctx, initiative_id).describe()
        except RPCError as err:
            if is_not_found(err):
                raise not_found(initiative_id) from err
            raise unavailable(err) from err
    events = [EventView.model_validate(r.model_dump()) for r in rows]
    return EventList(initiative_id=initiative_id, events=events)
