"""``liftoff import FILE.jsonl``: send a file of existing initiatives to the API and follow it to the end.

Progress goes to stderr (a bar on a terminal, a line every few seconds otherwise); with ``--format json``
the final status alone goes to stdout. Ctrl-C stops following, not the import: it goes on in the API, and
``liftoff import --follow ID`` picks it up again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from worker.report_table import render_table


def add_parser(sub: Any) -> argparse.ArgumentParser:  # noqa: ANN401 - argparse's private subparsers type
    """The ``import`` command's arguments."""
    cmd: argparse.ArgumentParser = sub.add_parser(
        "import",
        help="bring existing initiatives in from a JSON Lines file (asks the API; role admin)",
        description="Import existing initiatives: one JSON object per line, a submission body plus `stage`, "
        "`submitted_at`, `stage_entered_at` and optionally `stages_entered`, `submitter`, `approvals`, "
        "`poc_results`, `external_refs`. Bad lines are reported by number and skipped; importing the same "
        "file again creates nothing new. See README, 'Bringing in your existing portfolio'.",
    )
    cmd.add_argument("file", nargs="?", type=Path, help="the JSON Lines file")
    cmd.add_argument("--dry-run", action="store_true", help="check every line, import nothing")
    cmd.add_argument("--follow", metavar="IMPORT_ID", help="follow an import already sent, to its end")
    cmd.add_argument("--format", choices=["table", "json"], default="table")
    cmd.add_argument("--poll", type=float, default=0.5, help="seconds between progress reads (default 0.5)")
    return cmd


class ApiError(Exception):
    """The API refused or could not be reached (the message says which)."""


def _request(
    args: argparse.Namespace,
    method: str,
    path: str,
    content_type: str | None = None,
    **kwargs: Any,  # noqa: ANN401 - httpx's request options
) -> dict[str, Any]:
    import httpx  # only when the command runs: the CLI starts faster without it

    headers = {"Authorization": f"Bearer {args.bearer}"}
    if content_type:
        headers["Content-Type"] = content_type
    try:
        response = httpx.request(method, f"{args.api_url.rstrip('/')}{path}", headers=headers, **kwargs)
    except httpx.HTTPError as err:
        msg = f"cannot reach the API at {args.api_url}: {err}"
        raise ApiError(msg) from err
    if response.status_code not in (200, 202):
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        msg = f"refused ({response.status_code}): {detail}"
        raise ApiError(msg)
    result: dict[str, Any] = response.json()
    return result


def _bar(progress: dict[str, Any], width: int = 30) -> str:
    total = max(progress["lines"] - progress["invalid"], 0)
    done = total - progress["waiting"]
    filled = width * done // total if total else width
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
        f"(new {progress['started']}, already there {progress['existed']}, failed {progress['failed']})"
    )


def follow(args: argparse.Namespace, import_id: str) -> dict[str, Any]:
    """Read the import's progress until it is done, drawing it on stderr."""
    tty = sys.stderr.isatty()
    last_line = 0.0
    while True:
        progress = _request(args, "GET", f"/v1/imports/{import_id}", params={"errors": 1000}, timeout=30)
        if tty:
            sys.stderr.write("\r" + _bar(progress))
            sys.stderr.flush()
        elif time.monotonic() - last_line > 5 or progress["done"]:
            print(_bar(progress), file=sys.stderr)
            last_line = time.monotonic()
        if progress["done"]:
            if tty:
                sys.stderr.write("\n")
            return progress
        time.sleep(args.poll)


def _problems(problems: list[dict[str, Any]]) -> None:
    if problems:
        rows = [{"line": p["line"], "problem": p["error"]} for p in problems]
        print(render_table(rows), file=sys.stderr)


def _send(args: argparse.Namespace) -> tuple[int | None, str | None]:
    """Send the file: an exit code when there is nothing to follow (a dry run, an unreadable file), else the id."""
    try:
        content = args.file.read_bytes()
    except OSError as err:
        print(f"{args.file}: {err}", file=sys.stderr)
        return 2, None
    print(f"checking {args.file} …", file=sys.stderr)
    accepted = _request(
        args,
        "POST",
        "/v1/imports",
        params={"dry_run": "true"} if args.dry_run else None,
        content=content,
        content_type="application/x-ndjson",
        timeout=600,
    )
    print(
        f"{accepted['lines']} lines: {accepted['valid']} valid ({accepted['new']} new, "
        f"{accepted['existing']} already in liftoff), {len(accepted['invalid'])} not",
        file=sys.stderr,
    )
    _problems(accepted["invalid"])
    if args.dry_run:
        if args.format == "json":
            print(json.dumps(accepted, indent=2))
        return (1 if accepted["invalid"] else 0), None
    import_id: str = accepted["id"]
    print(f"import {import_id} started; follow it with `liftoff import --follow {import_id}`", file=sys.stderr)
    return None, import_id


def run_import(args: argparse.Namespace) -> int:
    """The ``import`` command: 0 when every line is in, 1 when some line was not, 2 on a usage error."""
    if not args.bearer:
        print("no bearer token: pass --bearer or set LIFTOFF_BEARER_TOKEN", file=sys.stderr)
        return 2
    if (args.file is None) == (args.follow is None):
        print("give a FILE to import, or --follow IMPORT_ID", file=sys.stderr)
        return 2
    try:
        code, import_id = (None, args.follow) if args.file is None else _send(args)
        if code is not None or import_id is None:
            return code or 0
        try:
            final = follow(args, import_id)
        except KeyboardInterrupt:
            print(f"\nstopped following; the import goes on: liftoff import --follow {import_id}", file=sys.stderr)
            return 130
    except ApiError as err:
        print(str(err), file=sys.stderr)
        return 1
    _problems([e for e in final["errors"] if e["outcome"] == "failed"])
    if args.format == "json":
        print(json.dumps(final, indent=2))
    else:
        print(
            f"import {final['id']}: {final['started']} new, {final['existed']} already in liftoff, "
            f"{final['invalid']} invalid, {final['failed']} failed"
        )
    return 1 if final["invalid"] or final["failed"] else 0
