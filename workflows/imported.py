"""An imported initiative's first state and history: it starts at its stage, its past recorded at the original dates.

Used by ``InitiativeWorkflow.__init__`` when ``StartInitiativeInput.imported`` is set (only imports set it, so
no earlier history takes this path). The stage's gate is open with the approvals already given there; its
SLA clock counts from ``stage_entered_at``, and it arrives quietly (no notice of its own, no reminder already
past). An import already past its SLA stalls at once (the first pass of ``run``, with the reason derived as
for any stall); its escalations and abandonment count from the import as if the SLA had just run out, so
that bringing in an old portfolio does not scrap it on the spot.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():  # models only
    from schemas.events import EventKind, TeamAction
    from schemas.imported_start import ImportedStart
    from schemas.initiative import StartInitiativeInput
    from schemas.initiative_state import InitiativeState
    from schemas.stages import APPROVER_ROLES, STAGE_ORDER, Stage
    from schemas.status import PocEvaluation

from workflows import gates
from workflows.outbox import Outbox

#: Marks the events of an imported past: they tell no one (``workflows/notices.py``).
PAST = {"imported": True}


def imported_state(inp: StartInitiativeInput, imported: ImportedStart) -> InitiativeState:
    """The state of an initiative imported at ``imported.stage``."""
    now = workflow.now()
    stage = imported.stage
    entered = imported.stage_entered_at
    clock = entered
    stage_policy = inp.policy.stages.get(stage)
    if stage_policy is not None and not stage.is_terminal and entered + stage_policy.sla < now:
        clock = now - stage_policy.sla  # overdue: stalls at once, the ladder counts from now
    poc = None
    if imported.poc_metrics is not None:
        unmet = gates.evaluate_poc(inp.spec.poc_success_criteria, imported.poc_metrics)
        poc = PocEvaluation(
            metrics=dict(imported.poc_metrics),
            spend_usd=imported.poc_spend_usd,
            summary=imported.poc_summary,
            met=not unmet,
            unmet=unmet,
            submitted_by=inp.submitter,
            at=now.isoformat(),
        )
    # Quiet on arrival: no "needs a decision" notice per imported initiative (an import would send thousands;
    # the approvers' queues show them) and no reminder already past; later reminders and stalls are told.
    fractions = inp.policy.notices.reminders_at
    passed = 0
    if stage_policy is not None:
        passed = sum(1 for f in fractions if clock + stage_policy.sla * f <= now)
    return InitiativeState(
        stage=stage,
        visited=list(STAGE_ORDER[: STAGE_ORDER.index(stage) + 1]),
        stage_entered_at=entered,
        clock_start=clock,
        approvals=[a.approval for a in imported.approvals if a.stage is stage],
        poc=poc,
        poc_spend=imported.poc_spend_usd,
        announced=sorted(f"role:{r.value}" for r in APPROVER_ROLES) + [f"team:{a.value}" for a in TeamAction],
        reminders_sent=passed,
    )


def record_history(outbox: Outbox, inp: StartInitiativeInput, imported: ImportedStart, awaiting: list[str]) -> None:
    """Emit the imported past at its original dates, then ``imported`` (now)."""
    stage = imported.stage
    outbox.emit(
        EventKind.SUBMITTED,
        actor=inp.submitter,
        data={"title": inp.spec.title, **PAST},
        stage=Stage.PROPOSED,
        at=_at(inp.submitted_at_iso) or imported.stage_entered_at,
    )
    path = STAGE_ORDER[: STAGE_ORDER.index(stage)]
    for n, earlier in enumerate(path):
        outbox.emit(EventKind.STAGE_ENTERED, stage=earlier, data=dict(PAST), at=imported.stages_entered[earlier.value])
        _approvals(outbox, imported, earlier)
        left = imported.stages_entered.get(path[n + 1].value) if n + 1 < len(path) else imported.stage_entered_at
        outbox.emit(EventKind.STAGE_LEFT, stage=earlier, data={"outcome": "advanced", **PAST}, at=left)
    data = dict(PAST) if stage.is_terminal else {"awaiting_roles": awaiting, **PAST}
    outbox.emit(EventKind.STAGE_ENTERED, stage=stage, data=data, at=imported.stage_entered_at)
    if stage is Stage.PRODUCTION:
        outbox.emit(EventKind.PRODUCTION, stage=stage, data=dict(PAST), at=imported.stage_entered_at)
    _approvals(outbox, imported, stage)
    if imported.poc_metrics is not None:
        outbox.emit(
            EventKind.POC_RESULTS_SUBMITTED,
            actor=inp.submitter,
            detail=imported.poc_summary,
            data={"metrics": dict(imported.poc_metrics), "spend_usd": imported.poc_spend_usd, "imported": True},
        )
    outbox.emit(
        EventKind.IMPORTED,
        actor=imported.imported_by,
        data={
            "submitted_at": inp.submitted_at_iso,
            "stage_entered_at": imported.stage_entered_at.isoformat(),
            "external_refs": imported.external_refs,
            "import_id": imported.import_id,
            "line": imported.line,
        },
    )


def _approvals(outbox: Outbox, imported: ImportedStart, stage: Stage) -> None:
    for given in imported.approvals:
        if given.stage is stage:
            a = given.approval
            outbox.emit(
                EventKind.APPROVED,
                actor=a.approver,
                role=a.role.value,
                detail=a.comment,
                data=dict(PAST),
                stage=stage,
                at=_at(a.at),
            )


def _at(iso: str) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None
