"""A synthetic portfolio for ``bench.reports``, generated consistently and loaded with COPY.

Each initiative walks proposed → poc → infra_review → it_signoff → rollout → production on a simulated
clock starting at its submission (spread over two years), and may stall (some stalls escalated, most
cleared), be sent back once, or be scrapped (about 39% of those in the PoC, about 46% of the rest after
it; a quarter of the scraps are ABANDONED after a stall that never cleared). Events later than "now" are
cut off, so recent initiatives are still in flight, some stalled or on hold. Stage intervals and the
initiative row are then derived from the surviving events the way ``db.events_repo`` maintains them.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from db import rollups_repo
from schemas.taxonomy import TAXONOMY

DAY = 86400.0
PATH = ("proposed", "poc", "infra_review", "it_signoff", "rollout")
MEDIAN_DAYS = {"proposed": 9.0, "poc": 40.0, "infra_review": 16.0, "it_signoff": 11.0, "rollout": 7.0}
SCRAP_P = {"proposed": 0.10, "poc": 0.39, "infra_review": 0.24, "it_signoff": 0.20, "rollout": 0.12}
STALL_P = {"proposed": 0.10, "poc": 0.22, "infra_review": 0.28, "it_signoff": 0.20, "rollout": 0.10}
SEND_BACK_P = {"infra_review": 0.08, "it_signoff": 0.06}
ABANDONED_SHARE = 0.25
ESCALATE_EVERY = 14 * DAY
Weighted = tuple[tuple[str, ...], tuple[int, ...]]
STALL_REASONS: dict[str, Weighted] = {
    "proposed": (("APPROVAL_PENDING", "OWNERSHIP_UNCLEAR", "BIZ_PRIORITY_CHANGED"), (70, 15, 15)),
    "poc": (
        (
            "POC_RESULTS_MISSING",
            "POC_CRITERIA_NOT_MET",
            "DATA_ACCESS_BLOCKED",
            "SKILLS_UNAVAILABLE",
            "APPROVAL_PENDING",
        ),
        (40, 20, 15, 10, 15),
    ),
    "infra_review": (
        ("FINDINGS_OPEN", "APPROVAL_PENDING", "CAPACITY_QUOTA_UNAVAILABLE", "SECURITY_FINDINGS_OPEN"),
        (40, 30, 20, 10),
    ),
    "it_signoff": (("APPROVAL_PENDING", "PROVISIONING_DELAY", "VENDOR_DEPENDENCY"), (60, 25, 15)),
    "rollout": (("PROVISIONING_DELAY", "CAPACITY_QUOTA_UNAVAILABLE"), (80, 20)),
}
SCRAP_REASONS: dict[str, Weighted] = {
    "proposed": (("BIZ_VALUE_UNPROVEN", "REG_PROHIBITED", "BIZ_PRIORITY_CHANGED"), (60, 15, 25)),
    "poc": (
        ("POC_CRITERIA_NOT_MET", "MODEL_PERFORMANCE_INSUFFICIENT", "DATA_QUALITY_INSUFFICIENT", "BUDGET_CUT"),
        (40, 25, 25, 10),
    ),
    "infra_review": (
        ("PLATFORM_MISALIGNED", "SECURITY_FINDINGS_OPEN", "PROD_COST_OVER_BUDGET", "DATA_GOVERNANCE_GAP"),
        (35, 20, 30, 15),
    ),
    "it_signoff": (("CHANGE_REJECTED", "PROD_COST_OVER_BUDGET", "SKILLS_UNAVAILABLE"), (40, 35, 25)),
    "rollout": (("ROLLOUT_FAILED", "SCALABILITY_UNPROVEN", "VENDOR_DEPENDENCY"), (60, 25, 15)),
}
SEND_BACK_REASONS: Weighted = (("FINDINGS_OPEN", "PLATFORM_MISALIGNED", "DATA_GOVERNANCE_GAP"), (50, 30, 20))
AWAITING = {
    "proposed": ["portfolio"],
    "poc": ["business_owner"],
    "infra_review": ["infrastructure", "security"],
    "it_signoff": ["it_operations", "compliance"],
    "rollout": [],
}
FILLERS = ("approved", "approved", "approved", "finding_raised", "finding_resolved", "changes_requested")
FAMILY = {code.value: info.family.value for code, info in TAXONOMY.items()}
TEAMS = tuple(f"team-{n:02d}" for n in range(60))
TEAM_WEIGHTS = tuple(1 / (n + 1) ** 0.8 for n in range(60))
BUSINESS_UNITS = ("retail", "wholesale", "operations", "finance", "hr", "marketing", "logistics", "legal")
POLICY = "2026.11-default"

# (t, order, kind, stage, reason, data); order keeps same-instant events in the order they were made.
Event = tuple[float, int, str, str, str | None, dict[str, Any] | None]
Row = tuple[Any, ...]


# Columns the COPYs fill (the others keep their defaults).
INITIATIVE_COLUMNS = (
    "id workflow_id title team business_unit sponsor submitter risk_tier data_classification procurement "
    "deployment_target budget_usd policy_version stage status stage_entered_at awaiting_roles reason_code "
    "poc_spend_usd submitted_at updated_at last_event_seq spec"
)
EVENT_COLUMNS = "event_id initiative_id seq kind stage reason_code reason_family data occurred_at policy_version"
INTERVAL_COLUMNS = (
    "id initiative_id stage visit entered_at left_at outcome reason_code stalls stalled_seconds last_stall_reason"
)
RESOURCE_COLUMNS = "ref idempotency_key initiative_id provider environment status cost_usd created_at"


def _pick(rng: random.Random, options: Weighted) -> str:
    return rng.choices(options[0], options[1])[0]


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _usd(x: float) -> Decimal:
    return Decimal(f"{x:.2f}")


class Timeline:
    """The full, uncut history of one initiative, built stage visit by stage visit."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.events: list[Event] = []
        self.visits: list[tuple[str, float, float]] = []

    def add(
        self, t: float, kind: str, stage: str, reason: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        """Append one event."""
        self.events.append((t, len(self.events), kind, stage, reason, data))

    def _stall(self, stage: str, start: float, end: float, *, cleared: bool) -> None:
        reason = _pick(self.rng, STALL_REASONS[stage])
        self.add(start, "stalled", stage, reason)
        level = 0
        while level < 3 and start + (level + 1) * ESCALATE_EVERY < end:
            level += 1
            self.add(start + level * ESCALATE_EVERY, "escalated", stage, reason, {"level": level})
        if cleared:
            self.add(end, "stall_cleared", stage, reason, {"stalled_seconds": end - start, "escalation_level": level})

    def visit(self, stage: str, t0: float, end: str, reason: str | None = None) -> float:
        """One visit of ``stage`` from ``t0`` ending in ``end`` (advance, send_back, scrap); returns its end."""
        rng = self.rng
        dur = rng.lognormvariate(math.log(MEDIAN_DAYS[stage] * DAY), 0.7)
        t1 = t0 + dur
        self.visits.append((stage, t0, t1))
        stall_start = 0.0
        if end == "scrap" and reason == "ABANDONED":
            stall_start = t0 + dur * rng.uniform(0.05, 0.3)
            self._stall(stage, stall_start, t1, cleared=False)
        elif rng.random() < STALL_P[stage]:
            start = t0 + dur * rng.uniform(0.1, 0.5)
            self._stall(stage, start, start + (t1 - start) * rng.uniform(0.3, 0.95), cleared=True)
        if stage == "poc":
            if rng.random() < 0.7:  # the others run their PoC on infrastructure they already have
                self.add(t0 + 0.01 * dur, "sandbox_provisioned", stage)
            if not (end == "scrap" and reason == "ABANDONED"):
                self.add(t1 - 0.02 * dur, "poc_results_submitted", stage)
        elif stage == "rollout":
            self.add(t0 + 0.01 * dur, "rollout_started", stage)
        if end == "advance":
            self.add(t1, "stage_left", stage, None, {"outcome": "advanced"})
        elif end == "send_back":
            to = PATH[PATH.index(stage) - 1]
            self.add(t1, "stage_left", stage, _pick(rng, SEND_BACK_REASONS), {"outcome": "sent_back", "to": to})
        else:
            data: dict[str, Any] = {"via": "abandoned" if stall_start else "rejected"}
            if stall_start:
                data["stalled_seconds"] = t1 - stall_start
            self.add(t1, "scrapped", stage, reason, data)
        return t1


def simulate(rng: random.Random, submitted: float, separate: bool, fillers: int) -> Timeline:
    """The whole life of one initiative (not yet cut at "now")."""
    tl = Timeline(rng)
    tl.add(submitted, "submitted", "proposed")
    tl.add(submitted, "stage_entered", "proposed")
    i, t, sent_back = 0, submitted, False
    while True:
        stage = PATH[i]
        p = SCRAP_P[stage] + ((0.07 if separate else -0.035) if i >= 2 else 0.0)
        r = rng.random()
        if r < p:
            reason = "ABANDONED" if rng.random() < ABANDONED_SHARE else _pick(rng, SCRAP_REASONS[stage])
            tl.visit(stage, t, "scrap", reason)
            break
        if not sent_back and r < p + SEND_BACK_P.get(stage, 0.0):
            sent_back = True
            t = tl.visit(stage, t, "send_back")
            tl.add(t, "stage_entered", PATH[i - 1])
            t = tl.visit(PATH[i - 1], t, "advance")
            tl.add(t, "stage_entered", stage)
            continue
        t = tl.visit(stage, t, "advance")
        if stage == "rollout":
            tl.add(t, "stage_entered", "production")
            tl.add(t, "production", "production")
            break
        i += 1
        tl.add(t, "stage_entered", PATH[i])
    for _ in range(fillers):
        stage, t0, t1 = rng.choice(tl.visits)
        tl.add(rng.uniform(t0, t1), rng.choice(FILLERS), stage)
    return tl


@dataclass
class Rows:
    """COPY records of one batch of initiatives."""

    initiatives: list[Row]
    events: list[Row]
    intervals: list[Row]
    resources: list[Row]


def _derive(iid: str, events: list[tuple[int, Event]], rows: Rows, rng: random.Random) -> dict[str, Any]:
    """Append the events, intervals and resources rows; returns the state for the initiative row."""
    ivs: list[list[Any]] = []
    state: dict[str, Any] = {"stage": "proposed", "entered": 0.0, "stall_open": False, "spend": 0.0, "reason": None}
    for seq, (t, _, kind, stage, reason, data) in events:
        eid = f"wf-{iid}/{seq}"
        payload = json.dumps(data) if data else "{}"
        rows.events.append((eid, iid, seq, kind, stage, reason, FAMILY.get(reason or ""), payload, _ts(t), POLICY))
        latest = max((iv for iv in ivs if iv[2] == stage), key=lambda iv: iv[3], default=None)
        if kind == "stage_entered":
            terminal = stage == "production"
            ivs.append([eid, iid, stage, (latest[3] if latest else 0) + 1, t, t if terminal else None,
                        stage if terminal else None, None, 0, 0.0, None])  # fmt: skip
            state.update(stage=stage, entered=t, stall_open=False)
        elif kind in ("stage_left", "scrapped") and latest is not None:
            latest[9] += float((data or {}).get("stalled_seconds", 0.0))
            latest[5], latest[6], latest[7] = t, (data or {}).get("outcome", "scrapped"), reason
            state["stall_open"] = False
            if kind == "scrapped":
                ivs.append([eid, iid, "scrapped", 1, t, t, "scrapped", None, 0, 0.0, None])
                state.update(stage="scrapped", entered=t, reason=reason)
        elif kind == "stalled" and latest is not None:
            latest[8] += 1
            latest[10] = reason
            state["stall_open"] = True
        elif kind == "stall_cleared" and latest is not None:
            latest[9] += float((data or {}).get("stalled_seconds", 0.0))
            state["stall_open"] = False
        elif kind == "poc_results_submitted":
            state["spend"] = rng.lognormvariate(math.log(15000), 0.9)
        elif kind in ("sandbox_provisioned", "rollout_started"):
            env = "sandbox" if stage == "poc" else "production"
            cost = rng.lognormvariate(math.log(3000 if env == "sandbox" else 12000), 0.8)
            ref = f"res-{iid}-{seq}"
            rows.resources.append((ref, ref, iid, "builtin", env, "ready", _usd(cost if rng.random() < 0.7 else 0),
                                   _ts(t)))  # fmt: skip
        state["last"] = t
    rows.intervals.extend((*iv[:4], _ts(iv[4]), None if iv[5] is None else _ts(iv[5]), *iv[6:]) for iv in ivs)
    return state


def build_batch(rng: random.Random, first: int, count: int, now: float, events_per: float, done: int) -> Rows:
    """Rows for initiatives ``first`` … ``first + count - 1``; ``done`` events were made before this batch."""
    rows = Rows([], [], [], [])
    for n in range(first, first + count):
        iid = f"ini-{n:07d}"
        team_index = rng.choices(range(len(TEAMS)), TEAM_WEIGHTS)[0]
        separate = rng.random() < 0.35
        submitted = now - rng.uniform(0, 730) * DAY
        budget = rng.lognormvariate(math.log(250_000), 0.8)
        fillers = max(0, min(30, round(events_per * (n + 1) - done - len(rows.events) - 11)))
        tl = simulate(rng, submitted, separate, fillers)
        kept = sorted(e for e in tl.events if e[0] <= now)
        hold = kept[-1][2] not in ("production", "scrapped") and rng.random() < 0.1
        if hold:
            kept.append(((kept[-1][0] + now) / 2, len(tl.events), "held", kept[-1][3], None, None))
        state = _derive(iid, list(enumerate(kept, start=1)), rows, rng)
        stage = state["stage"]
        if stage in ("production", "scrapped"):
            status = stage
        else:
            status = "on_hold" if hold else "stalled" if state["stall_open"] else "active"
        target = rng.choices(("public_cloud", "on_prem", "hybrid"), (50, 25, 25))[0]
        spec = json.dumps({"title": f"Initiative {n}", "team": TEAMS[team_index], "budget_usd": round(budget, 2)})
        rows.initiatives.append((
            iid, f"wf-{iid}", f"Initiative {n}", TEAMS[team_index], BUSINESS_UNITS[team_index % 8],
            "sponsor@example.com", "submitter@example.com", rng.choice(("minimal", "limited", "high")),
            rng.choice(("internal", "confidential", "restricted")), "separate" if separate else "it_plan", target,
            _usd(budget), POLICY, stage, status, _ts(state["entered"]), AWAITING.get(stage, []) if status != "on_hold"
            else [], state["reason"], _usd(state["spend"]), _ts(submitted), _ts(state["last"]), len(kept), spec,
        ))  # fmt: skip
    return rows


async def load_portfolio(
    conn: asyncpg.Connection, *, initiatives: int, events: int, seed: int, progress: Callable[[str], None]
) -> dict[str, int]:
    """Generate and COPY the portfolio in batches, then VACUUM ANALYZE; returns row counts per table."""
    rng = random.Random(seed)
    now = time.time()
    counts = {"initiatives": 0, "lifecycle_events": 0, "stage_intervals": 0, "provisioned_resources": 0}
    started = time.perf_counter()
    await conn.execute("SET synchronous_commit = off")
    batch = 5000
    for first in range(0, initiatives, batch):
        rows = build_batch(
            rng, first, min(batch, initiatives - first), now, events / initiatives, counts["lifecycle_events"]
        )
        await conn.copy_records_to_table("initiatives", records=rows.initiatives, columns=INITIATIVE_COLUMNS.split())
        await conn.copy_records_to_table("lifecycle_events", records=rows.events, columns=EVENT_COLUMNS.split())
        await conn.copy_records_to_table("stage_intervals", records=rows.intervals, columns=INTERVAL_COLUMNS.split())
        await conn.copy_records_to_table(
            "provisioned_resources", records=rows.resources, columns=RESOURCE_COLUMNS.split()
        )
        for table, n in zip(counts, (rows.initiatives, rows.events, rows.intervals, rows.resources), strict=True):
            counts[table] += len(n)
        progress(
            f"loaded {counts['initiatives']:>7}/{initiatives} initiatives, {counts['lifecycle_events']:>8} events,"
            f" {counts['stage_intervals']:>7} intervals ({time.perf_counter() - started:5.1f} s)"
        )
    if await conn.fetchval("SELECT to_regclass('report_initiative_facts') IS NOT NULL"):
        # COPY went around the repositories; with migration 0005 held back, the migration does this instead
        progress("rebuilding the report rollups …")
        rebuilt = time.perf_counter()
        await rollups_repo.rebuild(conn)
        progress(f"report rollups rebuilt in {time.perf_counter() - rebuilt:.1f} s")
    progress("VACUUM ANALYZE …")
    await conn.execute("VACUUM ANALYZE")
    return counts
