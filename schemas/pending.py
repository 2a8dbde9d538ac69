"""Decisions a handler records and ``run`` carries out in the same pass.

Never carried to a next run: a run continues as new only when nothing is pending.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from schemas.events import EventKind
from schemas.taxonomy import ReasonCode


class Ending(BaseModel):
    """A decision that ends the initiative (reject, scrap, abandonment, a rollout failure that scraps)."""

    model_config = ConfigDict(frozen=True)

    via: EventKind
    actor: str
    role: str | None
    reason: ReasonCode
    detail: str
    verified: bool = False


class SendBack(BaseModel):
    """A request for changes: the initiative goes back one stage."""

    model_config = ConfigDict(frozen=True)

    approver: str
    role: str
    reason: ReasonCode
    detail: str
