"""Notifications: what the workflow asks to be told to whom (a notice), and the policy that shapes them.

The workflow decides *that* someone must hear something and records it as a :class:`Notice` with the
events of the same workflow task (one transaction, a deterministic id: never twice). Who exactly receives it
(delegates, group addresses) and over which channel is decided when it is delivered.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.stages import Stage


class NoticeKind(StrEnum):
    """Why someone is told."""

    #: a gate can now be decided by these roles
    AWAITING = "awaiting"
    #: the gate waits for the initiative's team (PoC results, open findings, its blocker)
    TEAM_ACTION = "team_action"
    #: a fraction of the stage's SLA has passed and the gate still waits
    REMINDER = "reminder"
    STALLED = "stalled"
    ESCALATED = "escalated"
    #: a decision that affects the team: approved (moved on), sent back, rejected, scrapped
    DECIDED = "decided"


class Notice(BaseModel):
    """One thing to tell, recorded with the events that caused it.

    ``people`` are the recipients the workflow knows (roster emails of ``roles`` that have not decided yet,
    the submitter, the stall's owners); ``roles`` are kept so that recipients can also be found by role when
    the roster is empty (with an identity provider, roles come from groups).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: unique within the initiative, the same on every retry (``<seq>-<kind>``)
    key: str = Field(min_length=1, max_length=100)
    kind: NoticeKind
    stage: Stage
    #: when the stage visit this notice is about began: a notice about an earlier visit is not sent
    visit: datetime
    roles: list[str] = Field(default_factory=list)
    people: list[str] = Field(default_factory=list)
    #: what is needed: ``approve``, ``submit_poc_results``, ``resolve_findings``, ``clear_blocker``, or for a
    #: decision what happened (``approved``, ``sent_back``, ``rejected``, ``scrapped``)
    action: str
    due_at: datetime | None = None
    detail: str = Field(default="", max_length=2000)


class QuietHours(BaseModel):
    """Hours in which no email is sent (chat is a channel people mute themselves); held until they end."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: int = Field(ge=0, le=23, description="hour the quiet begins")
    end: int = Field(ge=0, le=23, description="hour it ends (may be earlier than start: over midnight)")
    timezone: str = Field(default="UTC", max_length=64)

    def covers(self, hour: int) -> bool:
        """Whether ``hour`` (in ``timezone``) is quiet."""
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= hour < self.end
        return hour >= self.start or hour < self.end


class DailyDigest(BaseModel):
    """One email a day per person, at ``hour`` in ``timezone``, with everything that waited for them.

    It gathers the gates awaiting them, reminders, their team's turn and decisions; stalls and escalations
    are alarms and still go at once. Chat is a channel, not a person: it is never held.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    hour: int = Field(default=8, ge=0, le=23, description="hour of the day the digest goes out")
    timezone: str = Field(default="UTC", max_length=64)


class NotificationPolicy(BaseModel):
    """``notifications:`` in the policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: reminders while a gate waits, at these fractions of the stage's SLA
    reminders_at: list[float] = Field(default_factory=lambda: [0.5, 0.8], max_length=10)
    quiet_hours: QuietHours | None = None
    #: hold people's emails for one daily digest each (None: each email goes when it happens)
    digest: DailyDigest | None = None

    @field_validator("reminders_at")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if any(not 0 < f < 1 for f in value):
            msg = "reminders_at are fractions of the SLA, each between 0 and 1 (exclusive)"
            raise ValueError(msg)
        return sorted(set(value))
