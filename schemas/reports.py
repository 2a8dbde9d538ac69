"""Report filters and names shared by the API, the CLI and the repository."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

REPORT_NAMES: tuple[str, ...] = (
    "funnel",
    "stall-reasons",
    "scrap-reasons",
    "time-in-stage",
    "stalled-now",
    "sunk-cost",
    "alignment",
    "cohorts",
    "spend",
)


class ReportFilters(BaseModel):
    """Every report accepts these; ``None`` means no filter. Time filters apply to submission time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    since: datetime | None = None
    until: datetime | None = None
    team: str | None = None
    business_unit: str | None = None
