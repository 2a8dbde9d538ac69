"""Bringing existing initiatives in: one JSON line per initiative (``POST /v1/imports``, ``liftoff import``).

A line is a submission body plus where the initiative is now and since when. The API checks it
(``ImportLine``), derives the initiative's id from its external references or the line's hash (so a file
imported twice creates nothing new) and starts its workflow with ``ImportedStart``: the workflow begins at
that stage, with its history recorded at the original dates.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas import limits
from schemas.decisions import Approval
from schemas.imported_start import ImportedApprovalAt, ImportedStart
from schemas.initiative import SubmitInitiativeRequest
from schemas.stages import STAGE_ORDER, Role, Stage

#: Stages an initiative may be imported at. Not ``rollout`` (a deployment half done elsewhere cannot be
#: continued here: import it at ``it_signoff`` to roll out with liftoff, or at ``production``) and not
#: ``scrapped`` (nothing to continue; its reasons would need the taxonomy's codes).
IMPORT_STAGES = (Stage.PROPOSED, Stage.POC, Stage.INFRA_REVIEW, Stage.IT_SIGNOFF, Stage.PRODUCTION)
MAX_APPROVALS = 20
MAX_REFS = 10
#: The longest line accepted (bytes); a submission with every list full stays well below it.
MAX_LINE_BYTES = 64 * 1024
#: The most lines one import takes.
MAX_LINES = 100_000


class ImportStage(StrEnum):
    """``stage`` of an import line."""

    PROPOSED = "proposed"
    POC = "poc"
    INFRA_REVIEW = "infra_review"
    IT_SIGNOFF = "it_signoff"
    PRODUCTION = "production"


class ExternalRef(BaseModel):
    """Where the initiative came from: ``{"system": "servicenow", "ref": "DMND0001234"}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: limits.Name
    ref: limits.Name


class ImportRole(StrEnum):
    """The roles that approve gates."""

    PORTFOLIO = "portfolio"
    BUSINESS_OWNER = "business_owner"
    INFRASTRUCTURE = "infrastructure"
    IT_OPERATIONS = "it_operations"
    SECURITY = "security"
    COMPLIANCE = "compliance"


class ImportedApproval(BaseModel):
    """An approval given before liftoff: by whom, in which role, when (at the import stage unless ``stage``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: ImportRole
    person: limits.EmailAddress
    at: limits.Moment
    stage: ImportStage | None = None
    comment: limits.Text = ""


class ImportedPocResults(BaseModel):
    """PoC results already measured: metrics against the success criteria, spend, a summary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics: dict[limits.Name, limits.Metric] = Field(min_length=1, max_length=limits.MAX_METRICS)
    spend_usd: limits.Usd = 0
    summary: limits.Text = ""


class ImportLine(SubmitInitiativeRequest):
    """One line of an import file: a submission body and where the initiative stands."""

    stage: ImportStage
    submitted_at: limits.Moment
    stage_entered_at: limits.Moment
    #: When earlier stages were entered, if known (else each counts as entered when the next one was).
    stages_entered: dict[ImportStage, limits.Moment] = Field(default_factory=dict, max_length=len(IMPORT_STAGES))
    #: Who submitted it originally (default: whoever imports).
    submitter: limits.EmailAddress | None = None
    approvals: list[ImportedApproval] = Field(default_factory=list, max_length=MAX_APPROVALS)
    poc_results: ImportedPocResults | None = None
    external_refs: list[ExternalRef] = Field(default_factory=list, max_length=MAX_REFS)

    @model_validator(mode="after")
    def _dates_in_order(self) -> ImportLine:
        stage = Stage(self.stage.value)
        at = STAGE_ORDER.index(stage)
        if self.stage_entered_at < self.submitted_at:
            msg = "stage_entered_at is before submitted_at"
            raise ValueError(msg)
        previous = self.submitted_at
        for earlier in STAGE_ORDER[1:at]:
            entered = self.stages_entered.get(ImportStage(earlier.value)) if earlier in IMPORT_STAGES else None
            if entered is None:
                continue
            if not previous <= entered <= self.stage_entered_at:
                msg = f"stages_entered.{earlier.value} is not between the previous stage's date and stage_entered_at"
                raise ValueError(msg)
            previous = entered
        for later in self.stages_entered:
            if STAGE_ORDER.index(Stage(later.value)) >= at or later is ImportStage.PROPOSED:
                msg = f"stages_entered.{later.value}: only stages after proposed and before {stage.value}"
                raise ValueError(msg)
        for n, approval in enumerate(self.approvals):
            given = Stage((approval.stage or self.stage).value)
            if STAGE_ORDER.index(given) > at or given.is_terminal:
                msg = f"approvals[{n}]: stage {given.value} is not a gate the initiative has reached"
                raise ValueError(msg)
            if approval.at < self.submitted_at:
                msg = f"approvals[{n}]: given before the submission"
                raise ValueError(msg)
            if given is stage and approval.at < self.stage_entered_at:
                msg = f"approvals[{n}]: given at {stage.value} before stage_entered_at"
                raise ValueError(msg)
        if self.poc_results is not None and at < STAGE_ORDER.index(Stage.POC):
            msg = "poc_results for an initiative that has not reached the PoC"
            raise ValueError(msg)
        return self

    def submission(self) -> SubmitInitiativeRequest:
        """The submission body within the line."""
        fields = set(SubmitInitiativeRequest.model_fields)
        return SubmitInitiativeRequest.model_validate(self.model_dump(include=fields))

    def key(self) -> str:
        """What makes the line the same initiative the next time: its external references, else its content."""
        if self.external_refs:
            refs = sorted(f"{r.system}\n{r.ref}" for r in self.external_refs)
            return "refs:" + "\x1e".join(refs)
        return "line:" + self.model_dump_json()

    def initiative_id(self) -> str:
        """The id the line's initiative gets: the same for the same key, whoever imports it."""
        return "imp" + hashlib.sha256(self.key().encode("utf-8")).hexdigest()[:16]

    def problem_at(self, now: datetime) -> str | None:
        """What is wrong with the line's dates as of ``now`` (they are all in the past), if anything."""
        dates = [self.submitted_at, self.stage_entered_at, *self.stages_entered.values()]
        dates += [a.at for a in self.approvals]
        if any(d > now for d in dates):
            return "a date is in the future"
        return None


def imported_start(line: ImportLine, *, imported_by: str, import_id: str, number: int) -> ImportedStart:
    """The workflow's view of a checked line: every earlier stage dated, approvals placed at their stages."""
    stage = Stage(line.stage.value)
    entered: dict[str, datetime] = {Stage.PROPOSED.value: line.submitted_at}
    later = line.stage_entered_at
    path = STAGE_ORDER[: STAGE_ORDER.index(stage)]
    for earlier in reversed(path[1:]):  # an unknown date: entered when the next stage was
        known = line.stages_entered.get(ImportStage(earlier.value)) if earlier in IMPORT_STAGES else None
        later = known or later
        entered[earlier.value] = later
    ordered = {s.value: entered[s.value] for s in path}
    approvals = [
        ImportedApprovalAt(
            stage=Stage((a.stage or line.stage).value),
            approval=Approval(approver=a.person, role=Role(a.role.value), comment=a.comment, at=a.at.isoformat()),
        )
        for a in sorted(line.approvals, key=lambda a: a.at)
    ]
    poc = line.poc_results
    return ImportedStart(
        stage=stage,
        stage_entered_at=line.stage_entered_at,
        stages_entered=ordered,
        approvals=approvals,
        poc_metrics=dict(poc.metrics) if poc else None,
        poc_spend_usd=poc.spend_usd if poc else 0,
        poc_summary=poc.summary if poc else "",
        imported_by=imported_by,
        external_refs=[r.model_dump() for r in line.external_refs],
        import_id=import_id,
        line=number,
    )


def parse_line(raw: bytes) -> dict[str, Any]:
    """A line's JSON object (ValueError with the reason if it is not one)."""
    if len(raw) > MAX_LINE_BYTES:
        msg = f"line longer than {MAX_LINE_BYTES} bytes"
        raise ValueError(msg)
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        msg = f"not JSON: {err}"
        raise ValueError(msg) from None
    except RecursionError:  # "[[[[…" nested deeper than the parser goes
        msg = "not JSON: nested too deeply"
        raise ValueError(msg) from None
    if not isinstance(value, dict):
        msg = "not a JSON object"
        raise ValueError(msg)  # noqa: TRY004 - a bad line, reported as such
    return value
