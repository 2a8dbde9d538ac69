"""Notices and reminders on the time-skipping server: the 14-day proposed SLA passes in milliseconds.

Default notification policy: reminders at 50% and 80% of the stage's SLA (7 d and 11.2 d for proposed).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
from temporalio.testing import WorkflowEnvironment

from schemas.decisions import ApproveInput, SubmitPocResultsInput
from schemas.policy import Policy
from schemas.stages import Role, Stage
from tests.conftest import ROSTER, SUBMITTER, make_start
from tests.workflows.helpers import start, status, update
from tests.workflows.test_stalls import _settled

DAY = timedelta(days=1)


async def _notices(pool: asyncpg.Pool, initiative_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT kind, stage, roles, people, action, due_at, visit, created_at, detail FROM notices"
        " WHERE initiative_id=$1 ORDER BY created_at, id",
        initiative_id,
    )


async def test_reminders_at_half_and_four_fifths_of_the_sla_and_none_after_approval(
    ts: tuple[WorkflowEnvironment, str], pool: asyncpg.Pool, policy: Policy
) -> None:
    env, queue = ts
    inp = make_start(policy)
    handle = await start(env.client, queue, inp)
    view = await _settled(handle)
    entered = datetime.fromisoformat(view.stage_entered_at)
    due = entered + 14 * DAY

    # At submission: the portfolio roster hears that the gate waits for it, with the SLA's end as due date.
    [awaiting] = await _notices(pool, inp.initiative_id)
    assert (awaiting["kind"], awaiting["stage"], awaiting["action"]) == ("awaiting", "proposed", "approve")
    assert awaiting["roles"] == ["portfolio"]
    assert awaiting["people"] == ["paula@example.com"]
    assert awaiting["due_at"] == due
    assert awaiting["visit"] == entered

    await env.sleep(6 * DAY)
    await _settled(handle)
    assert [n["kind"] for n in await _notices(pool, inp.initiative_id)] == ["awaiting"]  # nothing before 50%

    await env.sleep(2 * DAY)  # day 8: past the 50% reminder (day 7), before the 80% one (day 11.2)
    await _settled(handle)
    notices = await _notices(pool, inp.initiative_id)
    assert [n["kind"] for n in notices] == ["awaiting", "reminder"]
    reminder = notices[1]
    assert reminder["people"] == ["paula@example.com"]
    assert reminder["roles"] == ["portfolio"]
    assert reminder["due_at"] == due
    # half of the SLA (the test server's clock runs on a few ms while activities run in real time)
    assert abs(reminder["created_at"] - entered - 7 * DAY) < timedelta(minutes=1)
    assert reminder["detail"] == "50% of the proposed SLA has passed"
    reminded = await pool.fetch(
        "SELECT data FROM lifecycle_events WHERE initiative_id=$1 AND kind='reminded'", inp.initiative_id
    )
    assert len(reminded) == 1

    view = await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    assert view.stage is Stage.POC
    await env.sleep(5 * DAY)  # day 13: the proposed stage's 80% (day 11.2) would have passed
    await _settled(handle)
    after = [(n["kind"], n["stage"], n["action"]) for n in (await _notices(pool, inp.initiative_id))[2:]]
    # the submitter hears of the approval and that the PoC waits for results; no proposed reminder follows
    assert after == [("decided", "proposed", "approved"), ("team_action", "poc", "submit_poc_results")]
    assert all(n["people"] == [SUBMITTER] for n in (await _notices(pool, inp.initiative_id))[2:])

    # PoC: 90-day SLA. The team is reminded at day 45 of the PoC; once results are in, the business owner
    # hears that the gate waits for them.
    await env.sleep(45 * DAY)
    await _settled(handle)
    kinds = [(n["kind"], n["stage"], n["action"]) for n in await _notices(pool, inp.initiative_id)]
    assert kinds[-1] == ("reminder", "poc", "submit_poc_results")
    await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
    await _settled(handle)
    last = (await _notices(pool, inp.initiative_id))[-1]
    assert (last["kind"], last["action"], last["roles"]) == ("awaiting", "approve", ["business_owner"])
    assert last["people"] == sorted(ROSTER["business_owner"])
    assert (await status(handle)).stage is Stage.POC
