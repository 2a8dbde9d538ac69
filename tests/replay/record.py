"""Record the workflow histories replayed by ``test_replay.py``.

Run after a deliberate workflow change that is safe for running initiatives (behind
``workflow.patched``), keeping the old files and adding new ones under a new version prefix::

    uv run python -m tests.replay.record --version v1
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from db.pool import create_pool
from schemas.decisions import (
    ApproveInput,
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
from schemas.imports import ImportLine, imported_start
from schemas.policy_file import load_policy
from schemas.stages import Role, Stage
from schemas.taxonomy import ReasonCode
from tests.conftest import ALL_KEYS, SUBMITTER, make_spec, make_start
from tests.workflows.helpers import start, update, update_with_completion_in_one_task
from worker.dev import apply_migrations
from worker.embedded import EmbeddedPostgres, find_binary
from worker.temporal_client import DATA_CONVERTER
from worker.wiring import build_activities, build_worker, build_workflow_worker

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
QUEUE = "record-histories"


async def _to_signoff(handle: WorkflowHandle[Any, Any]) -> None:
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.7}))
    await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
    await update(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
    await update(handle, "approve", ApproveInput(approver="ian@example.com", role=Role.INFRASTRUCTURE))


async def happy_path(client: Client) -> list[WorkflowHandle[Any, Any]]:
    """Proposal to production, with a failed PoC submission on the way."""
    handle = await start(client, QUEUE, make_start(load_policy()))
    await _to_signoff(handle)
    await update(handle, "approve", ApproveInput(approver="olga@example.com", role=Role.IT_OPERATIONS))
    await update(handle, "approve", ApproveInput(approver="beth@example.com", role=Role.BUSINESS_OWNER))
    await handle.result()
    description = await handle.describe()
    del description
    rollout_ids = [w.id async for w in client.list_workflows(f"WorkflowType='RolloutWorkflow' AND TaskQueue='{QUEUE}'")]
    return [handle, *(client.get_workflow_handle(i) for i in rollout_ids)]


async def rejected(client: Client) -> list[WorkflowHandle[Any, Any]]:
    """Rejected at the PoC gate."""
    handle = await start(client, QUEUE, make_start(load_policy()))
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    await update(
        handle,
        "reject",
        RejectInput(approver="bob@example.com", role=Role.BUSINESS_OWNER, reason_code=ReasonCode.BIZ_VALUE_UNPROVEN),
    )
    await handle.result()
    return [handle]


async def scrapped_at_signoff(client: Client) -> list[WorkflowHandle[Any, Any]]:
    """Scrapped by the team while waiting for the joint IT sign-off."""
    handle = await start(client, QUEUE, make_start(load_policy(), budget_usd=400_000))
    await _to_signoff(handle)
    await update(handle, "approve", ApproveInput(approver="olga@example.com", role=Role.IT_OPERATIONS))
    await update(handle, "scrap", ScrapInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT))
    await handle.result()
    return [handle]


async def sent_back_waived_resolved(client: Client) -> list[WorkflowHandle[Any, Any]]:
    """Sent back from infra review to the PoC, findings waived and resolved, then to production."""
    infra = make_spec().infrastructure.model_copy(update={"containerized": False})
    handle = await start(client, QUEUE, make_start(load_policy(), budget_usd=900_000, infrastructure=infra))
    await _approve_proposal(handle)
    await _to_infra_review(handle)
    await update(
        handle,
        "request_changes",
        RequestChangesInput(
            approver="ian@example.com", role=Role.INFRASTRUCTURE, reason_code=ReasonCode.SCALABILITY_UNPROVEN
        ),
    )
    await _to_infra_review(handle)
    await update(
        handle,
        "waive_finding",
        WaiveFindingInput(approver="ian@example.com", role=Role.INFRASTRUCTURE, finding_id="F-1", justification="ok"),
    )
    await update(handle, "resolve_finding", ResolveFindingInput(actor=SUBMITTER, finding_id="F-2", evidence="cut"))
    await update(handle, "approve", ApproveInput(approver="ian@example.com", role=Role.INFRASTRUCTURE))
    await update(handle, "approve", ApproveInput(approver="olga@example.com", role=Role.IT_OPERATIONS))
    await update(handle, "approve", ApproveInput(approver="beth@example.com", role=Role.BUSINESS_OWNER))
    await handle.result()
    return [handle]


async def held_blocked_resumed(client: Client) -> list[WorkflowHandle[Any, Any]]:
    """A blocker reported, put on hold, resumed, then scrapped."""
    handle = await start(client, QUEUE, make_start(load_policy()))
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    await update(
        handle, "report_blocker", ReportBlockerInput(actor=SUBMITTER, reason_code=ReasonCode.DATA_ACCESS_BLOCKED)
    )
    await update(handle, "hold", HoldInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT))
    await update(handle, "resume", ResumeInput(actor=SUBMITTER))
    await update(handle, "scrap", ScrapInput(actor=SUBMITTER, reason_code=ReasonCode.SPONSOR_LOST))
    await handle.result()
    return [handle]


async def _to_infra_review(handle: WorkflowHandle[Any, Any]) -> None:
    await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
    await update(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))


async def _approve_proposal(handle: WorkflowHandle[Any, Any]) -> None:
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))


async def completion_and_update_in_one_task(client: Client) -> list[WorkflowHandle[Any, Any]]:
    """A PoC approval's completion and a blocker report reach the worker in one workflow task, then rejected."""
    assert _POOL is not None
    queue = f"{QUEUE}-one-task"
    async with Worker(client, task_queue=queue, activities=build_activities(_POOL)) as activities:
        async with build_workflow_worker(client, _POOL, task_queue=queue):
            handle = await start(client, queue, make_start(load_policy()))
            await _approve_proposal(handle)
            await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
        await update_with_completion_in_one_task(
            client,
            _POOL,
            activities,
            queue,
            handle,
            ("approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER)),
            (
                "report_blocker",
                ReportBlockerInput(
                    actor=SUBMITTER, reason_code=ReasonCode.DATA_ACCESS_BLOCKED, stage=Stage.INFRA_REVIEW
                ),
            ),
        )
        async with build_workflow_worker(client, _POOL, task_queue=queue):
            await update(
                handle,
                "reject",
                RejectInput(
                    approver="ian@example.com", role=Role.INFRASTRUCTURE, reason_code=ReasonCode.PLATFORM_MISALIGNED
                ),
            )
            await handle.result()
    return [handle]


async def imported(client: Client) -> list[WorkflowHandle[Any, Any]]:
    """An import at the PoC, past its SLA (stalled and escalated at once), that carries on to production."""
    now = datetime.now(UTC)
    body = make_spec().model_dump(mode="json")
    body.update(
        stage="poc",
        submitted_at=(now - timedelta(days=150)).isoformat(),
        stage_entered_at=(now - timedelta(days=120)).isoformat(),
        submitter=SUBMITTER,
        approvals=[
            {
                "role": "portfolio",
                "person": "paula@example.com",
                "at": (now - timedelta(days=121)).isoformat(),
                "stage": "proposed",
            }
        ],
        external_refs=[{"system": "servicenow", "ref": "DMND0001001"}],
    )
    line = ImportLine.model_validate(body)
    inp = make_start(load_policy()).model_copy(
        update={
            "initiative_id": line.initiative_id(),
            "submitted_at_iso": line.submitted_at.isoformat(),
            "imported": imported_start(line, imported_by="ada@example.com", import_id="import-record", number=1),
        }
    )
    handle = await start(client, QUEUE, inp)
    await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
    await update(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
    await update(handle, "approve", ApproveInput(approver="ian@example.com", role=Role.INFRASTRUCTURE))
    await update(handle, "approve", ApproveInput(approver="olga@example.com", role=Role.IT_OPERATIONS))
    await update(handle, "approve", ApproveInput(approver="beth@example.com", role=Role.BUSINESS_OWNER))
    await handle.result()
    return [handle]


_POOL: asyncpg.Pool | None = None

SCENARIOS = {
    "happy_path": happy_path,
    "rejected": rejected,
    "scrapped_at_signoff": scrapped_at_signoff,
    "sent_back_waived_resolved": sent_back_waived_resolved,
    "held_blocked_resumed": held_blocked_resumed,
    "completion_and_update_in_one_task": completion_and_update_in_one_task,
    "imported": imported,
}


async def record(version: str, only: list[str]) -> None:
    """Run the scenarios (all, or ``only`` these) on fresh servers and write their histories."""
    postgres = EmbeddedPostgres(Path(tempfile.mkdtemp()) / "pg")
    dsn = postgres.start()
    try:
        await apply_migrations(dsn)
        pool = await create_pool(dsn)
        global _POOL  # noqa: PLW0603 - the one scenario that runs its own workers needs the pool
        _POOL = pool
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=find_binary("temporal"), data_converter=DATA_CONVERTER, search_attributes=ALL_KEYS
        )
        async with env, build_worker(env.client, pool, task_queue=QUEUE):
            HISTORIES.mkdir(exist_ok=True)
            for name, scenario in SCENARIOS.items():
                if only and name not in only:
                    continue
                for n, handle in enumerate(await scenario(env.client)):
                    history = await handle.fetch_history()
                    kind = "initiative" if n == 0 else f"rollout{n}"
                    path = HISTORIES / f"{version}_{name}_{kind}.json"
                    path.write_text(history.to_json(), encoding="utf-8")
                    print(f"wrote {path.relative_to(HISTORIES.parent.parent)} ({len(history.events)} events)")
        await pool.close()
    finally:
        postgres.stop()


def main() -> None:
    """Parse arguments and record."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", default="v1", help="file name prefix, e.g. v1 (default)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        default=[],
        help="record only this scenario (repeatable); existing files of others are kept",
    )
    args = parser.parse_args()
    asyncio.run(record(args.version, args.scenario))


if __name__ == "__main__":
    main()
