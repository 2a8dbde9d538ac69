"""Search-attribute keys of the contract, defined once for the workflow, the worker and the dev server."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes

from schemas.initiative import StartInitiativeInput
from schemas.stages import Stage

INITIATIVE_STAGE = SearchAttributeKey.for_keyword("InitiativeStage")
INITIATIVE_TEAM = SearchAttributeKey.for_keyword("InitiativeTeam")
BUSINESS_UNIT = SearchAttributeKey.for_keyword("BusinessUnit")
RISK_TIER = SearchAttributeKey.for_keyword("RiskTier")
STALLED = SearchAttributeKey.for_bool("Stalled")
AWAITING_ROLES = SearchAttributeKey.for_keyword_list("AwaitingRoles")
STAGE_ENTERED_AT = SearchAttributeKey.for_datetime("StageEnteredAt")

#: Name → Temporal CLI type name, for ``temporal server start-dev --search-attribute NAME=TYPE``.
CLI_TYPES: dict[str, str] = {
    "InitiativeStage": "Keyword",
    "InitiativeTeam": "Keyword",
    "BusinessUnit": "Keyword",
    "RiskTier": "Keyword",
    "Stalled": "Bool",
    "AwaitingRoles": "KeywordList",
    "StageEnteredAt": "Datetime",
}


def progress(
    stage: str, awaiting: list[str], entered_at: datetime, *, stalled: bool
) -> list[SearchAttributeUpdate[Any]]:
    """The attributes that follow an initiative's progress, as the workflow publishes them."""
    return [
        INITIATIVE_STAGE.value_set(stage),
        AWAITING_ROLES.value_set(awaiting),
        STAGE_ENTERED_AT.value_set(entered_at),
        STALLED.value_set(stalled),
    ]


def identity(team: str, business_unit: str, risk_tier: str) -> list[SearchAttributeUpdate[Any]]:
    """The attributes that never change after the submission."""
    return [
        INITIATIVE_TEAM.value_set(team),
        BUSINESS_UNIT.value_set(business_unit),
        RISK_TIER.value_set(risk_tier),
    ]


def changed(
    updates: list[SearchAttributeUpdate[Any]], current: TypedSearchAttributes
) -> list[SearchAttributeUpdate[Any]]:
    """Only the ``updates`` whose value differs from ``current`` (an upsert is a billable action)."""
    return [u for u in updates if current.get(u.key) != u.value]


def at_start(updates: list[SearchAttributeUpdate[Any]]) -> TypedSearchAttributes:
    """``updates`` as the search attributes of a workflow start (free, and visible before its first task)."""
    return TypedSearchAttributes([SearchAttributePair(u.key, u.value) for u in updates if u.value is not None])


def for_start(start: StartInitiativeInput, submitted_at: datetime) -> TypedSearchAttributes:
    """What a new initiative's workflow starts with, so it has nothing to upsert until something changes."""
    spec = start.spec
    stage, entered = Stage.PROPOSED, submitted_at
    if start.imported is not None:  # starts at its stage: the workflow corrects what differs on its first task
        stage, entered = start.imported.stage, start.imported.stage_entered_at
    awaiting = [] if stage.is_terminal else [r.value for r in start.policy.required_roles(stage, spec.risk_tier)]
    return at_start(
        [
            *identity(spec.team, spec.business_unit, spec.risk_tier.value),
            *progress(stage.value, awaiting, entered, stalled=False),
        ]
    )
