"""Who must be told what after a workflow task: pure rules over the events it emitted and its gate.

Called by the outbox for each batch it records (``Outbox.review``), so a notice travels with the events that
caused it, in the same transaction and under a key derived from their sequence numbers: it is recorded once
however often the batch is retried. Nothing here sends anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():  # models only
    from schemas.events import EventKind, LifecycleEvent, TeamAction
    from schemas.notifications import Notice, NoticeKind
    from schemas.stages import Stage


class GateNow:
    """What the gate waits for after the batch (the workflow's view of it, as the snapshot reports it)."""

    __slots__ = ("approvers", "can_act", "due_at", "owners", "stage", "team_action", "visit", "waiting")

    def __init__(
        self,
        *,
        stage: Stage,
        visit: datetime,
        waiting: Sequence[str],
        can_act: bool,
        approvers: Sequence[str],
        team_action: TeamAction | None,
        due_at: datetime | None,
        owners: Sequence[str] = (),
    ) -> None:
        self.stage = stage
        self.visit = visit
        self.waiting = list(waiting)
        self.can_act = can_act
        self.approvers = list(approvers)
        self.team_action = team_action
        self.due_at = due_at
        self.owners = list(owners)


def people_for(roles: Sequence[str], roster: Mapping[str, Sequence[str]], skip: Sequence[str]) -> list[str]:
    """Roster emails of ``roles``, without ``skip`` (who approved, the submitter), sorted."""
    return sorted({p for r in roles for p in roster.get(r, ()) if p not in skip})


def review(
    events: Sequence[LifecycleEvent],
    gate: GateNow,
    *,
    roster: Mapping[str, Sequence[str]],
    submitter: str,
    announced: list[str],
) -> list[Notice]:
    """The notices a batch of ``events`` causes; adds what it announces to ``announced`` (the visit's list).

    A role hears that a gate waits for it once per stage visit, when it can decide (the PoC gate once
    results meeting the criteria are in); the team hears once per thing it must do; the submitter hears
    every decision that moves, sends back or ends the initiative; stalls and escalations go to their owners.
    """
    if not events:
        return []
    notices = [n for e in events if (n := _from_event(e, gate, roster, submitter)) is not None]
    last = events[-1].seq
    skip = [*gate.approvers, submitter]
    fresh = [r for r in (gate.waiting if gate.can_act else []) if f"role:{r}" not in announced]
    if fresh:
        announced.extend(f"role:{r}" for r in fresh)
        notices.append(
            Notice(
                key=f"{last}-awaiting",
                kind=NoticeKind.AWAITING,
                stage=gate.stage,
                visit=gate.visit,
                roles=fresh,
                people=people_for(fresh, roster, skip),
                action="approve",
                due_at=gate.due_at,
            )
        )
    if gate.team_action is not None and f"team:{gate.team_action.value}" not in announced:
        announced.append(f"team:{gate.team_action.value}")
        notices.append(
            Notice(
                key=f"{last}-team",
                kind=NoticeKind.TEAM_ACTION,
                stage=gate.stage,
                visit=gate.visit,
                people=[submitter],
                action=gate.team_action.value,
                due_at=gate.due_at,
            )
        )
    return notices


def _from_event(  # noqa: PLR0911 - one return per kind of event that tells someone
    event: LifecycleEvent, gate: GateNow, roster: Mapping[str, Sequence[str]], submitter: str
) -> Notice | None:
    if event.data.get("imported"):  # the past of an imported initiative (workflows/imported.py): old news
        return None
    key = f"{event.seq}-{event.kind.value}"
    reason = event.reason_code.value if event.reason_code else ""
    detail = f"{reason}: {event.detail}" if reason and event.detail else reason or event.detail
    if event.kind is EventKind.STAGE_LEFT:
        outcome = str(event.data.get("outcome", ""))
        if outcome not in ("advanced", "sent_back"):
            return None
        action = "approved" if outcome == "advanced" else "sent_back"
        by = f" by {event.actor}" if event.actor else ""
        return Notice(
            key=key,
            kind=NoticeKind.DECIDED,
            stage=event.stage,
            visit=gate.visit,
            people=[submitter],
            action=action,
            detail=detail or f"{event.stage.value} {action.replace('_', ' ')}{by}",
        )
    if event.kind is EventKind.SCRAPPED:
        via = str(event.data.get("via", "scrapped"))
        action = "rejected" if via == EventKind.REJECTED.value else "scrapped"
        return Notice(
            key=key,
            kind=NoticeKind.DECIDED,
            stage=event.stage,
            visit=gate.visit,
            people=[submitter],
            action=action,
            detail=detail,
        )
    if event.kind is EventKind.STALLED:
        return Notice(
            key=key,
            kind=NoticeKind.STALLED,
            stage=event.stage,
            visit=gate.visit,
            roles=gate.waiting,
            people=sorted({*gate.owners, submitter}),
            action="unblock",
            detail=detail,
        )
    if event.kind is EventKind.ESCALATED:
        to = event.data.get("to", [])
        return Notice(
            key=key,
            kind=NoticeKind.ESCALATED,
            stage=event.stage,
            visit=gate.visit,
            roles=gate.waiting,
            people=sorted({str(p) for p in to}) if isinstance(to, list) else [],
            action="unblock",
            detail=detail,
        )
    if event.kind is EventKind.REMINDED:
        roles = gate.waiting if gate.can_act else []
        people = people_for(roles, roster, [*gate.approvers, submitter])
        if gate.team_action is not None:
            people = sorted({*people, submitter})
        return Notice(
            key=key,
            kind=NoticeKind.REMINDER,
            stage=event.stage,
            visit=gate.visit,
            roles=roles,
            people=people,
            action="approve" if roles else (gate.team_action.value if gate.team_action else "approve"),
            due_at=gate.due_at,
            detail=event.detail,
        )
    return None
