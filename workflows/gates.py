"""Pure gate logic: what a stage needs to close and why a decision is refused.

Everything here is deterministic and free of I/O so that validators can call it and unit tests can
exercise it without a server. A refusal is a sentence an approver reads in the Web UI, so each one
names what was wrong and what would be accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from schemas.decisions import (
    Approval,
    ApproveInput,
    ApproverDecision,
    HoldInput,
    RejectInput,
    ReportBlockerInput,
    RequestChangesInput,
    ResolveFindingInput,
    ResumeInput,
    ScrapInput,
    SubmitPocResultsInput,
    WaiveFindingInput,
)
from schemas.events import TeamAction
from schemas.findings import Finding, FindingStatus
from schemas.initiative import SuccessCriterion
from schemas.limits import payload_problem
from schemas.stages import STAGE_ORDER, TEAM_ACTIONS, Role, Stage

_COMPARE = {
    ">=": lambda value, target: value >= target,
    ">": lambda value, target: value > target,
    "<=": lambda value, target: value <= target,
    "<": lambda value, target: value < target,
    "==": lambda value, target: value == target,
}


def evaluate_poc(criteria: Sequence[SuccessCriterion], metrics: Mapping[str, float]) -> list[str]:
    """The criteria the metrics do not meet, as readable strings; empty when all are met."""
    unmet: list[str] = []
    for criterion in criteria:
        value = metrics.get(criterion.metric)
        wanted = f"{criterion.metric} {criterion.operator} {criterion.target:g}"
        if value is None:
            unmet.append(f"{wanted} (not reported)")
        elif not _COMPARE[criterion.operator](value, criterion.target):
            unmet.append(f"{wanted} (got {value:g})")
    return unmet


class GateContext:
    """What validators need to know about the initiative's current stage visit.

    A plain class, not a dataclass: the sandbox imports this module again for every workflow instance,
    and a dataclass generates its methods with ``exec`` each time (measured: about 6 ms per instance for
    this module's and ``stalls``' three).
    """

    __slots__ = (
        "approvals",
        "assessment_pending",
        "findings",
        "on_hold",
        "poc_met",
        "required_roles",
        "roster",
        "stage",
        "submitter",
        "team",
        "team_actors",
        "tokens_prove_roles",
    )

    def __init__(
        self,
        *,
        stage: Stage,
        submitter: str,
        required_roles: Sequence[Role],
        approvals: Sequence[Approval],
        roster: Mapping[str, Sequence[str]],
        poc_met: bool = False,
        findings: Sequence[Finding] = (),
        assessment_pending: bool = False,
        on_hold: bool = False,
        team_actors: Sequence[str] = (),
        team: str = "",
        tokens_prove_roles: bool = False,
    ) -> None:
        self.stage = stage
        self.submitter = submitter
        self.required_roles = required_roles
        self.approvals = approvals
        self.roster = roster
        self.poc_met = poc_met
        self.findings = findings
        self.assessment_pending = assessment_pending
        self.on_hold = on_hold
        #: Who may take team actions (the team's members and admins), pinned at start; empty: not pinned.
        self.team_actors = team_actors
        self.team = team
        #: Roles and teams come from an identity provider the API checks: a signed decision proves them.
        self.tokens_prove_roles = tokens_prove_roles

    @property
    def awaiting_roles(self) -> list[Role]:
        """Required roles nobody has approved for yet in this visit."""
        done = {a.role for a in self.approvals}
        return [r for r in self.required_roles if r not in done]

    @property
    def open_blocking(self) -> list[Finding]:
        """Blocking findings neither resolved nor waived."""
        return [f for f in self.findings if f.blocking and f.status is FindingStatus.OPEN]

    @property
    def preconditions_met(self) -> bool:
        """Whether the non-approval part of the gate holds (PoC results, findings)."""
        if self.stage is Stage.POC:
            return self.poc_met
        if self.stage is Stage.INFRA_REVIEW:
            return not self.assessment_pending and not self.open_blocking
        return True

    @property
    def closed(self) -> bool:
        """The gate holds: not on hold, preconditions met and every required role has approved."""
        return self.stage.is_gate and not self.on_hold and self.preconditions_met and not self.awaiting_roles

    def finding(self, finding_id: str) -> Finding | None:
        """The finding with ``finding_id``, if any."""
        return next((f for f in self.findings if f.id == finding_id), None)


def refuse_payload(payload: BaseModel) -> str | None:
    """Why a decoded decision cannot be recorded (text storage refuses, a number not finite or too big)."""
    problem = payload_problem(payload.model_dump(mode="python", exclude={"token"}))
    return f"this decision cannot be recorded: {problem}" if problem else None


def team_action(ctx: GateContext, *, blocked: bool) -> TeamAction | None:
    """What the gate waits for from the initiative's own team, if anything (the approver's queue shows it)."""
    if not ctx.stage.is_gate or ctx.on_hold:
        return None
    if ctx.stage is Stage.POC and not ctx.poc_met:
        return TeamAction.SUBMIT_POC_RESULTS
    if ctx.stage is Stage.INFRA_REVIEW and ctx.open_blocking:
        return TeamAction.RESOLVE_FINDINGS
    return TeamAction.CLEAR_BLOCKER if blocked else None


def previous_stage(stage: Stage) -> Stage | None:
    """The stage ``request_changes`` sends an initiative back to (none before ``poc``)."""
    if stage not in (Stage.POC, Stage.INFRA_REVIEW, Stage.IT_SIGNOFF):
        return None
    return STAGE_ORDER[STAGE_ORDER.index(stage) - 1]


def _stage_refusal(ctx: GateContext, expected: Stage | None, action: str) -> str | None:
    if ctx.stage.is_terminal:
        return f"initiative is already {ctx.stage.value}; no further {action} is possible"
    if expected is not None and expected is not ctx.stage:
        return (
            f"this {action} was meant for stage {expected.value}, but the initiative is now at "
            f"{ctx.stage.value}; reload and decide again"
        )
    return None


def _approver_refusal(ctx: GateContext, inp: ApproverDecision, action: str) -> str | None:
    if not ctx.stage.is_gate:
        return f"stage {ctx.stage.value} has no gate to {action}; it advances by itself"
    role = inp.role
    if role not in ctx.required_roles:
        needed = ", ".join(r.value for r in ctx.required_roles)
        return f"role {role.value} does not decide stage {ctx.stage.value}; it needs: {needed}"
    signed = inp.token is not None
    principal = inp.on_behalf_of or inp.approver  # whose role it is
    # The delegation itself is checked by the API, which signs the decision; with approval tokens enabled an
    # unsigned decision never reaches this far (worker/approval_interceptor.py), and without them typed names
    # are trusted for every decision alike.
    if inp.on_behalf_of is not None and inp.on_behalf_of == inp.approver:
        return f"{inp.approver} cannot act on their own behalf; leave on_behalf_of out"
    # With an identity provider, the API checked the role from the person's groups and signed the decision.
    if not (signed and ctx.tokens_prove_roles) and principal not in ctx.roster.get(role.value, ()):
        return f"{principal} is not on the roster for role {role.value}"
    for person in (inp.approver, inp.on_behalf_of):
        if person is not None and person == ctx.submitter:
            return f"{person} submitted this initiative and may not {action} it (separation of duties)"
    return None


def on_behalf(inp: ApproverDecision) -> dict[str, str]:
    """The event data naming whom a delegate decided for (empty for a decision in one's own name)."""
    return {"on_behalf_of": inp.on_behalf_of} if inp.on_behalf_of else {}


def _hold_refusal(ctx: GateContext, action: str) -> str | None:
    if ctx.on_hold:
        return f"the initiative is on hold; resume it before any {action}"
    return None


def refuse_approve(ctx: GateContext, inp: ApproveInput) -> str | None:  # noqa: PLR0911 - one return per rule
    """Why ``inp`` cannot be accepted now, or ``None`` when it can."""
    reason = (
        _stage_refusal(ctx, inp.stage, "approval")
        or _hold_refusal(ctx, "approval")
        or _approver_refusal(ctx, inp, "approve")
    )
    if reason:
        return reason
    deciding = {inp.approver} | ({inp.on_behalf_of} if inp.on_behalf_of else set())
    for approval in ctx.approvals:
        if repeated := sorted(deciding.intersection(approval.people)):
            return (
                f"{repeated[0]} has already approved stage {ctx.stage.value} as {approval.role.value}; "
                "a joint sign-off needs distinct people"
                + (" (a delegate counts as the person they act for, too)" if inp.on_behalf_of else "")
            )
        if approval.role is inp.role:
            return f"role {inp.role.value} has already approved stage {ctx.stage.value} ({approval.approver})"
    if ctx.stage is Stage.POC and not ctx.poc_met:
        return "PoC results meeting the success criteria must be submitted before the PoC can be approved"
    if ctx.stage is Stage.INFRA_REVIEW and ctx.assessment_pending:
        return "the infrastructure assessment is still running; approve once its findings are in"
    if ctx.stage is Stage.INFRA_REVIEW and ctx.open_blocking:
        ids = ", ".join(f.id for f in ctx.open_blocking)
        return f"blocking findings are still open ({ids}); resolve or waive them before approving"
    return None


def refuse_reject(ctx: GateContext, inp: RejectInput) -> str | None:
    """Why a rejection cannot be accepted now, or ``None``."""
    return _stage_refusal(ctx, inp.stage, "rejection") or _approver_refusal(ctx, inp, "reject")


def refuse_team_actor(ctx: GateContext, actor: str, update: str, *, signed: bool = False) -> str | None:
    """Why ``actor`` may not take the team action ``update``: not on the team nor holding a role that may."""
    if not ctx.team_actors or actor in ctx.team_actors or (signed and ctx.tokens_prove_roles):
        return None
    roles = TEAM_ACTIONS.get(update, ())
    if any(actor in ctx.roster.get(role.value, ()) for role in roles):
        return None
    also = f", nor holds role {' or '.join(r.value for r in roles)}" if roles else ""
    return f"{actor} is not a member of team {ctx.team!r}{also}; only they may {update.replace('_', ' ')}"


def refuse_poc_results(ctx: GateContext, inp: SubmitPocResultsInput) -> str | None:
    """Why PoC results cannot be accepted now, or ``None``."""
    reason = _stage_refusal(ctx, inp.stage, "PoC result submission") or _hold_refusal(ctx, "PoC result submission")
    if reason:
        return reason
    if ctx.stage is not Stage.POC:
        return f"PoC results are accepted only in stage poc; the initiative is at {ctx.stage.value}"
    if ctx.poc_met:
        return "PoC results already meet the success criteria; waiting for the business owner's approval"
    return None


def refuse_scrap(ctx: GateContext, inp: ScrapInput) -> str | None:
    """Why a scrap cannot be accepted now, or ``None``."""
    return _stage_refusal(ctx, inp.stage, "scrap")


def refuse_request_changes(ctx: GateContext, inp: RequestChangesInput) -> str | None:
    """Why a send-back cannot be accepted now, or ``None``."""
    reason = (
        _stage_refusal(ctx, inp.stage, "request for changes")
        or _hold_refusal(ctx, "request for changes")
        or _approver_refusal(ctx, inp, "send back")
    )
    if reason:
        return reason
    if previous_stage(ctx.stage) is None:
        return f"stage {ctx.stage.value} has no earlier stage to send the initiative back to; reject it instead"
    return None


def _finding_refusal(ctx: GateContext, finding_id: str, action: str) -> str | None:
    if ctx.stage is not Stage.INFRA_REVIEW:
        return f"findings can be {action} only in stage infra_review; the initiative is at {ctx.stage.value}"
    if ctx.assessment_pending:
        return "the infrastructure assessment is still running; wait for its findings"
    finding = ctx.finding(finding_id)
    if finding is None:
        known = ", ".join(f.id for f in ctx.findings) or "none"
        return f"no finding {finding_id}; findings: {known}"
    if finding.status is not FindingStatus.OPEN:
        return f"finding {finding_id} is already {finding.status.value}"
    return None


def refuse_waive(ctx: GateContext, inp: WaiveFindingInput) -> str | None:
    """Why a waiver cannot be accepted now, or ``None``."""
    reason = _stage_refusal(ctx, inp.stage, "waiver") or _hold_refusal(ctx, "waiver")
    if reason:
        return reason
    if inp.role is not Role.INFRASTRUCTURE:
        return f"only role infrastructure may waive a finding, not {inp.role.value}"
    return _finding_refusal(ctx, inp.finding_id, "waived") or _approver_refusal(ctx, inp, "waive")


def refuse_resolve(ctx: GateContext, inp: ResolveFindingInput) -> str | None:
    """Why a resolution cannot be accepted now, or ``None``."""
    return (
        _stage_refusal(ctx, inp.stage, "resolution")
        or _hold_refusal(ctx, "resolution")
        or _finding_refusal(ctx, inp.finding_id, "resolved")
    )


def refuse_blocker(ctx: GateContext, inp: ReportBlockerInput) -> str | None:
    """Why a blocker report cannot be accepted now, or ``None``."""
    return _stage_refusal(ctx, inp.stage, "blocker report")


def refuse_hold(ctx: GateContext, inp: HoldInput) -> str | None:
    """Why a hold cannot be accepted now, or ``None``."""
    reason = _stage_refusal(ctx, inp.stage, "hold")
    if reason:
        return reason
    if not ctx.stage.is_gate:
        return f"stage {ctx.stage.value} runs by itself and cannot be held; scrap the initiative to stop it"
    if ctx.on_hold:
        return "the initiative is already on hold"
    return None


def refuse_resume(ctx: GateContext, inp: ResumeInput) -> str | None:
    """Why a resume cannot be accepted now, or ``None``."""
    reason = _stage_refusal(ctx, inp.stage, "resume")
    if reason:
        return reason
    if not ctx.on_hold:
        return "the initiative is not on hold"
    return None
