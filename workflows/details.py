"""The Markdown shown in the Web UI's "current details": the approver's desk.

Pure functions of the workflow's state, so they are replay-safe and unit-testable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from schemas.stages import Role, Stage
from schemas.status import InitiativeStatusView
from workflows.gates import previous_stage

_ME = "you@example.com"


# Every inline special of CommonMark/GFM. Line-start markers (``-``, ``.``, ``=``) are left alone:
# ``md`` flattens its text to one line and it is always placed after a prefix, never at a line start.
_MARKDOWN_SPECIALS = frozenset("\\`*_{}[]()#+!|<>~&")


def md(text: object) -> str:
    """``text`` as literal Markdown text: every special character escaped, on one line.

    Titles, teams, details and names are typed by people; unescaped, a title could draw a fake
    **approve** section or a link in the approver's view.
    """
    flat = " ".join(str(text).split())
    return "".join(f"\\{c}" if c in _MARKDOWN_SPECIALS else c for c in flat)


def _payload(data: dict[str, Any]) -> str:
    # A backtick in a value (a finding id) could close the fence; ``\u0060`` is the same JSON.
    return "```json\n" + json.dumps(data, indent=None).replace("`", "\\u0060") + "\n```"


def _open_findings(view: InitiativeStatusView) -> list[Any]:
    return [f for f in view.findings if f.status == "open"]


def _gate_actions(view: InitiativeStatusView, awaiting: Sequence[Role]) -> dict[str, dict[str, Any]]:
    stage = view.stage
    role = awaiting[0].value if awaiting else Role.PORTFOLIO.value
    blocked = any(f.blocking for f in _open_findings(view)) or view.assessment_pending
    ready = (stage is not Stage.POC or (view.poc is not None and view.poc.met)) and not (
        stage is Stage.INFRA_REVIEW and blocked
    )
    actions: dict[str, dict[str, Any]] = {}
    if awaiting and ready:
        actions["approve"] = {"approver": _ME, "role": role, "stage": stage.value, "comment": ""}
    actions["reject"] = {
        "approver": _ME,
        "role": role,
        "stage": stage.value,
        "reason_code": "BIZ_VALUE_UNPROVEN",
        "detail": "why",
    }
    if previous_stage(stage) is not None:
        actions["request_changes"] = {
            "approver": _ME,
            "role": role,
            "stage": stage.value,
            "reason_code": "SCALABILITY_UNPROVEN",
            "detail": "what must change",
        }
    if stage is Stage.POC and not (view.poc and view.poc.met):
        actions["submit_poc_results"] = {
            "actor": _ME,
            "stage": stage.value,
            "metrics": {"metric_name": 0.0},
            "spend_usd": 0,
            "summary": "what the PoC showed",
        }
    for finding in _open_findings(view) if stage is Stage.INFRA_REVIEW else []:
        actions[f"waive_finding ({finding.id})"] = {
            "approver": _ME,
            "role": Role.INFRASTRUCTURE.value,
            "stage": stage.value,
            "finding_id": finding.id,
            "justification": "why the risk is accepted",
        }
        actions[f"resolve_finding ({finding.id})"] = {
            "actor": _ME,
            "stage": stage.value,
            "finding_id": finding.id,
            "evidence": "what was fixed",
        }
    return actions


def action_payloads(view: InitiativeStatusView, awaiting: Sequence[Role]) -> dict[str, dict[str, Any]]:
    """One ready-to-paste JSON payload per update that can be sent now (key: update name)."""
    stage = view.stage
    if stage.is_terminal:
        return {}
    if view.hold is not None:
        return {
            "resume": {"actor": _ME, "stage": stage.value, "detail": "why work continues"},
            "scrap": {"actor": _ME, "stage": stage.value, "reason_code": "BIZ_PRIORITY_CHANGED", "detail": "why"},
        }
    actions = _gate_actions(view, awaiting) if stage.is_gate else {}
    actions["report_blocker"] = {
        "actor": _ME,
        "stage": stage.value,
        "reason_code": "DATA_ACCESS_BLOCKED",
        "detail": "what blocks the team",
    }
    actions["hold"] = {"actor": _ME, "stage": stage.value, "reason_code": "BIZ_PRIORITY_CHANGED", "detail": "why"}
    actions["scrap"] = {"actor": _ME, "stage": stage.value, "reason_code": "BIZ_PRIORITY_CHANGED", "detail": "why"}
    return actions


def _gate_needs(view: InitiativeStatusView, awaiting: Sequence[Role]) -> list[str]:
    needs: list[str] = []
    if view.hold is not None:
        needs.append(f"`resume`: on hold since {md(view.hold.since[:16])} ({view.hold.reason_code.value})")
    if view.stage is Stage.POC:
        if view.poc is None:
            needs.append("PoC results (`submit_poc_results`) meeting the success criteria")
        elif not view.poc.met:
            needs.append("PoC results meeting the criteria; unmet: " + "; ".join(md(u) for u in view.poc.unmet))
    if view.stage is Stage.INFRA_REVIEW:
        if view.assessment_pending:
            needs.append("the infrastructure assessment to finish")
        needs.extend(
            f"blocking finding **{md(f.id)}** resolved or waived: {md(f.message)}"
            for f in _open_findings(view)
            if f.blocking
        )
    needs.extend(f"approval by role `{role.value}`" for role in awaiting)
    if view.stage is Stage.ROLLOUT:
        needs.append("the rollout (child workflow) to succeed")
    return needs


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes}m"
    return f"{sign}{minutes}m {rest % 60}s"


def _clock(view: InitiativeStatusView, now: datetime) -> str:
    entered = datetime.fromisoformat(view.stage_entered_at)
    line = f"**In stage for:** {_duration(now - entered)} (since {view.stage_entered_at[:16]})"
    if view.hold is not None:
        return line + " · **SLA clock paused (on hold)**"
    if view.sla_due_at:
        left = datetime.fromisoformat(view.sla_due_at) - now
        state = f"{_duration(left)} left" if left.total_seconds() >= 0 else f"overdue by {_duration(-left)}"
        line += f" · **SLA due:** {view.sla_due_at[:16]} ({state})"
    return line


def render_details(
    view: InitiativeStatusView, awaiting: Sequence[Role], roster: dict[str, list[str]], now: datetime
) -> str:
    """Markdown for ``workflow.set_current_details``."""
    lines = [
        f"## {md(view.title)}",
        (
            f"**Stage:** `{view.stage.value}` · **Status:** `{view.status.value}` · "
            f"**Team:** {md(view.team)} · **Risk tier:** {md(view.risk_tier)} · **Policy:** {md(view.policy_version)}"
        ),
        _clock(view, now),
    ]
    if view.stage.is_terminal:
        outcome = f"Ended at `{view.stage.value}`"
        if view.reason_code:
            outcome += f" with reason `{view.reason_code.value}`"
        if view.reason_detail:
            outcome += f": {md(view.reason_detail)}"
        lines += ["", outcome]
        return "\n".join(lines)
    if view.stall is not None:
        stall = view.stall
        lines.append(
            f"**STALLED** since {md(stall.since[:16])}: `{stall.reason_code.value}` {md(stall.detail)} "
            f"(escalation level {stall.escalation_level}; owners: {md(', '.join(stall.owners) or 'n/a')})"
        )
    if view.blocker is not None:
        lines.append(
            f"**Blocker reported:** `{view.blocker.reason_code.value}` {md(view.blocker.detail)} "
            f"({md(view.blocker.actor)})"
        )
    needs = _gate_needs(view, awaiting)
    lines += ["", "### The gate still needs"]
    lines += [f"- {need}" for need in needs] or ["- nothing: advancing"]
    if view.findings:
        lines += ["", "### Findings"]
        lines += [
            f"- **{md(f.id)}** ({'blocking' if f.blocking else 'warning'}, {f.status}): {md(f.message)}"
            for f in view.findings
        ]
    if view.approvals:
        lines += ["", "### Approved so far"]
        lines += [
            f"- `{a.role.value}`: {md(a.approver)}" + (f" for {md(a.on_behalf_of)}" if a.on_behalf_of else "")
            for a in view.approvals
        ]
    if awaiting:
        lines += ["", "### Who may act"]
        ineligible = {view.submitter} | {p for a in view.approvals for p in a.people}
        for role in awaiting:
            eligible = [p for p in roster.get(role.value, []) if p not in ineligible]
            people = ", ".join(eligible) or "nobody eligible on the roster"
            lines.append(f"- `{role.value}`: {md(people)}")
    payloads = action_payloads(view, awaiting)
    if payloads:
        lines += ["", "### Actions (paste into the update dialog with your own email)"]
        for name, data in payloads.items():
            update, _, finding = name.partition(" ")
            lines += [f"**{update}{' ' + md(finding) if finding else ''}**", _payload(data)]
    return "\n".join(lines)
