"""What each report returns, as models: the API's JSON is ``model_dump(mode="json")`` of these.

The field names and their order are the public JSON of ``GET /v1/reports/{name}`` (and the CSV's
columns), so a field is added at the end and never renamed. Numbers are ``int`` or ``float``; a rate
is ``None`` when there is nothing to divide by; a time is an ISO 8601 string with its offset.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer, SerializerFunctionWrapHandler, model_serializer

#: ``datetime.isoformat()`` in JSON (``+00:00``, as the reports have always sent), not pydantic's ``Z``.
IsoTime = Annotated[datetime, PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json")]


class ReportModel(BaseModel):
    """A report or one of its rows: read-only, nothing beyond its fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FunnelStage(ReportModel):
    """One stage of the funnel: distinct initiatives that reached it, left it forward, were scrapped in it."""

    stage: str
    reached: int
    advanced: int
    scrapped: int


class Funnel(ReportModel):
    """The funnel over all stages and the three headline rates beside the base rates."""

    total: int
    stages: list[FunnelStage]
    entered_poc: int
    scrapped_in_poc: int
    entered_infra_review: int
    scrapped_after_poc: int
    reached_production: int
    poc_abandonment_rate: float | None
    post_poc_scrap_rate: float | None
    pilot_to_production_rate: float | None
    base_rates: dict[str, float]
    #: workflows terminated, cancelled or reset outside liftoff: the numbers above are not to be trusted
    tampered: int


class StallReasonRow(ReportModel):
    """Stalls of one reason in one stage: how many, of how many initiatives, and for how long."""

    family: str
    code: str
    stage: str
    stalls: int
    initiatives: int
    total_stalled_seconds: float
    median_stalled_seconds: float


class ScrapReasonRow(ReportModel):
    """Initiatives scrapped for one reason in one stage."""

    #: ``None`` for a scrap recorded without a reason (rows loaded around liftoff)
    family: str | None
    code: str | None
    stage: str
    #: for an abandonment, the stall behind it; absent from the JSON otherwise
    underlying_code: str | None = None
    initiatives: int

    @model_serializer(mode="wrap")
    def _omit_missing_underlying_code(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("underlying_code") is None:
            data.pop("underlying_code", None)
        return data


class TimeInStageRow(ReportModel):
    """Visits to one stage: completed ones with their duration percentiles, open ones, and stalls."""

    stage: str
    completed_visits: int
    p50_seconds: float | None
    p90_seconds: float | None
    max_seconds: float | None
    open_visits: int
    stalls: int
    stalled_seconds: float


class StalledNowRow(ReportModel):
    """One initiative stalled right now, with the stall's reason and how far it has been escalated."""

    id: str
    title: str
    team: str
    business_unit: str
    stage: str
    status: str
    reason_code: str | None
    family: str | None
    since: IsoTime
    stalled_seconds: float
    escalation_level: int
    awaiting_roles: list[str]


class SunkCostRow(ReportModel):
    """What the initiatives scrapped for one reason in one stage had cost."""

    #: ``None`` for a scrap recorded without a reason (rows loaded around liftoff)
    family: str | None
    code: str | None
    stage: str
    initiatives: int
    poc_spend_usd: float
    provisioning_usd: float
    total_usd: float


class SunkCost(ReportModel):
    """Sunk cost per scrap reason and stage, and the sum of all of it."""

    rows: list[SunkCostRow]
    total_usd: float


class ProcurementRow(ReportModel):
    """How initiatives of one procurement route ended."""

    procurement: str
    total: int
    reached_production: int
    scrapped: int
    production_rate: float | None


class DeploymentTargetRow(ReportModel):
    """The same counts as :class:`ProcurementRow`, keyed by deployment target (the key leads the row)."""

    deployment_target: str
    total: int
    reached_production: int
    scrapped: int
    production_rate: float | None


class Alignment(ReportModel):
    """How initiatives ended by procurement route (``rows``) and by deployment target."""

    rows: list[ProcurementRow]
    by_deployment_target: list[DeploymentTargetRow]


class CohortRow(ReportModel):
    """The initiatives submitted in one month or quarter, and what became of them so far."""

    #: ``2026-11`` for a month, ``2026-Q4`` for a quarter (UTC)
    period: str
    submitted: int
    reached_poc: int
    scrapped_in_poc: int
    reached_production: int
    scrapped_after_poc: int
    still_open: int
    poc_abandonment_rate: float | None
    post_poc_scrap_rate: float | None
    pilot_to_production_rate: float | None
    median_days_to_production: float | None
    #: the denominator of ``post_poc_scrap_rate`` (as in the funnel)
    entered_infra_review: int


class CohortStallRow(ReportModel):
    """Stalls of one reason that began in one period, and their share of that period's stalls."""

    period: str
    family: str | None
    code: str | None
    stalls: int
    share: float


class Cohorts(ReportModel):
    """Submission cohorts side by side with the base rates, and the stall reasons per period."""

    period: str
    rows: list[CohortRow]
    base_rates: dict[str, float]
    stall_reasons: list[CohortStallRow]


class SpendRow(ReportModel):
    """One initiative's spend against its budget."""

    id: str
    title: str
    team: str
    business_unit: str
    stage: str
    budget_usd: float
    poc_spend_usd: float
    provisioned_usd: float
    monthly_run_rate_usd: float
    spent_usd: float
    scrapped: bool
    over_budget: bool


class SpendRollupRow(ReportModel):
    """Spend of a team, a business unit, or everything in scope."""

    #: the team's or business unit's name (``None`` for the total)
    value: str | None
    initiatives: int
    budget_usd: float
    poc_spend_usd: float
    provisioned_usd: float
    monthly_run_rate_usd: float
    scrapped_spend_usd: float
    over_budget: int


class Spend(ReportModel):
    """Where the money goes: the initiatives that spent most, and the roll-ups by team and business unit."""

    #: most spent first, at most the request's ``limit``
    rows: list[SpendRow]
    by_team: list[SpendRollupRow]
    by_business_unit: list[SpendRollupRow]
    totals: SpendRollupRow
    #: the share of the budget above which provisioned cost is over budget (the policy's)
    over_budget_at: float


RowT = TypeVar("RowT", bound=ReportModel)


class Rows(ReportModel, Generic[RowT]):
    """A report that is a list of rows and nothing else."""

    rows: list[RowT]
