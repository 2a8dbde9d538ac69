"""The caller's own desk: ``GET /v1/me/queue`` (what waits for them now) and ``/v1/me/delegate``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api import bodies
from api.context import ApiContext, Caller, Ctx
from api.delegation import Delegation, Delegations, naming
from api.errors import problems, unprocessable
from api.principals import Principal
from api.views import DelegationView, MyDelegation, Queue, QueueItem
from db import delegations_repo, initiatives_repo
from db.rows import QueueRow
from schemas.stages import APPROVER_ROLES, Role

router = APIRouter(prefix="/v1/me", tags=["my desk"])

#: How far ahead a delegation may end: a delegation is for an absence, not a standing arrangement.
MAX_DELEGATION = timedelta(days=366)


def _item(ctx: ApiContext, row: QueueRow, on_behalf_of: str | None = None) -> QueueItem:
    return QueueItem(
        id=row.id,
        title=row.title,
        team=row.team,
        stage=row.stage,
        action=row.action,
        roles=row.roles,
        due_at=row.due_at,
        stalled=row.status == "stalled",
        web_ui_url=ctx.ui_link(row.workflow_id),
        on_behalf_of=on_behalf_of,
    )


@router.get("/queue", response_model=Queue, summary="What I can act on now, soonest due first")
async def my_queue(ctx: Ctx, principal: Caller, limit: Annotated[int, Query(ge=1, le=500)] = 200) -> Queue:
    """Gates awaiting a role I hold, my teams' initiatives waiting on the team, and what I may do as a delegate.

    While someone's delegation names me, the gates awaiting their roles show too (``on_behalf_of`` says whose).
    A gate shows while I have not approved it and did not submit the initiative (nor did the person I would
    act for); a team's initiative shows while the gate waits for PoC results, for open blocking findings to
    be dealt with, or on a blocker the team reported. A viewer acts on nothing; admins see only what their
    own roles and teams give them.
    """
    roles = sorted(r.value for r in principal.roles if r is not Role.VIEWER)
    teams = sorted(principal.teams) if roles else []
    rows = await initiatives_repo.queue_for(ctx.pool, email=principal.email, roles=roles, teams=teams, limit=limit)
    items = [_item(ctx, r) for r in rows]
    mine = {(r.id, tuple(r.roles)) for r in rows}
    for delegation in await Delegations(ctx.pool, ctx.directory).acting_for(principal.email):
        theirs = await initiatives_repo.queue_for(
            ctx.pool, email=delegation.delegator, roles=delegation.roles, teams=[], limit=limit
        )
        items += [
            _item(ctx, r, on_behalf_of=delegation.delegator)
            for r in theirs
            if (r.id, tuple(r.roles)) not in mine
            and principal.email != r.submitter
            and principal.email not in r.approved_by
        ]
    latest = datetime.max.replace(tzinfo=UTC)
    items.sort(key=lambda i: (i.due_at or latest, i.id, i.action, i.on_behalf_of or ""))
    return Queue(items=items[:limit])


def _view(d: Delegation) -> DelegationView:
    return DelegationView(delegator=d.delegator, delegate=d.delegate, roles=d.roles, until=d.until, source=d.source)


async def _mine(ctx: ApiContext, principal: Principal) -> MyDelegation:
    in_force = await Delegations(ctx.pool, ctx.directory).active()  # one read for both answers
    own = in_force.get(principal.email)
    return MyDelegation(
        delegate=_view(own) if own else None,
        acting_for=[_view(d) for d in naming(in_force, principal.email)],
    )


@router.get("/delegate", response_model=MyDelegation, summary="My delegate, and whom I may act for")
async def my_delegate(ctx: Ctx, principal: Caller) -> MyDelegation:
    """My delegation in force (from the principals file or set here), and the delegations that name me."""
    return await _mine(ctx, principal)


_DELEGATE_PROBLEMS = problems({409: "You hold no approver role to delegate"})


@router.put(
    "/delegate", response_model=MyDelegation, responses=_DELEGATE_PROBLEMS, summary="Name my delegate until a date"
)
async def set_delegate(ctx: Ctx, principal: Caller, body: bodies.DelegateBody) -> MyDelegation:
    """Until ``until``, ``to`` may decide in my approver roles on my behalf, and my notices go to them.

    The decision records both names, and separation of duties applies to both. ``to`` must be a principal
    this API knows (with an identity provider: an address in my own domain). Replaces any earlier delegate,
    including one the principals file names.
    """
    roles = sorted(r.value for r in principal.roles if r in APPROVER_ROLES)
    if not roles:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"{principal.email} holds no approver role; there is nothing to delegate"
        )
    now = datetime.now(UTC)
    if body.to == principal.email:
        raise unprocessable("a person cannot be their own delegate", loc=("body", "to"))
    if not _known(ctx, principal, body.to):
        raise unprocessable(
            f"{body.to} is not a person liftoff knows; name someone in the principals file"
            + (" or in your own email domain" if ctx.oidc is not None else ""),
            loc=("body", "to"),
        )
    if not now < body.until <= now + MAX_DELEGATION:
        raise unprocessable("until must be in the future and at most a year ahead", loc=("body", "until"))
    await delegations_repo.put(ctx.pool, principal.email, body.to, roles, body.until)
    return await _mine(ctx, principal)


@router.delete("/delegate", response_model=MyDelegation, summary="End my delegation now")
async def end_delegate(ctx: Ctx, principal: Caller) -> MyDelegation:
    """From now on nobody decides on my behalf (this also ends one the principals file names)."""
    await delegations_repo.put(ctx.pool, principal.email, None, [], None)
    return await _mine(ctx, principal)


def _known(ctx: ApiContext, principal: Principal, email: str) -> bool:
    if ctx.directory.knows(email):
        return True
    return ctx.oidc is not None and email.rpartition("@")[2] == principal.email.rpartition("@")[2]
