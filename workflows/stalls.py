"""Pure stall logic: when the clocks of a stage run out, why it stalled, and who hears about it.

The SLA clock of a stage starts when the stage is entered and again when a stall clears (so a cleared
stall does not re-stall at once); time on hold is added to every deadline. At 1x SLA the initiative
stalls; each rung of the policy's escalation ladder fires at its multiple of the SLA; at
``abandon_after`` the initiative is scrapped as ``ABANDONED``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from schemas.decisions import Blocker
from schemas.policy import EscalationLevel, StagePolicy
from schemas.stages import Role, Stage
from schemas.status import PocEvaluation
from schemas.taxonomy import ReasonCode
from workflows.gates import GateContext


class StallReason:
    """A derived stall reason: the code, a sentence naming what is missing, and who owns it.

    Plain classes here, not dataclasses: see ``workflows.gates.GateContext``.
    """

    __slots__ = ("code", "data", "detail", "owners")

    def __init__(self, code: ReasonCode, detail: str, owners: tuple[str, ...], data: dict[str, list[str]]) -> None:
        self.code = code
        self.detail = detail
        self.owners = owners
        self.data = data


def derive_stall_reason(
    ctx: GateContext, poc: PocEvaluation | None, blocker: Blocker | None, roster: dict[str, list[str]]
) -> StallReason:
    """Why the stage has not closed: the team's own blocker first, else what the gate still lacks."""
    team = ("team",)
    if blocker is not None:
        return StallReason(blocker.reason_code, f"team reported: {blocker.detail}".rstrip(": "), team, {})
    if ctx.stage is Stage.POC and poc is None:
        return StallReason(ReasonCode.POC_RESULTS_MISSING, "no PoC results submitted", team, {})
    if ctx.stage is Stage.POC and poc is not None and not poc.met:
        unmet = list(poc.unmet)
        return StallReason(
            ReasonCode.POC_CRITERIA_NOT_MET, "PoC criteria not met: " + "; ".join(unmet), team, {"unmet": unmet}
        )
    if ctx.stage is Stage.INFRA_REVIEW and ctx.open_blocking:
        ids = [f.id for f in ctx.open_blocking]
        return StallReason(
            ReasonCode.FINDINGS_OPEN,
            "blocking findings open: " + ", ".join(ids),
            ("team", Role.INFRASTRUCTURE.value),
            {"finding_ids": ids},
        )
    if ctx.stage is Stage.ROLLOUT:
        return StallReason(
            ReasonCode.PROVISIONING_DELAY,
            "the production rollout has not finished",
            (Role.INFRASTRUCTURE.value, Role.IT_OPERATIONS.value),
            {},
        )
    roles = [r.value for r in ctx.awaiting_roles]
    people = sorted({p for r in roles for p in roster.get(r, [])})
    return StallReason(
        ReasonCode.APPROVAL_PENDING,
        "waiting for approval by " + ", ".join(roles),
        tuple(people) or tuple(roles),
        {"roles": roles},
    )


class Deadline:
    """The next thing the stage's clock will do, and when: ``stall``, ``escalate``, ``abandon`` (or ``renew``)."""

    __slots__ = ("at", "kind")

    def __init__(self, at: datetime, kind: str) -> None:
        self.at = at
        self.kind = kind


def next_deadline(
    *,
    stage_policy: StagePolicy | None,
    ladder: Sequence[EscalationLevel],
    clock_start: datetime,
    held: timedelta,
    stalled: bool,
    escalation_level: int,
) -> Deadline | None:
    """The earliest pending deadline of the stage (None without a policy for the stage)."""
    if stage_policy is None:
        return None
    base = clock_start + held
    candidates: list[Deadline] = [Deadline(base + stage_policy.abandon_after, "abandon")]
    if not stalled:
        candidates.append(Deadline(base + stage_policy.sla, "stall"))
    rungs = sorted(ladder, key=lambda r: r.after_sla_multiple)
    if escalation_level < len(rungs):
        candidates.append(Deadline(base + stage_policy.sla * rungs[escalation_level].after_sla_multiple, "escalate"))
    return min(candidates, key=lambda d: (d.at, ["stall", "escalate", "abandon"].index(d.kind)))
