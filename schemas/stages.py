"""Lifecycle stages, statuses and roles: the vocabulary every part of liftoff shares."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """Where an initiative is on its path to production."""

    PROPOSED = "proposed"
    POC = "poc"
    INFRA_REVIEW = "infra_review"
    IT_SIGNOFF = "it_signoff"
    ROLLOUT = "rollout"
    PRODUCTION = "production"
    SCRAPPED = "scrapped"

    @property
    def is_terminal(self) -> bool:
        """True for the two stages an initiative never leaves."""
        return self in (Stage.PRODUCTION, Stage.SCRAPPED)

    @property
    def is_gate(self) -> bool:
        """True for the stages that close on people's decisions (not rollout, not terminal)."""
        return self in GATE_STAGES


#: The path every initiative walks, in order.
STAGE_ORDER: tuple[Stage, ...] = (
    Stage.PROPOSED,
    Stage.POC,
    Stage.INFRA_REVIEW,
    Stage.IT_SIGNOFF,
    Stage.ROLLOUT,
    Stage.PRODUCTION,
)

GATE_STAGES: frozenset[Stage] = frozenset({Stage.PROPOSED, Stage.POC, Stage.INFRA_REVIEW, Stage.IT_SIGNOFF})


def next_stage(stage: Stage) -> Stage:
    """The stage that follows ``stage`` on the path; terminal stages have none."""
    if stage.is_terminal:
        msg = f"{stage} is terminal"
        raise ValueError(msg)
    return STAGE_ORDER[STAGE_ORDER.index(stage) + 1]


class InitiativeStatus(StrEnum):
    """Coarse state used by lists and filters."""

    ACTIVE = "active"
    ON_HOLD = "on_hold"
    STALLED = "stalled"
    PRODUCTION = "production"
    SCRAPPED = "scrapped"


class Role(StrEnum):
    """Roles a principal may hold; the approver roles are the ones gates ask for."""

    SUBMITTER = "submitter"
    PORTFOLIO = "portfolio"
    BUSINESS_OWNER = "business_owner"
    INFRASTRUCTURE = "infrastructure"
    IT_OPERATIONS = "it_operations"
    SECURITY = "security"
    COMPLIANCE = "compliance"
    ADMIN = "admin"
    VIEWER = "viewer"


APPROVER_ROLES: frozenset[Role] = frozenset(
    {
        Role.PORTFOLIO,
        Role.BUSINESS_OWNER,
        Role.INFRASTRUCTURE,
        Role.IT_OPERATIONS,
        Role.SECURITY,
        Role.COMPLIANCE,
    }
)

#: Team actions (updates a person takes for the initiative's team, not as an approver) and the roles
#: that may take them besides the team's members and admins.
TEAM_ACTIONS: dict[str, tuple[Role, ...]] = {
    "submit_poc_results": (),
    "resolve_finding": (Role.INFRASTRUCTURE,),
    "report_blocker": (),
    "hold": (Role.PORTFOLIO,),
    "resume": (Role.PORTFOLIO,),
    "scrap": (Role.PORTFOLIO,),
}
#: The role that decides a rollout's change request (``RolloutWorkflow.change_decision``) in person.
CHANGE_BOARD_ROLE = Role.IT_OPERATIONS
