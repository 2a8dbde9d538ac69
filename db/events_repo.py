"""Writes lifecycle events with their read-model effects, and reads them back."""

from __future__ import annotations

import json
from datetime import datetime

from db import rollups_repo
from db.pool import Conn
from db.queries import sql
from db.rows import EventRow
from schemas.events import EventKind, InitiativeSnapshot, LifecycleEvent, RecordEventsInput
from schemas.notifications import Notice
from schemas.stages import Stage
from schemas.taxonomy import ReasonCode, family_of


async def _upsert_snapshot(conn: Conn, snap: InitiativeSnapshot, seq: int, at: datetime) -> None:
    spec = snap.spec
    await conn.execute(
        sql("upsert_initiative"),
        snap.initiative_id,
        snap.workflow_id,
        spec.title,
        spec.team,
        spec.business_unit,
        spec.sponsor,
        snap.submitter,
        spec.risk_tier.value,
        spec.data_classification.value,
        spec.procurement.value,
        spec.infrastructure.deployment_target.value,
        spec.budget_usd,
        snap.policy_version,
        snap.stage.value,
        snap.status.value,
        snap.stage_entered_at,
        snap.awaiting_roles,
        snap.reason_code.value if snap.reason_code else None,
        snap.poc_spend_usd,
        snap.submitted_at,
        at,
        seq,
        spec.model_dump(mode="json"),
        snap.due_at,
        snap.approved_by,
        snap.approvers_can_act,
        snap.team_action.value if snap.team_action else None,
    )


async def _apply_intervals(conn: Conn, event: LifecycleEvent) -> None:
    reason = event.reason_code.value if event.reason_code else None
    if event.kind is EventKind.STAGE_ENTERED:
        terminal = event.stage.is_terminal
        await conn.execute(
            sql("open_interval"),
            event.event_id,
            event.initiative_id,
            event.stage.value,
            event.occurred_at,
            event.occurred_at if terminal else None,
            event.stage.value if terminal else None,
        )
    elif event.kind is EventKind.STAGE_LEFT:
        outcome = str(event.data.get("outcome", "advanced"))
        await conn.execute(
            sql("close_interval"), event.initiative_id, event.stage.value, event.occurred_at, outcome, reason
        )
    elif event.kind is EventKind.STALLED:
        await conn.execute(sql("interval_stalled"), event.initiative_id, event.stage.value, reason)
    elif event.kind is EventKind.STALL_CLEARED:
        seconds = float(event.data.get("stalled_seconds", 0))
        await conn.execute(sql("interval_stall_time"), event.initiative_id, event.stage.value, seconds)
    elif event.kind is EventKind.SCRAPPED:
        seconds = float(event.data.get("stalled_seconds", 0))
        if seconds:
            await conn.execute(sql("interval_stall_time"), event.initiative_id, event.stage.value, seconds)
        await conn.execute(
            sql("close_interval"), event.initiative_id, event.stage.value, event.occurred_at, "scrapped", reason
        )
        await conn.execute(
            sql("open_interval"),
            event.event_id,
            event.initiative_id,
            Stage.SCRAPPED.value,
            event.occurred_at,
            event.occurred_at,
            Stage.SCRAPPED.value,
        )


async def _insert_event(conn: Conn, event: LifecycleEvent) -> bool:
    inserted = await conn.fetchval(
        sql("insert_event"),
        event.event_id,
        event.initiative_id,
        event.seq,
        event.kind.value,
        event.stage.value,
        event.actor,
        event.role,
        event.reason_code.value if event.reason_code else None,
        family_of(event.reason_code).value if event.reason_code else None,
        event.detail,
        event.data,
        event.occurred_at,
        event.policy_version,
        event.verified,
    )
    if inserted is None:
        return False
    await _apply_intervals(conn, event)
    return True


async def record_events(conn: Conn, record: RecordEventsInput) -> int:
    """Record events in order with the snapshot after the last, in one transaction; returns how many were new.

    Each event keeps its own deterministic id, so a retried batch inserts only what is missing.
    """
    last = record.events[-1]
    async with conn.transaction():
        # the snapshot's upsert locks the initiative's row first: writers of its rollups take turns
        await _upsert_snapshot(conn, record.snapshot, last.seq, last.occurred_at)
        inserted = 0
        for event in record.events:
            inserted += await _insert_event(conn, event)
        if inserted:
            await rollups_repo.refresh(conn, record.snapshot.initiative_id)
        for notice in record.notices:
            await _insert_notice(conn, record.snapshot, notice, last.occurred_at)
        return inserted


async def _insert_notice(conn: Conn, snap: InitiativeSnapshot, notice: Notice, at: datetime) -> None:
    await conn.execute(
        sql("insert_notice"),
        f"{snap.workflow_id}/{notice.key}",
        snap.initiative_id,
        notice.kind.value,
        notice.stage.value,
        notice.visit,
        notice.roles,
        notice.people,
        notice.action,
        notice.due_at,
        notice.detail,
        at,
    )


async def record_refusal(
    conn: Conn,
    *,
    event_id: str,
    initiative_id: str,
    actor: str,
    role: str | None,
    detail: str,
    data: dict[str, object],
    at: datetime,
) -> bool:
    """Record a ``decision_refused`` event written by the API; False if the initiative has no row yet."""
    status = await conn.execute(
        sql("insert_refusal"), event_id, initiative_id, actor, role, detail, json.loads(json.dumps(data)), at
    )
    return status.endswith(" 1")


async def record_tampered(
    conn: Conn, *, event_id: str, initiative_id: str, how: str, noticed_by: str, detail: str, at: datetime
) -> bool:
    """Record that an initiative's workflow was ``how`` (terminated, cancelled, reset) outside liftoff; idempotent."""
    status = await conn.execute(sql("insert_tampered"), event_id, initiative_id, how, noticed_by, detail, at)
    return status.endswith(" 1")


async def list_events(conn: Conn, initiative_id: str) -> list[EventRow]:
    """Every event of an initiative in the order it happened."""
    rows = await conn.fetch(sql("list_events"), initiative_id)
    return [EventRow.model_validate(dict(r)) for r in rows]


async def record_ticket_update(
    conn: Conn,
    *,
    event_id: str,
    initiative_id: str,
    system: str,
    ref: str,
    state: str,
    rejected: bool,
    at: datetime,
) -> bool:
    """Record that ``system``'s ticket ``ref`` is now ``state`` (a rejection carries ``CHANGE_REJECTED``)."""
    status = await conn.execute(
        sql("insert_ticket_update"),
        event_id,
        system,
        ReasonCode.CHANGE_REJECTED.value if rejected else None,
        family_of(ReasonCode.CHANGE_REJECTED).value if rejected else None,
        f"{system} ticket {ref} is now {state}",
        json.loads(json.dumps({"ticket": ref, "state": state})),
        at,
        initiative_id,
    )
    return status.endswith(" 1")
