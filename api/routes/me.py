"""The caller's own desk: ``GET /v1/me/queue``, what waits for them now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.context import Caller, Ctx
from api.views import Queue, QueueItem
from db import initiatives_repo
from schemas.stages import Role

router = APIRouter(prefix="/v1/me", tags=["my desk"])


@router.get("/queue", response_model=Queue, summary="What I can act on now, soonest due first")
async def my_queue(ctx: Ctx, principal: Caller, limit: Annotated[int, Query(ge=1, le=500)] = 200) -> Queue:
    """Gates awaiting a role I hold, and my teams' initiatives waiting on the team.

    A gate shows while I have not approved it and did not submit the initiative; a team's initiative shows
    while the gate waits for PoC results, for open blocking findings to be dealt with, or on a blocker the
    team reported. A viewer acts on nothing; admins see only what their own roles and teams give them.
    """
    roles = sorted(r.value for r in principal.roles if r is not Role.VIEWER)
    teams = sorted(principal.teams) if roles else []
    rows = await initiatives_repo.queue_for(ctx.pool, email=principal.email, roles=roles, teams=teams, limit=limit)
    return Queue(
        items=[
            QueueItem(
                id=r.id,
                title=r.title,
                team=r.team,
                stage=r.stage,
                action=r.action,
                roles=r.roles,
                due_at=r.due_at,
                stalled=r.status == "stalled",
                web_ui_url=ctx.ui_link(r.workflow_id),
            )
            for r in rows
        ]
    )
