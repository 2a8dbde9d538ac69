"""Findings of the automated infrastructure assessment."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from schemas.taxonomy import ReasonCode


class FindingStatus(StrEnum):
    """Lifecycle of one finding."""

    OPEN = "open"
    RESOLVED = "resolved"
    WAIVED = "waived"


class Finding(BaseModel):
    """One check of the IT standards that did not pass."""

    model_config = ConfigDict(frozen=True)

    id: str
    rule: str
    blocking: bool
    status: FindingStatus = FindingStatus.OPEN
    message: str
    reason_code: ReasonCode
    closed_by: str | None = None
    note: str = ""
