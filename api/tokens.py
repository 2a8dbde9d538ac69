"""Signing approval tokens for the decisions the API sends or hands to a person for the Web UI."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from api.context import ApiContext
from schemas.approval_token import payload_digest, sign_token


def token_for(
    ctx: ApiContext, initiative_id: str, update: str, role: str, stage: str, payload: BaseModel
) -> tuple[str, datetime]:
    """A token for exactly ``payload`` (its approver or actor, its every field), good for one use."""
    assert ctx.approval_secret is not None
    expires = datetime.now(UTC) + timedelta(seconds=ctx.approval_token_ttl_seconds)
    body = payload.model_dump(mode="json")
    token = sign_token(
        ctx.approval_secret,
        initiative_id=initiative_id,
        stage=stage,
        action=update,
        role=role,
        person=str(body.get("approver") or body.get("actor") or ""),
        expires_at=expires,
        digest=payload_digest(body),
        nonce=secrets.token_urlsafe(12),
    )
    return token, expires


def signed(ctx: ApiContext, initiative_id: str, update: str, role: str, stage: str, payload: BaseModel) -> BaseModel:
    """``payload`` with a token when approvals are verified; unchanged otherwise."""
    if ctx.approval_secret is None:
        return payload
    token, _ = token_for(ctx, initiative_id, update, role, stage, payload)
    return payload.model_copy(update={"token": token})
