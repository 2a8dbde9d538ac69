"""``StartInitiativeInput.imported``: an initiative brought in from elsewhere starts at its stage with its history.

Filled by the API from a checked import line (``schemas/imports.py``); the workflow records the history at
the original dates and carries on from the stage (``workflows/imported.py``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas.decisions import Approval
from schemas.stages import Stage


class ImportedApprovalAt(BaseModel):
    """An imported approval and the stage it was given at."""

    model_config = ConfigDict(frozen=True)

    stage: Stage
    approval: Approval


class ImportedStart(BaseModel):
    """``StartInitiativeInput.imported``: the workflow starts at ``stage`` with this history."""

    model_config = ConfigDict(frozen=True)

    stage: Stage
    stage_entered_at: datetime
    #: When each stage before ``stage`` was entered (every one, the API fills the gaps).
    stages_entered: dict[str, datetime] = Field(default_factory=dict)
    #: Approvals given before liftoff, each at its stage (those at ``stage`` count towards its gate).
    approvals: list[ImportedApprovalAt] = Field(default_factory=list)
    poc_metrics: dict[str, float] | None = None
    poc_spend_usd: float = 0
    poc_summary: str = ""
    #: Who imported it, and where it came from.
    imported_by: str
    external_refs: list[dict[str, str]] = Field(default_factory=list)
    import_id: str = ""
    line: int = 0
