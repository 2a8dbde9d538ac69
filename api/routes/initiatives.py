"""Submitting initiatives and reading them."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.context import ApiContext, Caller, Ctx
from api.errors import problems, unprocessable
from api.principals import Principal
from api.starts import new_start
from api.temporal import InitiativeId, LiveStatus, handle_for, live_status, temporal_call
from api.views import EventList, EventView, InitiativeList, InitiativeSummary, SubmitResponse
from db import events_repo, initiatives_repo
from schemas.classification import RiskTier
from schemas.contract import INITIATIVE_WORKFLOW, workflow_id_for
from schemas.initiative import InitiativeSpec, SubmitInitiativeRequest
from schemas.limits import MAX_OFFSET, Name
from schemas.stages import InitiativeStatus, Role, Stage
from schemas.status import InitiativeStatusView
from workflows import search_attributes as sa

router = APIRouter(prefix="/v1/initiatives", tags=["initiatives"])

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
        raise unprocessable(
            "risk tier 'unacceptable' is a prohibited use and cannot be submitted (REG_PROHIBITED)",
            loc=("body", "risk_tier"),
            kind="REG_PROHIBITED",
        )


_SUBMISSION_MEMO = "submission_sha256"


def _fingerprint(body: SubmitInitiativeRequest) -> str:
    return hashlib.sha256(body.model_dump_json().encode("utf-8")).hexdigest()


async def _replayed_submission(ctx: ApiContext, initiative_id: str, body: SubmitInitiativeRequest) -> tuple[str, str]:
    """Stage and status of the initiative an earlier request with the same key created (422 if another body)."""
    handle = handle_for(ctx, initiative_id)
    async with temporal_call(ctx.temporal_timeout, "reading the earlier submission", initiative_id):
        description = await handle.describe()
        earlier = await description.memo_value(_SUBMISSION_MEMO, None, type_hint=str)
    if earlier is not None and earlier != _fingerprint(body):
        raise unprocessable(
            f"this Idempotency-Key was already used for a different submission (initiative {initiative_id}); "
            "send the same body to get that initiative, or use a new key for a new initiative",
            loc=("header", "Idempotency-Key"),
            kind="idempotency_key_reused",
        )
    try:
        view = await live_status(ctx, initiative_id)
    except HTTPException:
        # The workflow cannot answer right now: its last published stage is still known.
        stage = description.typed_search_attributes.get(sa.INITIATIVE_STAGE) or Stage.PROPOSED.value
        return stage, InitiativeStatus.ACTIVE.value if description.status == WorkflowExecutionStatus.RUNNING else stage
    return view.stage.value, view.status.value


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SubmitResponse,
    summary="Submit an initiative (starts its workflow)",
    responses={
        422: {"description": "A malformed body, or an Idempotency-Key already used for another body"},
        **problems(
            {
                409: "An initiative id collision (submit again)",
                503: "Temporal is unavailable (nothing was started)",
                504: "Temporal did not answer in time (retry with the same Idempotency-Key)",
            }
        ),
    },
)
async def submit(
    body: SubmitInitiativeRequest,
    principal: Caller,
    ctx: Ctx,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> SubmitResponse:
    """Start an ``InitiativeWorkflow``.

    The same ``Idempotency-Key`` (per caller) with the same body returns the same initiative, as it is now;
    with another body it is refused (422).
    """
    _check_may_submit(principal, body)
    initiative_id = _new_id(principal, idempotency_key)
    workflow_id = workflow_id_for(initiative_id)
    spec = InitiativeSpec.model_validate(body.model_dump())
    submitted_at = datetime.now(UTC)
    start = new_start(ctx, initiative_id=initiative_id, spec=spec, submitter=principal.email, submitted_at=submitted_at)
    try:
        async with temporal_call(ctx.temporal_timeout, "starting the initiative's workflow"):
            await ctx.client.start_workflow(
                INITIATIVE_WORKFLOW,
                start,
                id=workflow_id,
                task_queue=ctx.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                memo={_SUBMISSION_MEMO: _fingerprint(body)},
                search_attributes=sa.for_start(start, submitted_at),
                static_summary=f"{body.title} ({body.team})",
                static_details=(
                    f"**{body.title}**\n\nTeam: {body.team} · Business unit: {body.business_unit} · "
                    f"Sponsor: {body.sponsor} · Risk tier: {body.risk_tier.value} · Submitted by {principal.email}"
                ),
            )
    except WorkflowAlreadyStartedError:
        if not idempotency_key:
            raise HTTPException(status.HTTP_409_CONFLICT, "initiative id collision; submit again") from None
        stage, state = await _replayed_submission(ctx, initiative_id, body)
        response.headers["Idempotent-Replayed"] = "true"
        return SubmitResponse(
            id=initiative_id, workflow_id=workflow_id, stage=stage, status=state, web_ui_url=ctx.ui_link(workflow_id)
        )
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
    team: Annotated[Name | None, Query()] = None,
    stalled: bool | None = None,
    awaiting_role: Annotated[Role | None, Query(description="awaiting this role, which can decide now")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> InitiativeList:
    """Initiatives newest first, filtered by stage, status, team, stalled, or a role that can decide now."""
    rows = await initiatives_repo.list_initiatives(
        ctx.pool,
        stage=stage.value if stage else None,
        status=status_.value if status_ else None,
        team=team,
        stalled=stalled,
        awaiting_role=awaiting_role.value if awaiting_role else None,
        limit=limit,
        offset=offset,
    )
    items = [InitiativeSummary.model_validate(row.model_dump()) for row in rows]
    return InitiativeList(items=items, limit=limit, offset=offset)


_UNKNOWN = problems({404: "Unknown initiative"})


@router.get("/{initiative_id}", response_model=InitiativeStatusView, responses=_UNKNOWN, summary="One initiative, live")
async def get_initiative(_: Caller, view: LiveStatus) -> InitiativeStatusView:
    """The live status from the initiative's workflow (stage, awaiting roles, approvals, findings)."""
    return view


@router.get(
    "/{initiative_id}/events", response_model=EventList, responses=_UNKNOWN, summary="An initiative's lifecycle events"
)
async def list_events(initiative_id: InitiativeId, ctx: Ctx, _: Caller) -> EventList:
    """Every recorded event, oldest first."""
    async with ctx.pool.acquire() as conn:
        rows = await events_repo.list_events(conn, initiative_id)
    if not rows:
        # Not yet written by the worker, or unknown: only Temporal can tell the two apart.
        async with temporal_call(ctx.temporal_timeout, "looking the initiative up", initiative_id):
            await handle_for(ctx, initiative_id).describe()
    events = [EventView.model_validate(r.model_dump()) for r in rows]
    return EventList(initiative_id=initiative_id, events=events)
