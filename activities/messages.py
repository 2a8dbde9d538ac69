"""A notice in words: what is needed, by whom, by when, with links to act."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from urllib.parse import quote

from activities.channels import Link, Message
from db.notifications_repo import DeliveryContext

_ACTIONS = {
    "approve": "a decision",
    "submit_poc_results": "PoC results that meet the success criteria",
    "resolve_findings": "the blocking findings resolved (or waived by infrastructure)",
    "clear_blocker": "the blocker the team reported cleared",
}
_DECISIONS = {
    "approved": "was approved",
    "sent_back": "was sent back",
    "rejected": "was rejected",
    "scrapped": "was scrapped",
}


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "no deadline"


def render(ctx: DeliveryContext, delivery_id: str, *, ui_link: str, desk_url: str, on_behalf_of: str | None) -> Message:
    """The message for one delivery of ``ctx``'s notice."""
    stage = ctx.stage.replace("_", " ")
    who = ", ".join(ctx.people) or ", ".join(f"role {r}" for r in ctx.roles) or f"team {ctx.team}"
    needed = _ACTIONS.get(ctx.action, ctx.action.replace("_", " "))
    lines: list[str]
    if ctx.kind in ("awaiting", "reminder"):
        prefix = "Reminder: " if ctx.kind == "reminder" else ""
        subject = f"{prefix}{ctx.title} needs {needed} ({stage})"
        roles = f" as {', '.join(ctx.roles)}" if ctx.roles else ""
        lines = [
            f"{ctx.title} ({ctx.team}) is at stage {stage} and needs {needed}{roles}.",
            f"By: {who}.",
            f"By when: {_when(ctx.due_at)} (the stage's SLA; after it the initiative stalls).",
        ]
        if ctx.detail:
            lines.append(ctx.detail)
    elif ctx.kind == "team_action":
        subject = f"{ctx.title}: the team's turn ({stage})"
        lines = [
            f"{ctx.title} ({ctx.team}) is at stage {stage} and waits for {needed}.",
            f"By: {who} (team {ctx.team}).",
            f"By when: {_when(ctx.due_at)}.",
        ]
    elif ctx.kind in ("stalled", "escalated"):
        verb = "stalled" if ctx.kind == "stalled" else "is stalled and was escalated"
        subject = f"{ctx.title} {verb} at {stage}"
        lines = [f"{ctx.title} ({ctx.team}) {verb} at stage {stage}: {ctx.detail or 'no reason recorded'}."]
        lines.append(f"Needed from: {who}.")
    else:  # decided
        subject = f"{ctx.title}: {stage} {_DECISIONS.get(ctx.action, ctx.action)}"
        lines = [f"{ctx.title} ({ctx.team}): stage {stage} {_DECISIONS.get(ctx.action, ctx.action)}."]
        if ctx.detail:
            lines.append(ctx.detail)
    if on_behalf_of:
        lines.append(f"You receive this as the delegate of {on_behalf_of}.")
    links = [Link(label="Open in Temporal", url=ui_link)]
    if ctx.kind in ("awaiting", "reminder") and ctx.roles:
        links.append(Link(label="Get a signed payload", url=f"{desk_url}?initiative={quote(ctx.initiative_id)}"))
    return Message(delivery_id=delivery_id, subject=subject, lines=lines, links=links)


def render_digest(
    items: Sequence[tuple[DeliveryContext, str, str | None]], *, ui_link: Callable[[str], str], desk_url: str
) -> Message:
    """One message for several deliveries to one person (``(notice, delivery id, on behalf of)`` each).

    Its id (the email's Message-ID) derives from the deliveries it carries: the same digest, the same id.
    """
    ids = sorted(delivery_id for _, delivery_id, _ in items)
    digest_id = hashlib.sha256("\x00".join(ids).encode()).hexdigest()[:40]
    lines = [f"{len(items)} things need your attention in liftoff:"]
    for ctx, delivery_id, on_behalf_of in items:
        one = render(ctx, delivery_id, ui_link=ui_link(ctx.workflow_id), desk_url=desk_url, on_behalf_of=on_behalf_of)
        lines += ["", f"* {one.subject}", *(f"  {line}" for line in one.lines)]
        lines += [f"  {link.label}: {link.url}" for link in one.links]
    return Message(
        delivery_id=digest_id,
        subject=f"liftoff daily digest: {len(items)} things need your attention",
        lines=lines,
        links=[Link(label="Everything waiting for you", url=desk_url)],
    )
