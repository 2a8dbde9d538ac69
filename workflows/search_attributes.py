"""Search-attribute keys of the contract, defined once for the workflow, the worker and the dev server."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

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
