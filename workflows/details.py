"""The Markdown shown in the Web UI's "current details": the approver's desk.

Pure functions of the workflow's state, so they are replay-safe and unit-testable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from schemas.stages import Role, Stage
from schemas.status import InitiativeStatusView

_ROLE_PLACEHOLDER = "you@example.com"


def _payload(data: dict[str, Any]) -> str:
    return "```json\n" + json.dumps(data, indent=None) + "\n```"


def action_payloads(view: InitiativeStatusView, awaiting: Sequence[Role]) -> dict[str, dict[str, Any]]:
    """One ready-to-paste JSON payload per update an approver or the team can send now."""
    stage = view.stage
    if stage.is_terminal:
        return {}
    actions: dict[str, dict[str, Any]] = {}
    if stage.is_gate:
        role = awaiting[0].value if awaiting else Role.PORTFOLIO.value
        blocked = any(f.blocking and f.status == "open" for f in view.findings) or view.assessment_pending
        ready = (stage is not Stage.POC or (view.poc and view.poc.met)) and not (
            stage is Stage.INFRA_REVIEW and blocked
        )
        if awaiting and ready:
            actions["approve"] = {"approver": _ROLE_PLACEHOLDER, "role": role, "stage": stage.value, "comment": ""}
        actions["reject"] = {
            "approver": _ROLE_PLACEHOLDER,
            "role": role,
            "stage": stage.value,
            "reason_code": "BIZ_VALUE_UNPROVEN",
            "detail": "why",
        }
    if stage is Stage.POC and not (view.poc and view.poc.met):
        actions["submit_poc_results"] = {
            "actor": _ROLE_PLACEHOLDER,
            "stage": stage.value,
            "metrics": {"metric_name": 0.0},
            "spend_usd": 0,
            "summary": "what the PoC showed",
        }
    actions["scrap"] = {
        "actor": _ROLE_PLACEHOLDER,
        "stage": stage.value,
        "reason_code": "BIZ_PRIORITY_CHANGED",
        "detail": "why",
    }
    return actions


def _gate_needs(view: InitiativeStatusView, awaiting: Sequence[Role]) -> list[str]:
    needs: list[str] = []
    if view.stage is Stage.POC:
        if view.poc is None:
            needs.append("PoC results (`submit_poc_results`) meeting the success criteria")
        elif not view.poc.met:
            needs.append("PoC results meeting the criteria; unmet: " + "; ".join(view.poc.unmet))
    if view.stage is Stage.INFRA_REVIEW:
        needs.extend(
            f"blocking finding **{f.id}** resolved or waived: {f.message}"
            for f in view.findings
            if f.blocking and f.status == "open"
        )
    needs.extend(f"approval by role `{role.value}`" for role in awaiting)
    if view.stage is Stage.ROLLOUT:
        needs.append("the rollout (child workflow) to succeed")
    return needs


def render_details(view: InitiativeStatusView, awaiting: Sequence[Role], roster: dict[str, list[str]]) -> str:
    """Markdown for ``workflow.set_current_details``."""
    lines = [
        f"## {view.title}",
        (
            f"**Stage:** `{view.stage.value}` · **Status:** `{view.status.value}` · "
            f"**Team:** {view.team} · **Risk tier:** {view.risk_tier} · **Policy:** {view.policy_version}"
        ),
        f"**In stage since:** {view.stage_entered_at}",
    ]
    if view.stage.is_terminal:
        outcome = f"Ended at `{view.stage.value}`"
        if view.reason_code:
            outcome += f" with reason `{view.reason_code.value}`"
        if view.reason_detail:
            outcome += f": {view.reason_detail}"
        lines += ["", outcome]
        return "\n".join(lines)
    needs = _gate_needs(view, awaiting)
    lines += ["", "### The gate still needs"]
    lines += [f"- {need}" for need in needs] or ["- nothing: advancing"]
    if view.approvals:
        lines += ["", "### Approved so far"]
        lines += [f"- `{a.role.value}`: {a.approver}" for a in view.approvals]
    if awaiting:
        lines += ["", "### Who may act"]
        ineligible = {view.submitter} | {a.approver for a in view.approvals}
        for role in awaiting:
            eligible = [p for p in roster.get(role.value, []) if p not in ineligible]
            people = ", ".join(eligible) or "nobody eligible on the roster"
            lines.append(f"- `{role.value}`: {people}")
    payloads = action_payloads(view, awaiting)
    if payloads:
        lines += ["", "### Actions (paste into the update dialog, with your own email)"]
        for name, data in payloads.items():
            lines += [f"**{name}**", _payload(data)]
    return "\n".join(lines)
