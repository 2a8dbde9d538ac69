"""The ``liftoff`` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    import httpx

from worker.convert_cli import add_parser as add_convert_parser
from worker.convert_cli import run_convert
from worker.import_cli import add_parser as add_import_parser
from worker.import_cli import run_import
from worker.logging import configure_logging
from worker.settings import Settings, unknown_variables

log = structlog.get_logger(__name__)


def _policy_parser(sub: Any) -> argparse.ArgumentParser:  # noqa: ANN401 - argparse's private subparsers type
    """``liftoff policy check|backtest``; returns the backtest parser (it takes the API options too)."""
    policy = sub.add_parser("policy", help="work with gate policy files")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True, metavar="SUBCOMMAND")
    check = policy_sub.add_parser("check", help="validate a policy file and print what it changes")
    check.add_argument("file", type=Path, help="YAML file with the keys to override")
    backtest: argparse.ArgumentParser = policy_sub.add_parser(
        "backtest",
        help="what a candidate policy would have changed for past initiatives (asks the API)",
        description="Replay the recorded lifecycle of past initiatives under the policy in force and under "
        "CANDIDATE (a policy file: keys over the default) and print what would have been different: stalls, "
        "escalations, abandonments, gates that would not have closed, blocking findings, days per stage. "
        "Needs the portfolio or admin role; changes nothing.",
    )
    backtest.add_argument("file", type=Path, metavar="CANDIDATE.yaml", help="the candidate policy file")
    backtest.add_argument("--since", help="initiatives submitted at or after (ISO 8601)")
    backtest.add_argument("--until", help="initiatives submitted before (ISO 8601)")
    backtest.add_argument("--team")
    backtest.add_argument("--business-unit")
    backtest.add_argument("--format", choices=["table", "json"], default="table")
    return backtest


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liftoff",
        description="Carry AI initiatives from proposal to production on Temporal, and record why they stall.",
        epilog="Settings come from LIFTOFF_* environment variables (see README, 'Configuration').",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = sub.add_parser(
        "dev",
        help="run everything on this machine: Temporal + Web UI, PostgreSQL, worker, API",
        description="Start the embedded stack. LIFTOFF_DATABASE_URL / LIFTOFF_TEMPORAL_ADDRESS use real servers "
        "instead of the embedded ones. Ctrl-C stops everything.",
    )
    dev.add_argument("--data-dir", type=Path, default=Path(".liftoff"), help="where state lives (default: .liftoff)")
    dev.add_argument("--api-port", type=int, default=8000, help="HTTP API port (default: 8000)")
    dev.add_argument("--temporal-port", type=int, default=7233, help="Temporal frontend port (default: 7233)")
    dev.add_argument("--ui-port", type=int, default=8233, help="Temporal Web UI port (default: 8233)")
    dev.add_argument(
        "--verified",
        action="store_true",
        help="sign decisions with an approval secret generated for this session (default: unverified, "
        "unless LIFTOFF_APPROVAL_SECRET is set)",
    )

    sub.add_parser("worker", help="run a worker against LIFTOFF_TEMPORAL_ADDRESS and LIFTOFF_DATABASE_URL")
    replay = sub.add_parser(
        "replay",
        help="replay exported workflow histories against this code (is it safe to deploy?)",
        description="Replay histories exported with `temporal workflow show --workflow-id ID --output json > FILE` "
        "against the workflow code of this installation, as a worker that lost its cache would. Prints one line "
        "per file; exits 1 if any fails.",
    )
    replay.add_argument("files", nargs="+", type=Path, help="history JSON files")
    sub.add_parser("api", help="serve the HTTP API (needs LIFTOFF_PRINCIPALS_FILE as well)")
    health = sub.add_parser(
        "healthcheck",
        help="exit 0 if this host's API or worker is healthy (container healthchecks)",
        description="api: the local API's /readyz answers 200. worker: a worker on this host wrote its "
        "heartbeat to PostgreSQL within 15 s. Exit code 0 healthy, 1 not.",
    )
    health.add_argument("target", choices=["api", "worker"], help="what to check")
    migrate = sub.add_parser(
        "migrate",
        help="apply pending database migrations to LIFTOFF_DATABASE_URL",
        description="Apply pending migrations. --rebuild-rollups then recomputes the report rollups from the "
        "event log, for rows loaded around liftoff (COPY, a partial restore).",
    )
    migrate.add_argument("--rebuild-rollups", action="store_true", help="recompute every report rollup after migrating")

    backtest = _policy_parser(sub)

    token = sub.add_parser(
        "approval-token",
        help="get a signed token to decide in the Web UI (asks the API)",
        description="Ask the API for a signed approval token and print the JSON payload to paste into the "
        "Web UI's update dialog. Authenticates with your bearer token.",
    )
    token.add_argument("initiative_id", help="the initiative's id")
    token.add_argument(
        "--role", help="the role you decide as (needed for approve, reject, request_changes, waive_finding)"
    )
    token.add_argument("--action", default="approve", help="the update the token is for (default: approve)")
    token.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a field of the decision, bound into the token (repeatable; VALUE is JSON if it parses: "
        "--field comment='as agreed' --field approved=true)",
    )
    token.add_argument(
        "--api-url",
        default=os.environ.get("LIFTOFF_API_URL", "http://127.0.0.1:8000"),
        help="API base URL (default: $LIFTOFF_API_URL or http://127.0.0.1:8000)",
    )
    token.add_argument(
        "--bearer",
        default=os.environ.get("LIFTOFF_BEARER_TOKEN"),
        help="your API bearer token (default: $LIFTOFF_BEARER_TOKEN)",
    )
    report = sub.add_parser(
        "report",
        help="print a report as a table (asks the API)",
        description="Print a report: funnel, stall-reasons, scrap-reasons, time-in-stage, stalled-now, sunk-cost, "
        "alignment.",
    )
    report.add_argument("name", help="the report")
    report.add_argument("--since", help="initiatives submitted at or after (ISO 8601)")
    report.add_argument("--until", help="initiatives submitted before (ISO 8601)")
    report.add_argument("--team")
    report.add_argument("--business-unit")
    report.add_argument(
        "--period", choices=["month", "quarter"], help="cohorts: group by submission month (default) or quarter"
    )
    report.add_argument("--format", choices=["table", "json", "csv"], default="table")
    queue = sub.add_parser(
        "queue",
        help="what waits for you now, soonest due first (asks the API)",
        description="Gates awaiting a role you hold that you have not approved, and your teams' initiatives "
        "waiting on the team (PoC results, open blocking findings, a reported blocker), soonest due first.",
    )
    queue.add_argument("--format", choices=["table", "json"], default="table")
    queue.add_argument("--limit", type=int, default=200, help="at most this many rows (default 200, at most 500)")
    simulate = sub.add_parser(
        "simulate",
        help="drive a synthetic portfolio through the running engine and print its ground truth",
        description="Start N synthetic initiatives on the running stack (`liftoff dev` or LIFTOFF_TEMPORAL_ADDRESS) "
        "with SLAs compressed to seconds; outcomes follow the industry base rates. Compare the printed ground truth "
        "with `liftoff report funnel --team <team>`.",
    )
    simulate.add_argument("--initiatives", type=int, default=20, help="how many (default 20)")
    simulate.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    simulate.add_argument("--concurrency", type=int, default=4, help="initiatives in flight (default 4)")
    simulate.add_argument("--team", help="team name of the simulated initiatives (default sim-<seed>)")
    simulate.add_argument(
        "--months",
        type=int,
        default=1,
        help="spread submissions over this many calendar months back (default 1: all now), for cohort reports",
    )
    imports = add_import_parser(sub)
    add_convert_parser(sub)
    for command in (report, queue, backtest, imports):
        command.add_argument(
            "--api-url",
            default=os.environ.get("LIFTOFF_API_URL", "http://127.0.0.1:8000"),
            help="API base URL (default: $LIFTOFF_API_URL or http://127.0.0.1:8000)",
        )
        command.add_argument(
            "--bearer",
            default=os.environ.get("LIFTOFF_BEARER_TOKEN"),
            help="your API bearer token (default: $LIFTOFF_BEARER_TOKEN)",
        )
    return parser


def _call_api(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> httpx.Response | None:  # noqa: ANN401
    """Call the API with the caller's bearer token; print why and return None when it fails or refuses."""
    import httpx

    kwargs.setdefault("timeout", 30)
    try:
        response = httpx.request(
            method, f"{args.api_url.rstrip('/')}{path}", headers={"Authorization": f"Bearer {args.bearer}"}, **kwargs
        )
    except httpx.HTTPError as err:
        print(f"cannot reach the API at {args.api_url}: {err}", file=sys.stderr)
        return None
    if response.status_code != 200:
        print(f"refused ({response.status_code}): {response.json().get('detail', response.text)}", file=sys.stderr)
        return None
    return response


def _report(args: argparse.Namespace) -> int:
    import json

    from api.routes.reports import table_rows
    from worker.report_table import render_table

    if not args.bearer:
        print("no bearer token: pass --bearer or set LIFTOFF_BEARER_TOKEN", file=sys.stderr)
        return 2
    params = {
        k: v
        for k, v in {
            "since": args.since,
            "until": args.until,
            "team": args.team,
            "business_unit": args.business_unit,
            "period": args.period,
        }.items()
        if v
    }
    if args.format == "csv":
        params["format"] = "csv"
    response = _call_api(args, "GET", f"/v1/reports/{args.name}", params=params, timeout=60)
    if response is None:
        return 1
    if args.format == "csv":
        print(response.text, end="")
    elif args.format == "json":
        print(json.dumps(response.json(), indent=2))
    else:
        print(render_table(table_rows(args.name, response.json())))
    return 0


def _backtest(args: argparse.Namespace) -> int:
    import json

    import yaml

    from worker.report_table import render_table

    if not args.bearer:
        print("no bearer token: pass --bearer or set LIFTOFF_BEARER_TOKEN", file=sys.stderr)
        return 2
    try:
        candidate = yaml.safe_load(args.file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        print(f"{args.file}: cannot read the candidate policy: {err}", file=sys.stderr)
        return 2
    if not isinstance(candidate, dict):
        print(f"{args.file}: a policy file must be a YAML mapping", file=sys.stderr)
        return 2
    scope = {"since": args.since, "until": args.until, "team": args.team, "business_unit": args.business_unit}
    body = {"policy": candidate, **{k: v for k, v in scope.items() if v}}
    response = _call_api(args, "POST", "/v1/policy/backtest", json=body, timeout=300)
    if response is None:
        return 1
    result: dict[str, Any] = response.json()
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['initiatives']} initiatives: {result['baseline_version']} -> {result['candidate_version']}")
    totals = [{"": k, "in force": t["baseline"], "candidate": t["candidate"]} for k, t in result["totals"].items()]
    print(render_table(totals))
    if result["days_by_stage"]:
        print()
        print(render_table(result["days_by_stage"]))
    print()
    changed = [{"when": c["when"] or "", **{k: c[k] for k in ("id", "title", "what")}} for c in result["changed"]]
    print(render_table(changed) if changed else "nothing would have been different")
    return 0


def _queue(args: argparse.Namespace) -> int:
    import json
    from datetime import UTC, datetime

    from worker.report_table import render_table, until

    if not args.bearer:
        print("no bearer token: pass --bearer or set LIFTOFF_BEARER_TOKEN", file=sys.stderr)
        return 2
    response = _call_api(args, "GET", "/v1/me/queue", params={"limit": args.limit})
    if response is None:
        return 1
    items: list[dict[str, Any]] = response.json()["items"]
    if args.format == "json":
        print(json.dumps({"items": items}, indent=2))
        return 0
    now = datetime.now(UTC)
    rows = [
        {
            "due": until(datetime.fromisoformat(i["due_at"]), now) if i["due_at"] else "-",
            "action": i["action"]
            + (f" as {', '.join(i['roles'])}" if i["roles"] else "")
            + (f" for {i['on_behalf_of']}" if i.get("on_behalf_of") else ""),
            "stage": i["stage"] + (" (stalled)" if i["stalled"] else ""),
            "team": i["team"],
            "title": i["title"],
            "web_ui": i["web_ui_url"],
        }
        for i in items
    ]
    print(render_table(rows) if rows else "nothing waits for you")
    return 0


async def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from schemas.policy_file import load_policy
    from worker.simulate import simulate
    from worker.temporal_client import connect_client

    address = settings.temporal_address or "127.0.0.1:7233"
    try:
        client = await connect_client(address, settings.temporal_namespace, settings.temporal_token())
    except RuntimeError as err:
        print(f"cannot reach Temporal at {address} (is `liftoff dev` running?): {err}", file=sys.stderr)
        return 1
    truth = await simulate(
        client,
        settings.task_queue,
        load_policy(settings.policy_file),
        initiatives=args.initiatives,
        seed=args.seed,
        concurrency=args.concurrency,
        team=args.team,
        months=max(args.months, 1),
    )
    print(json.dumps({"ground_truth": truth.as_dict()}, indent=2))
    return 0


def _approval_token(args: argparse.Namespace) -> int:
    import json

    if not args.bearer:
        print("no bearer token: pass --bearer or set LIFTOFF_BEARER_TOKEN", file=sys.stderr)
        return 2
    fields: dict[str, object] = {}
    for item in args.field:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"--field takes NAME=VALUE, not {item!r}", file=sys.stderr)
            return 2
        try:
            fields[name] = json.loads(value)
        except ValueError:
            fields[name] = value
    body: dict[str, object] = {"action": args.action, "fields": fields}
    if args.role:
        body["role"] = args.role
    response = _call_api(args, "POST", f"/v1/initiatives/{args.initiative_id}/approval-token", json=body)
    if response is None:
        return 1
    data = response.json()
    target = f" of workflow {data['workflow_id']}" if data.get("workflow_id") else ""
    print(
        f"# paste unchanged into the Web UI's '{data['action']}' update dialog{target} (expires {data['expires_at']}):"
    )
    print(json.dumps(data["ui_payload"], indent=2))
    return 0


async def _run_worker(settings: Settings) -> int:
    from db.pool import create_pool
    from worker.adapters import build_integrations
    from worker.dev import install_stop_handlers
    from worker.heartbeat import heartbeat
    from worker.tamper import tamper_watch
    from worker.telemetry import process_runtime
    from worker.temporal_client import connect_client
    from worker.tracing import temporal_tracing, tracer_provider_from_env
    from worker.wiring import WorkerTuning, build_worker

    settings.require_verified_approvals()
    stop = asyncio.Event()
    install_stop_handlers(stop)
    tracing = tracer_provider_from_env("worker")
    pool = await create_pool(settings.database_dsn(), max_size=settings.database_pool_size)
    try:
        client = await connect_client(
            settings.require_temporal_address(),
            settings.temporal_namespace,
            settings.temporal_token(),
            process_runtime(settings.metrics_address),
            temporal_tracing(tracing),
        )
        integrations = build_integrations(settings, pool)
        worker = build_worker(
            client,
            pool,
            task_queue=settings.task_queue,
            approval_secret=settings.approval_secret_bytes(),
            integrations=integrations,
            canary_url=settings.canary_url,
            tuning=WorkerTuning.from_settings(settings),
        )
        async with heartbeat(pool, settings.task_queue) as worker_id, tamper_watch(client, pool):
            task = asyncio.create_task(worker.run())
            log.info("worker running", task_queue=settings.task_queue, worker_id=worker_id)
            await asyncio.wait({task, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                await worker.shutdown()
            await task
        await integrations.aclose()
    finally:
        await pool.close()
        if tracing is not None:
            tracing.shutdown()  # sends the spans still buffered
    return 0


async def _run_api(settings: Settings) -> int:
    from db.pool import create_pool
    from worker.dev import install_stop_handlers
    from worker.services import build_api_server
    from worker.telemetry import process_runtime
    from worker.temporal_client import connect_client
    from worker.tracing import temporal_tracing, tracer_provider_from_env

    if settings.principals_file is None:
        raise SystemExit("LIFTOFF_PRINCIPALS_FILE is not set")
    settings.require_verified_approvals()
    stop = asyncio.Event()
    install_stop_handlers(stop)
    tracing = tracer_provider_from_env("api")
    pool = await create_pool(settings.database_dsn(), max_size=settings.database_pool_size)
    try:
        client = await connect_client(
            settings.require_temporal_address(),
            settings.temporal_namespace,
            settings.temporal_token(),
            process_runtime(settings.metrics_address),
            temporal_tracing(tracing),
        )
        server = build_api_server(settings, client, pool, settings.principals_file, tracing)
        task = asyncio.create_task(server.serve())
        await asyncio.wait({task, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await task
    finally:
        await pool.close()
        if tracing is not None:
            tracing.shutdown()  # sends the spans still buffered
    return 0


async def _run_migrate(settings: Settings, *, rebuild_rollups: bool = False) -> int:
    from db import rollups_repo
    from db.pool import connect
    from worker.dev import apply_migrations

    dsn = settings.database_dsn()
    applied = await apply_migrations(dsn)
    print("applied: " + ", ".join(applied) if applied else "database is up to date", flush=True)
    if rebuild_rollups:
        print("rebuilding the report rollups …", flush=True)
        started = time.perf_counter()
        conn = await connect(dsn)
        try:
            async with conn.transaction():
                await rollups_repo.rebuild(conn)
            initiatives = await conn.fetchval("SELECT count(*) FROM report_initiative_facts")
        finally:
            await conn.close()
        print(f"report rollups rebuilt for {initiatives} initiatives in {time.perf_counter() - started:.1f} s")
    return 0


async def _replay(files: Sequence[Path]) -> int:
    from temporalio.client import WorkflowHistory

    from worker.replay import replay_history

    failed = 0
    for path in files:
        try:
            history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            print(f"{path}: cannot read a workflow history: {err}")
            failed += 1
            continue
        result = await replay_history(history)
        if result.replay_failure is None:
            print(f"{path}: replays ({len(history.events)} events)")
        else:
            failed += 1
            print(f"{path}: FAILS: {str(result.replay_failure).splitlines()[0][:400]}")
    print(f"{len(files) - failed} of {len(files)} replay", file=sys.stderr)
    return 1 if failed else 0


def run(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one return per command
    """Parse ``argv`` and run the command; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "policy" and args.policy_command == "backtest":
        return _backtest(args)
    if args.command == "policy":
        from worker.policy_check import check_policy

        return check_policy(args.file)
    if args.command == "convert":
        return run_convert(args)
    api_commands = {"approval-token": _approval_token, "report": _report, "queue": _queue, "import": run_import}
    if args.command in api_commands:
        return api_commands[args.command](args)
    if args.command == "simulate":
        return asyncio.run(_simulate(args, Settings.load()))
    if args.command == "replay":
        return asyncio.run(_replay(args.files))
    settings = Settings.load()
    configure_logging(settings.log_level, settings.log_format)
    unknown = unknown_variables()
    if unknown:
        log.warning("unknown LIFTOFF_ variables are ignored", variables=unknown)
    if args.command == "dev":
        from worker.dev import DevOptions, run_dev

        opts = DevOptions(
            data_dir=args.data_dir.resolve(),
            api_port=args.api_port,
            temporal_port=args.temporal_port,
            ui_port=args.ui_port,
            verified=args.verified,
        )
        return asyncio.run(run_dev(settings, opts))
    if args.command == "worker":
        return asyncio.run(_run_worker(settings))
    if args.command == "api":
        return asyncio.run(_run_api(settings))
    if args.command == "healthcheck":
        from worker.healthcheck import check

        return asyncio.run(check(args.target, settings))
    return asyncio.run(_run_migrate(settings, rebuild_rollups=args.rebuild_rollups))


def main() -> None:
    """Console entry point.

    Ends with ``os._exit`` after flushing: the Temporal client can crash at interpreter teardown (an
    open SDK issue), which must not turn a clean stop into a failure.
    """
    try:
        code = run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
