"""One initiative as its workflow holds it: the state model, the outbox, the effects, and what they show.

``InitiativeCore`` owns everything the update handlers (``workflows/initiative.py``) and the stage machine
(``workflows/stage_machine.py``) share: the durable state (``schemas.initiative_state.InitiativeState``,
carried whole on continue-as-new), the decisions ``run`` is about to carry out, the gate as it stands, the
status view and read-model snapshot, and the search attributes and details the Web UI shows.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():  # models only: liftoff's logic is imported below, sandboxed
    from schemas.events import EventKind, InitiativeSnapshot, LifecycleEvent, TeamAction
    from schemas.initiative import StartInitiativeInput
    from schemas.initiative_state import InitiativeState
    from schemas.integrations import RolloutResult, Ticket
    from schemas.notifications import Notice
    from schemas.pending import Ending, SendBack
    from schemas.stages import InitiativeStatus, Role, Stage
    from schemas.status import InitiativeStatusView

from workflows import search_attributes as sa
from workflows.alarm import Alarm
from workflows.details import render_details
from workflows.effects import Effects
from workflows.gates import GateContext, team_action
from workflows.notices import GateNow, review
from workflows.outbox import Outbox
from workflows.patches import Patches


class InitiativeCore:
    """The state of one initiative and the helpers that record, show and change it."""

    def __init__(self, inp: StartInitiativeInput, state: InitiativeState, taken: Patches) -> None:
        self.inp = inp
        self.patches = taken
        self.policy = inp.policy
        self.state = state
        self.outbox = Outbox(state, inp.initiative_id, inp.policy.version)
        self.effects = Effects(inp)
        self.alarm = Alarm()
        # Decisions recorded by a handler that ``run`` carries out in its next pass.
        self.ending: Ending | None = None
        self.send_back: SendBack | None = None
        self.progress = False  # a decision moved the gate on: a stall ends
        self.assessing = False
        self.rollout_task: asyncio.Task[RolloutResult] | None = None
        self.rollout_result: RolloutResult | None = None
        self.rollout_id: str | None = None
        self.timers = False  # ``patches.SLA_TIMERS``
        self.lean = False  # ``patches.LEAN_HISTORY``
        self.notify = False  # ``patches.NOTIFICATIONS``
        #: An imported initiative runs its stage's entry actions (sandbox, assessment, ticket) on its first pass.
        self.enter_on_start = False

    def start_notices(self) -> None:
        """From now on every recorded batch carries its notices, and reminders are due (``patches.NOTIFICATIONS``)."""
        self.notify = True
        self.outbox.review = self._review

    def _review(self, events: list[LifecycleEvent]) -> list[Notice]:
        state = self.state
        now = GateNow(
            stage=state.stage,
            visit=state.stage_entered_at,
            waiting=[r.value for r in self.awaiting()],
            can_act=self.approvers_can_act(),
            approvers=[p for a in state.approvals for p in a.people],
            team_action=self.team_needs(),
            due_at=self.sla_due(),
            owners=state.stall.owners if state.stall else (),
        )
        return review(events, now, roster=self.inp.roster, submitter=self.inp.submitter, announced=state.announced)

    # ------------------------------------------------------------------ the gate and what it shows

    def required(self) -> list[Role]:
        """Roles the current stage's gate needs."""
        return self.policy.required_roles(self.state.stage, self.inp.spec.risk_tier)

    def gate(self) -> GateContext:
        """The current gate, for the validators and the stage machine."""
        inp, state = self.inp, self.state
        return GateContext(
            stage=state.stage,
            submitter=inp.submitter,
            required_roles=self.required(),
            approvals=state.approvals,
            roster=inp.roster,
            poc_met=bool(state.poc and state.poc.met),
            findings=state.findings,
            assessment_pending=self.assessing,
            on_hold=state.hold is not None,
            team_actors=inp.team_actors,
            team=inp.spec.team,
            tokens_prove_roles=inp.tokens_prove_roles,
        )

    def awaiting(self) -> list[Role]:
        """Roles the gate still waits for (none while the initiative is ending or between gates)."""
        if not self.state.stage.is_gate or self.ending is not None:
            return []
        return self.gate().awaiting_roles

    def approvers_can_act(self) -> bool:
        """Whether the awaited roles can decide now (PoC results in, no open blocking finding, not on hold)."""
        gate = self.gate()
        return gate.stage.is_gate and self.ending is None and gate.preconditions_met and not gate.on_hold

    def team_needs(self) -> TeamAction | None:
        """What the gate waits for from the team, if anything."""
        if self.ending is not None:
            return None
        return team_action(self.gate(), blocked=self.state.blocker is not None)

    def status_value(self) -> InitiativeStatus:
        """Active, on hold, stalled, or where it ended."""
        state = self.state
        if state.stage is Stage.PRODUCTION:
            return InitiativeStatus.PRODUCTION
        if state.stage is Stage.SCRAPPED:
            return InitiativeStatus.SCRAPPED
        if state.hold is not None:
            return InitiativeStatus.ON_HOLD
        if state.stall is not None:
            return InitiativeStatus.STALLED
        return InitiativeStatus.ACTIVE

    def sla_due(self) -> datetime | None:
        """When the current stage's SLA runs out (None while on hold or without an SLA)."""
        state = self.state
        stage_policy = self.policy.stages.get(state.stage)
        if stage_policy is None or state.hold is not None or state.stage.is_terminal:
            return None
        return state.clock_start + stage_policy.sla + state.held_in_stage

    def view(self) -> InitiativeStatusView:
        """The status a query or a decision answers with."""
        inp, state, spec = self.inp, self.state, self.inp.spec
        due = self.sla_due()
        return InitiativeStatusView(
            id=inp.initiative_id,
            workflow_id=workflow.info().workflow_id,
            title=spec.title,
            team=spec.team,
            business_unit=spec.business_unit,
            sponsor=spec.sponsor,
            submitter=inp.submitter,
            risk_tier=spec.risk_tier.value,
            policy_version=self.policy.version,
            stage=state.stage,
            status=self.status_value(),
            stage_entered_at=state.stage_entered_at.isoformat(),
            awaiting_roles=[r.value for r in self.awaiting()],
            approvals=list(state.approvals),
            findings=list(state.findings),
            poc=state.poc,
            reason_code=state.reason,
            reason_detail=state.reason_detail,
            visited=list(state.visited),
            assessment_pending=self.assessing,
            hold=state.hold,
            blocker=state.blocker,
            sla_due_at=due.isoformat() if due else None,
            stall=state.stall,
            rollout_workflow_id=self.rollout_id if state.stage is Stage.ROLLOUT else None,
        )

    def snapshot(self) -> InitiativeSnapshot:
        """The read model's row, recorded with every batch of events."""
        inp, state = self.inp, self.state
        return InitiativeSnapshot(
            initiative_id=inp.initiative_id,
            workflow_id=workflow.info().workflow_id,
            spec=inp.spec,
            submitter=inp.submitter,
            policy_version=self.policy.version,
            stage=state.stage,
            status=self.status_value(),
            stage_entered_at=state.stage_entered_at,
            awaiting_roles=[r.value for r in self.awaiting()],
            reason_code=state.reason,
            submitted_at=datetime.fromisoformat(inp.submitted_at_iso)
            if inp.submitted_at_iso
            else workflow.info().start_time,
            poc_spend_usd=state.poc_spend,
            due_at=self.sla_due(),
            approved_by=[p for a in state.approvals for p in a.people],
            approvers_can_act=self.approvers_can_act(),
            team_action=self.team_needs(),
        )

    # ------------------------------------------------------------------ recording

    def publish(self) -> None:
        """Search attributes and current details follow every change (lean: only what changed is upserted)."""
        state, awaiting = self.state, self.awaiting()
        updates = sa.progress(
            state.stage.value, [r.value for r in awaiting], state.stage_entered_at, stalled=state.stall is not None
        )
        if self.lean:
            spec = self.inp.spec
            updates = sa.changed(
                [*sa.identity(spec.team, spec.business_unit, spec.risk_tier.value), *updates],
                workflow.info().typed_search_attributes,
            )
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(render_details(self.view(), awaiting, self.inp.roster, workflow.now()))

    async def settle(self) -> None:
        """Record what happened up to now and mark those decisions as processed.

        Events emitted while the flush awaits are left for the next pass of ``run``: their gate has
        not been evaluated yet.
        """
        upto = self.state.seq
        await self.outbox.flush(self.snapshot)
        self.publish()
        self.outbox.settle(upto)

    async def record(self) -> None:
        """Record and publish without marking decisions processed (their gate is evaluated later)."""
        await self.outbox.flush(self.snapshot)
        self.publish()

    async def answer(self, seq: int) -> InitiativeStatusView:
        """What a decision's handler returns: the status once ``run`` has processed the decision."""
        await self.outbox.wait_settled(seq)
        return self.view()

    # ------------------------------------------------------------------ side-effect steps

    async def release_sandbox(self, why: str) -> None:
        """Deprovision the PoC sandbox, if there is one."""
        sandbox = self.state.sandbox
        if sandbox is None:
            return
        resource = await self.effects.deprovision(sandbox.ref, why)
        self.outbox.emit(EventKind.SANDBOX_DEPROVISIONED, detail=why, data={"ref": resource.ref})
        self.state.sandbox = None

    async def close_signoff(self, outcome: str, comment: str) -> None:
        """Close the IT sign-off ticket, if one is open."""
        ticket = self.state.signoff_ticket
        if ticket is None:
            return
        await self.effects.close_ticket(ticket, outcome, comment)
        self.state.signoff_ticket = None

    async def close_escalations(self, outcome: str, comment: str) -> None:
        """Close every escalation ticket of the current stall."""
        tickets: list[Ticket] = self.state.escalations
        for ticket in tickets:
            await self.effects.close_ticket(ticket, outcome, comment)
        self.state.escalations = []

    def stalled_seconds(self) -> float:
        """How long the current stall has lasted (0 when not stalled)."""
        stall = self.state.stall
        if stall is None:
            return 0.0
        return (workflow.now() - datetime.fromisoformat(stall.since)).total_seconds()

    def restart_clock(self) -> None:
        """The stage's SLA clock starts again (on entry, and when a stall clears)."""
        self.state.clock_start = workflow.now()
        self.state.reminders_sent = 0
        self.state.held_in_stage = timedelta()
