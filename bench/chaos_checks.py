"""What the chaos harness checks once the load is over: nothing lost, duplicated, stuck or unreplayable.

Each problem becomes a ``Problem`` naming its kind and, when it concerns one initiative, that
initiative's id, so the harness can attribute it to the faults the initiative lived through.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import asyncpg
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowHistory
from temporalio.service import RPCError

from bench.chaos_load import AckedDecision, Api, Initiative
from schemas.contract import INITIATIVE_WORKFLOW, ROLLOUT_WORKFLOW, workflow_id_for
from schemas.status import InitiativeStatusView
from worker.replay import replay_history

Kind = Literal["lost", "duplicated", "stuck", "replay", "read_model", "funnel", "not_in_production", "unacknowledged"]
T = TypeVar("T")
R = TypeVar("R")

DECISION_EVENT = {"approve": "approved", "submit-poc-results": "poc_results_submitted"}
STAGES = ("proposed", "poc", "infra_review", "it_signoff", "rollout", "production")
TERMINAL = {WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.TERMINATED}


@dataclass(frozen=True)
class Problem:
    """One thing the checks found wrong."""

    kind: Kind
    initiative_id: str | None
    detail: str


@dataclass
class Verification:
    """Everything the checks found, and the counts they compared."""

    problems: list[Problem] = field(default_factory=list)
    workflows: dict[str, int] = field(default_factory=dict)
    replayed: int = 0
    in_production: int = 0
    funnel: dict[str, Any] = field(default_factory=dict)

    def add(self, kind: Kind, initiative_id: str | None, detail: str) -> None:
        """Record one problem."""
        self.problems.append(Problem(kind, initiative_id, detail))


async def bounded(items: Iterable[T], fn: Callable[[T], Awaitable[R]], limit: int = 8) -> list[R]:
    """``fn`` over ``items``, at most ``limit`` at once, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with gate:
            return await fn(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


class Checker:
    """Compares what the load was told with Temporal, PostgreSQL and the reports, and replays every history."""

    def __init__(
        self, client: Client, dsn: str, api: Api, records: list[Initiative], out_dir: Path, log: Callable[[str], None]
    ) -> None:
        self.client = client
        self.dsn = dsn
        self.api = api
        self.records = records
        self.out_dir = out_dir
        self.log = log
        self.result = Verification()
        self.acked = {r.id: r for r in records if r.id is not None}
        self.executions: list[WorkflowExecution] = []
        self.views: dict[str, InitiativeStatusView] = {}

    async def run(self, settle_s: float = 30.0) -> Verification:
        """Every check, in the order that lets later ones use what earlier ones fetched."""
        await self._settle(settle_s)
        self.result.workflows = dict(Counter(e.workflow_type for e in self.executions))
        self.log(f"checks: {len(self.executions)} workflow executions {self.result.workflows}")
        conn = await asyncpg.connect(self.dsn)
        try:
            self._check_submissions()
            await self._check_database(conn)
            await self._check_live_status(conn)
        finally:
            await conn.close()
        await self._check_funnel()
        await self._check_replay()
        await self._check_stuck()
        return self.result

    async def _settle(self, seconds: float) -> None:
        """List the workflows once every acknowledged initiative's workflow has closed, or after ``seconds``.

        An initiative shows ``production`` in its status a moment before its workflow completes.
        """
        deadline = time.monotonic() + seconds
        wanted = {workflow_id_for(i) for i in self.acked}
        while True:
            self.executions = [e async for e in self.client.list_workflows()]
            open_ids = {e.id for e in self.executions if e.id in wanted and e.status is WorkflowExecutionStatus.RUNNING}
            if not open_ids or time.monotonic() > deadline:
                return
            await asyncio.sleep(1)

    # ----------------------------------------------------------------- lost and duplicated submissions

    def _latest_runs(self, workflow_type: str) -> dict[str, list[WorkflowExecution]]:
        """Executions of ``workflow_type`` per workflow id, leaving out runs that continued as new."""
        runs: dict[str, list[WorkflowExecution]] = defaultdict(list)
        for e in self.executions:
            if e.workflow_type == workflow_type and e.status is not WorkflowExecutionStatus.CONTINUED_AS_NEW:
                runs[e.id].append(e)
        return runs

    def _check_submissions(self) -> None:
        runs = self._latest_runs(INITIATIVE_WORKFLOW)
        for record in self.records:
            if len(record.ids) > 1:
                self.result.add("duplicated", record.id, f"Idempotency-Key {record.key} answered with ids {record.ids}")
        for initiative_id, record in self.acked.items():
            count = len(runs.get(workflow_id_for(initiative_id), []))
            if count == 0:
                self.result.add(
                    "lost", initiative_id, f"acknowledged submission {record.key} has no workflow in Temporal"
                )
            elif count > 1:
                self.result.add(
                    "duplicated", initiative_id, f"{count} open-ended runs of {workflow_id_for(initiative_id)}"
                )
        known = {workflow_id_for(i) for i in self.acked}
        for workflow_id in sorted(set(runs) - known):
            self.result.add(
                "unacknowledged", None, f"{workflow_id} runs in Temporal but no submission was acknowledged for it"
            )

    async def _check_database(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch("SELECT id, workflow_id FROM initiatives")
        per_id = Counter(r["id"] for r in rows)
        for initiative_id in self.acked:
            if per_id[initiative_id] == 0:
                self.result.add("lost", initiative_id, "acknowledged submission has no row in initiatives")
        checks = {
            "initiatives with one id on several rows": "SELECT id AS k, count(*) AS n FROM initiatives "
            "GROUP BY id HAVING count(*) > 1",
            "initiatives with one workflow id on several rows": "SELECT workflow_id AS k, count(*) AS n "
            "FROM initiatives GROUP BY workflow_id HAVING count(*) > 1",
            "lifecycle events with one event_id on several rows": "SELECT event_id AS k, count(*) AS n "
            "FROM lifecycle_events GROUP BY event_id HAVING count(*) > 1",
            "lifecycle events with one (initiative_id, seq) on several rows": "SELECT initiative_id || '/' || seq "
            "AS k, count(*) AS n FROM lifecycle_events GROUP BY initiative_id, seq HAVING count(*) > 1",
        }
        for what, query in checks.items():
            for row in await conn.fetch(query):
                key = str(row["k"])
                self.result.add("duplicated", key.split("/", 1)[0], f"{what}: {key} x{row['n']}")
        runs = self._latest_runs(INITIATIVE_WORKFLOW)
        events = await conn.fetch(
            "SELECT initiative_id, seq, kind, stage, actor, role FROM lifecycle_events ORDER BY initiative_id, seq"
        )
        by_initiative: dict[str, list[asyncpg.Record]] = defaultdict(list)
        for event in events:
            by_initiative[event["initiative_id"]].append(event)
        for initiative_id, record in self.acked.items():
            running = any(
                e.status is WorkflowExecutionStatus.RUNNING for e in runs.get(workflow_id_for(initiative_id), [])
            )
            self._check_decisions(
                initiative_id, record.decisions, by_initiative.get(initiative_id, []), running=running
            )

    def _check_decisions(
        self, initiative_id: str, acked: list[AckedDecision], events: list[asyncpg.Record], *, running: bool
    ) -> None:
        """Every acknowledged decision is in the event log, and no decision is in it twice in one stage visit.

        A decision answered 202 (accepted, not yet applied) of a workflow that is still running may still
        be applied: it is reported as stuck, not lost. Answered 200, or its workflow closed, it is lost.
        """
        visit: Counter[str] = Counter()
        seen: Counter[tuple[str, int, str, str | None]] = Counter()
        for event in events:
            if event["kind"] == "stage_entered":
                visit[event["stage"]] += 1
            if event["kind"] in DECISION_EVENT.values():
                seen[(event["stage"], visit[event["stage"]], event["kind"], event["role"])] += 1
        for (stage, number, kind, role), count in seen.items():
            if count > 1:
                self.result.add(
                    "duplicated",
                    initiative_id,
                    f"{kind}{' as ' + role if role else ''} recorded {count}x in visit {number} of {stage}",
                )
        for decision in acked:
            kind = DECISION_EVENT[decision.action]
            email = f"{decision.person}@demo.liftoff"
            if not any(
                e["kind"] == kind
                and e["stage"] == decision.stage
                and e["actor"] == email
                and (decision.role is None or e["role"] == decision.role)
                for e in events
            ):
                pending = decision.status == 202 and running
                self.result.add(
                    "stuck" if pending else "lost",
                    initiative_id,
                    f"{decision.action}{' as ' + decision.role if decision.role else ''} by {email} "
                    f"at {decision.stage} was acknowledged ({decision.status}) but is not in lifecycle_events"
                    + (" (accepted, not applied yet: the workflow is still running)" if pending else ""),
                )

    # ----------------------------------------------------------------- read model and reports

    async def _query(self, workflow_id: str) -> InitiativeStatusView | str:
        try:
            view: InitiativeStatusView = await self.client.get_workflow_handle(workflow_id).query(
                "status", result_type=InitiativeStatusView
            )
        except (RPCError, RuntimeError) as err:
            return f"{type(err).__name__}: {err}"
        return view

    async def _check_live_status(self, conn: asyncpg.Connection) -> None:
        workflow_ids = sorted(self._latest_runs(INITIATIVE_WORKFLOW))
        answers = await bounded(workflow_ids, self._query)
        for workflow_id, answer in zip(workflow_ids, answers, strict=True):
            if isinstance(answer, str):
                self.result.add("read_model", workflow_id, f"status query of {workflow_id} failed: {answer}")
            else:
                self.views[answer.id] = answer
        for initiative_id, view in self.views.items():
            for attempt in range(4):
                row = await conn.fetchrow("SELECT stage, status FROM initiatives WHERE id = $1", initiative_id)
                live = (view.stage.value, view.status.value)
                if row is not None and (row["stage"], row["status"]) == live:
                    break
                if attempt == 3 or view.stage.is_terminal:
                    read = None if row is None else (row["stage"], row["status"])
                    self.result.add("read_model", initiative_id, f"read model {read} but the workflow says {live}")
                    break
                # A running initiative's row may trail its workflow by one activity: look again.
                await asyncio.sleep(2)
                refreshed = await self._query(workflow_id_for(initiative_id))
                if isinstance(refreshed, InitiativeStatusView):
                    view = refreshed  # noqa: PLW2901 - compare with the newest live status
                    self.views[initiative_id] = view

    async def _check_funnel(self) -> None:
        answer = await self.api.call("GET", "/v1/reports/funnel", "ada")
        if answer.status != 200 or not isinstance(answer.body, dict):
            self.result.add("funnel", None, f"GET /v1/reports/funnel answered {answer.status}: {answer.message}")
            return
        funnel = answer.body
        self.result.funnel = {k: v for k, v in funnel.items() if not isinstance(v, (list, dict))}
        completed = {
            e.id
            for e in self.executions
            if e.workflow_type == INITIATIVE_WORKFLOW and e.status is WorkflowExecutionStatus.COMPLETED
        }
        in_production = sum(
            1 for v in self.views.values() if v.stage.value == "production" and workflow_id_for(v.id) in completed
        )
        self.result.in_production = in_production
        expected: dict[str, int] = {"total": len(self._latest_runs(INITIATIVE_WORKFLOW))}
        expected["reached_production"] = in_production
        reported: dict[str, int] = {
            "total": int(funnel["total"]),
            "reached_production": int(funnel["reached_production"]),
        }
        by_stage = {s["stage"]: s for s in funnel["stages"]}
        for stage in STAGES:
            expected[f"reached {stage}"] = sum(
                1 for v in self.views.values() if stage in {s.value for s in v.visited} | {v.stage.value}
            )
            reported[f"reached {stage}"] = int(by_stage.get(stage, {}).get("reached", 0))
        for name, want in expected.items():
            if reported[name] != want:
                self.result.add("funnel", None, f"funnel {name} = {reported[name]}, Temporal says {want}")

    # ----------------------------------------------------------------- replay and stuck workflows

    def _initiative_of(self, execution: WorkflowExecution) -> str | None:
        by_workflow = {workflow_id_for(i): i for i in self.acked}
        if execution.workflow_type == INITIATIVE_WORKFLOW:
            return by_workflow.get(execution.id, execution.id)
        if execution.parent_id is not None:
            return by_workflow.get(execution.parent_id, execution.parent_id)
        return None

    async def _replay_one(self, execution: WorkflowExecution) -> str | None:
        handle = self.client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history: WorkflowHistory = await handle.fetch_history()
        result = await replay_history(history)
        if result.replay_failure is None:
            return None
        failures = self.out_dir / "replay-failures"
        failures.mkdir(exist_ok=True)
        path = failures / f"{execution.id}_{execution.run_id}.json"
        path.write_text(history.to_json(), encoding="utf-8")
        return f"{type(result.replay_failure).__name__}: {result.replay_failure} (history: {path})"

    async def _check_replay(self) -> None:
        replayable = [e for e in self.executions if e.workflow_type in (INITIATIVE_WORKFLOW, ROLLOUT_WORKFLOW)]
        started = time.monotonic()
        failures = await bounded(replayable, self._replay_one, limit=4)
        self.result.replayed = len(replayable)
        self.log(f"checks: replayed {len(replayable)} histories in {time.monotonic() - started:.1f}s")
        for execution, failure in zip(replayable, failures, strict=True):
            if failure is not None:
                self.result.add("replay", self._initiative_of(execution), f"{execution.id}: {failure}")

    async def _failing_task(self, execution: WorkflowExecution) -> str | None:
        """Why the workflow task of a running workflow keeps failing, or None if it does not."""
        handle = self.client.get_workflow_handle(execution.id, run_id=execution.run_id)
        for look in range(2):
            description = (await handle.describe()).raw_description
            attempt = description.pending_workflow_task.attempt if description.HasField("pending_workflow_task") else 0
            if attempt <= 1:
                return None
            if look == 0:
                await asyncio.sleep(5)  # still failing once the system had time to settle?
        failure = ""
        async for event in handle.fetch_history_events():
            if event.event_type in (
                EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
                EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
            ):
                failure = event.workflow_task_failed_event_attributes.failure.message or EventType.Name(
                    event.event_type
                )
        return f"workflow task attempt {attempt}, last failure: {failure or 'none recorded'}"

    async def _why_running(self, workflow_id: str) -> str:
        try:
            description = (await self.client.get_workflow_handle(workflow_id).describe()).raw_description
        except RPCError as err:
            return f"describe failed: {err}"
        now = time.time()
        parts = []
        for a in description.pending_activities:
            started = a.last_started_time.seconds if a.HasField("last_started_time") else 0
            state = PendingActivityState.Name(a.state).removeprefix("PENDING_ACTIVITY_STATE_")
            part = f"{workflow_id}: activity {a.activity_type.name} {state} attempt {a.attempt}"
            if started:
                part += f", started {now - started:.0f}s ago"
            part += f", last failure: {a.last_failure.message}" if a.HasField("last_failure") else ", no failure"
            parts.append(part)
        parts += [
            f"child {c.workflow_id}: {await self._why_running(c.workflow_id)}" for c in description.pending_children
        ]
        return "; ".join(parts) or "nothing pending"

    async def _check_stuck(self) -> None:
        running = [e for e in self.executions if e.status is WorkflowExecutionStatus.RUNNING]
        reasons = await bounded(running, self._failing_task)
        for execution, reason in zip(running, reasons, strict=True):
            if reason is not None:
                self.result.add("stuck", self._initiative_of(execution), f"{execution.id}: {reason}")
        for initiative_id, record in self.acked.items():
            view = self.views.get(initiative_id)
            if view is not None and view.stage.value == "production":
                continue
            where = "no live status" if view is None else f"stage {view.stage.value}, status {view.status.value}"
            if view is not None and not view.stage.is_terminal:
                why = await self._why_running(workflow_id_for(initiative_id))
                awaiting = ", ".join(view.awaiting_roles) or "nobody"
                self.result.add(
                    "stuck",
                    initiative_id,
                    f"not in production: {where}, awaiting {awaiting}; {why}; the load says: {record.outcome}",
                )
            else:
                self.result.add("not_in_production", initiative_id, f"{where}; the load says: {record.outcome}")
        for record in self.records:
            if record.id is None:
                self.result.add("not_in_production", None, f"{record.key} never acknowledged: {record.outcome}")
