"""What a policy backtest reads: the recorded stage visits and assessments of the initiatives in scope."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg
from pydantic import BaseModel, ConfigDict, ValidationError

from db.pool import Conn
from db.queries import sql
from schemas.initiative import InitiativeSpec
from schemas.reports import ReportFilters


class VisitRow(BaseModel):
    """One recorded stage visit."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    risk_tier: str
    stage: str
    entered_at: datetime
    left_at: datetime | None
    outcome: str | None
    approved_roles: list[str]
    held_seconds: float


class AssessedRow(BaseModel):
    """An initiative that reached the infrastructure review, as it was submitted."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    spec: InitiativeSpec
    provisioned_usd: float
    assessed_at: datetime


def _params(f: ReportFilters) -> tuple[datetime | None, datetime | None, str | None, str | None]:
    return (f.since, f.until, f.team, f.business_unit)


async def visits(conn: Conn | asyncpg.Pool, f: ReportFilters) -> list[VisitRow]:
    """Every visit of a non-terminal stage, by initiative and time."""
    rows = await conn.fetch(sql("backtest_visits"), *_params(f))
    return [VisitRow.model_validate(dict(r)) for r in rows]


async def assessed(conn: Conn | asyncpg.Pool, f: ReportFilters) -> tuple[list[AssessedRow], int]:
    """The initiatives that reached the infrastructure review, with their spec and provisioned cost.

    Also how many of them hold a submission that does not read as one (rows loaded around liftoff).
    """
    rows = await conn.fetch(sql("backtest_assessed"), *_params(f))
    found: list[AssessedRow] = []
    for r in rows:
        try:
            found.append(AssessedRow.model_validate({**dict(r), "spec": _json(r["spec"])}))
        except ValidationError:
            continue
    return found, len(rows) - len(found)


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value
