"""Ticket webhooks: Jira and ServiceNow tell liftoff when a ticket moves.

- ``POST /v1/events/jira``: a Jira Cloud webhook (``jira:issue_updated``), signed by Jira with the
  secret set when the webhook was registered: ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>``.
  The initiative comes from the issue's ``liftoff-initiative-<id>`` label, the ticket kind from its
  ``liftoff-kind-<kind>`` label, the new state from ``issue.fields.status.name``.
- ``POST /v1/events/servicenow``: a ServiceNow outbound REST message (from a business rule) with the
  JSON body ``{table, sys_id, number, state, approval, correlation_display}``, authenticated with
  ``Authorization: Bearer <secret>`` or ``X-Liftoff-Signature: sha256=<hex HMAC of the body>``. The
  initiative comes from ``correlation_display`` (``liftoff:<id>``), which the adapter sets on create.

A change ticket approved lets the waiting rollout proceed; rejected (or won't do / cancelled), the
rollout compensates and the initiative goes back with reason ``CHANGE_REJECTED``. Other tickets'
moves are recorded as ``ticket_updated`` events. Polling the ticket remains the fallback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, ValidationError
from temporalio.client import WorkflowUpdateFailedError

from api.context import ApiContext, Ctx
from api.errors import problems, unprocessable
from api.temporal import live_status, temporal_call
from api.tokens import signed
from db import events_repo, webhooks_repo
from db.storable import storable_text
from schemas.change_states import change_verdict
from schemas.contract import CHANGE_DECISION
from schemas.integrations import ChangeDecisionInput

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1/events", tags=["ticket events"])

_RESPONSES = problems(
    {
        404: "This webhook is not enabled (no secret set), or the initiative is unknown",
        409: "Not the rollout's change ticket, a stale delivery, or a decision the rollout refused",
    }
)


class EventOutcome(BaseModel):
    """What liftoff did with a ticket event."""

    model_config = ConfigDict(frozen=True)

    initiative_id: str
    handled: str


#: A delivery must have been sent within this long (and not from the future, beyond clock skew).
FRESH_WITHIN = timedelta(minutes=5)
SKEW = timedelta(minutes=1)


def _signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is ``sha256=<hex HMAC of body>``; compared as bytes (headers are not always ASCII)."""
    if not header:
        return False
    given = header.encode("latin-1", "replace")
    if not given.startswith(b"sha256="):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")
    return hmac.compare_digest(given.removeprefix(b"sha256="), expected)


def _sent_at(value: object) -> datetime:
    """A delivery's send time: epoch milliseconds (Jira's ``timestamp``) or ISO 8601; 422 otherwise."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            sent = datetime.fromtimestamp(float(value) / 1000, tz=UTC)
        elif isinstance(value, str):
            sent = datetime.fromisoformat(value)
            sent = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
        else:
            raise TypeError
    except (TypeError, ValueError, OverflowError, OSError) as err:
        raise unprocessable("the delivery carries no valid send time") from err
    return sent


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


async def _fresh_and_new(ctx: ApiContext, body: bytes, sent: datetime) -> bool:
    """Refuse a stale delivery (409); False for one already applied (the same signed body again)."""
    now = datetime.now(UTC)
    if not now - FRESH_WITHIN <= sent <= now + SKEW:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"stale delivery (sent {sent.isoformat()}); only the last 5 minutes count"
        )
    async with ctx.pool.acquire() as conn:
        return not await webhooks_repo.seen(conn, _digest(body))


async def _applied(ctx: ApiContext, system: str, body: bytes, outcome: EventOutcome) -> EventOutcome:
    """Remember the delivery once it was applied (a delivery that failed may be sent again)."""
    async with ctx.pool.acquire() as conn:
        await webhooks_repo.remember(conn, system=system, digest=_digest(body))
    return outcome


def _secret(ctx: ApiContext, system: str) -> bytes:
    secret = ctx.webhook_secrets.get(system)
    if not secret:  # unset or empty: disabled (an empty secret would authenticate anyone)
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"{system} webhooks are not enabled (set LIFTOFF_{system.upper()}_WEBHOOK_SECRET)",
        )
    return secret


async def _record(ctx: ApiContext, initiative_id: str, system: str, ref: str, state: str, rejected: bool) -> None:
    async with ctx.pool.acquire() as conn:
        await events_repo.record_ticket_update(
            conn,
            event_id=f"ticket-{uuid.uuid4()}",
            initiative_id=initiative_id,
            system=system,
            ref=ref,
            state=state,
            rejected=rejected,
            at=datetime.now(UTC),
        )


async def _apply(ctx: ApiContext, initiative_id: str, system: str, kind: str, ref: str, state: str) -> EventOutcome:
    ref, state = storable_text(ref)[:200], storable_text(state).lower()[:100]
    verdict = change_verdict(state)
    approved, rejected = verdict is True, verdict is False
    view = await live_status(ctx, initiative_id)
    if kind == "change" and (approved or rejected) and view.rollout_workflow_id:
        rollout = ctx.client.get_workflow_handle(view.rollout_workflow_id)
        async with temporal_call(ctx.temporal_timeout, "reading the rollout's change ticket", initiative_id):
            expected = await rollout.query("change_ticket", result_type=str)
        if ref != expected:
            log.warning("ticket event for another ticket", initiative_id=initiative_id, ref=ref, expected=expected)
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"ticket {ref} is not the change ticket of this initiative's rollout; nothing was decided",
            )
        decision = signed(
            ctx,
            initiative_id,
            CHANGE_DECISION,
            "",
            "rollout",
            ChangeDecisionInput(approved=approved, actor=system, detail=f"{ref} {state}"),
        )
        try:
            async with temporal_call(ctx.temporal_timeout, "sending the change decision", initiative_id):
                await ctx.client.get_workflow_handle(view.rollout_workflow_id).execute_update(
                    "change_decision", decision
                )
        except WorkflowUpdateFailedError as err:
            raise HTTPException(status.HTTP_409_CONFLICT, f"the rollout refused the decision: {err.cause}") from err
        log.info("change decision from ticket", initiative_id=initiative_id, ref=ref, approved=approved)
        return EventOutcome(initiative_id=initiative_id, handled="change_approved" if approved else "change_rejected")
    await _record(ctx, initiative_id, system, ref, state, rejected)
    return EventOutcome(initiative_id=initiative_id, handled="recorded")


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as err:
        raise unprocessable("the body is not JSON", kind="json_invalid") from err
    if not isinstance(data, dict):
        raise unprocessable("the body must be a JSON object")
    return data


@router.post(
    "/jira",
    response_model=EventOutcome,
    status_code=202,
    responses={**_RESPONSES, 422: {"description": "Not a Jira issue event, or no liftoff-initiative-<id> label"}},
    summary="Jira issue webhook (signed)",
)
async def jira_event(request: Request, ctx: Ctx) -> EventOutcome:
    """Verify ``X-Hub-Signature`` and apply the issue's new status."""
    body = await request.body()
    if not _signature_ok(_secret(ctx, "jira"), body, request.headers.get("X-Hub-Signature")):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bad or missing X-Hub-Signature")
    data = _json(body)
    issue = data.get("issue") or {}
    if not isinstance(issue, dict):
        raise unprocessable("issue must be an object", loc=("body", "issue"))
    fields = issue.get("fields") or {}
    labels = [str(label) for label in fields.get("labels") or []]
    initiative = next(
        (lab.removeprefix("liftoff-initiative-") for lab in labels if lab.startswith("liftoff-initiative-")), None
    )
    kind = next((lab.removeprefix("liftoff-kind-") for lab in labels if lab.startswith("liftoff-kind-")), "")
    if initiative is None:
        raise unprocessable(
            "the issue carries no liftoff-initiative-<id> label", loc=("body", "issue", "fields", "labels")
        )
    state = str((fields.get("status") or {}).get("name", ""))
    if not await _fresh_and_new(ctx, body, _sent_at(data.get("timestamp"))):
        return EventOutcome(initiative_id=initiative, handled="duplicate")
    outcome = await _apply(ctx, initiative, "jira", kind, str(issue.get("key", "")), state)
    return await _applied(ctx, "jira", body, outcome)


class ServiceNowEvent(BaseModel):
    """Body of the ServiceNow outbound REST message."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    table: str
    sys_id: str
    number: str = ""
    state: str = ""
    approval: str = ""
    correlation_display: str
    #: When the business rule sent it (ISO 8601 or epoch milliseconds): stale deliveries are refused.
    sent_at: str | int


@router.post(
    "/servicenow",
    response_model=EventOutcome,
    status_code=202,
    responses={**_RESPONSES, 422: {"description": "Not the outbound REST message's body"}},
    summary="ServiceNow record webhook",
)
async def servicenow_event(request: Request, ctx: Ctx) -> EventOutcome:
    """Verify the shared secret (bearer or signature) and apply the record's new state."""
    body = await request.body()
    secret = _secret(ctx, "servicenow")
    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").encode("latin-1", "replace")
    if not (
        hmac.compare_digest(bearer, secret) or _signature_ok(secret, body, request.headers.get("X-Liftoff-Signature"))
    ):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bad or missing webhook secret")
    try:
        event = ServiceNowEvent.model_validate(_json(body))
    except ValidationError as err:
        errors = [
            {"loc": ["body", *(str(p) for p in e["loc"])], "msg": str(e["msg"]), "type": str(e["type"])}
            for e in err.errors()
        ]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, errors) from err
    if not event.correlation_display.startswith("liftoff:"):
        raise unprocessable("correlation_display must be liftoff:<initiative id>", loc=("body", "correlation_display"))
    initiative = event.correlation_display.removeprefix("liftoff:")
    kind = "change" if event.table == "change_request" else event.table
    state = event.approval if kind == "change" and event.approval in {"approved", "rejected"} else event.state
    if not await _fresh_and_new(ctx, body, _sent_at(event.sent_at)):
        return EventOutcome(initiative_id=initiative, handled="duplicate")
    outcome = await _apply(ctx, initiative, "servicenow", kind, f"{event.table}:{event.sys_id}", state)
    return await _applied(ctx, "servicenow", body, outcome)
