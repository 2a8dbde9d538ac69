"""``liftoff convert csv|servicenow``: write import lines (JSON Lines) for ``liftoff import``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from worker.convert import (
    SERVICENOW_DMN_DEMAND,
    Mapping,
    csv_records,
    servicenow_fields,
    servicenow_records,
    write_lines,
)

#: Records per Table API page.
PAGE = 500


def add_parser(sub: Any) -> argparse.ArgumentParser:  # noqa: ANN401 - argparse's private subparsers type
    """The ``convert`` command's arguments."""
    cmd: argparse.ArgumentParser = sub.add_parser(
        "convert",
        help="write import lines from a CSV export or ServiceNow demands (for `liftoff import`)",
        description="Convert records of another system into liftoff import lines (JSON Lines on stdout or "
        "--output). A mapping (YAML) names the source column of each field; check the result with "
        "`liftoff import FILE --dry-run`. See README, 'Bringing in your existing portfolio'.",
    )
    sources = cmd.add_subparsers(dest="source", required=True, metavar="SOURCE")
    csv_cmd = sources.add_parser("csv", help="a spreadsheet's CSV export, with a mapping file")
    csv_cmd.add_argument("file", type=Path, help="the CSV file (first row: column names)")
    csv_cmd.add_argument("--mapping", type=Path, required=True, help="the mapping file (YAML)")
    csv_cmd.add_argument("--output", "-o", type=Path, help="write here instead of stdout")
    snow = sources.add_parser(
        "servicenow",
        help="ServiceNow demands (dmn_demand): a saved Table API answer, or fetched from the instance",
    )
    snow.add_argument("file", nargs="?", type=Path, help="a saved Table API answer ({'result': [...]})")
    snow.add_argument("--instance", help="fetch from this instance instead, e.g. https://acme.service-now.com")
    snow.add_argument("--table", default="dmn_demand", help="the table (default dmn_demand)")
    snow.add_argument("--query", default="", help="an encoded query selecting the records (sysparm_query)")
    snow.add_argument("--user", default=os.environ.get("SERVICENOW_USER"), help="default: $SERVICENOW_USER")
    snow.add_argument("--password", default=os.environ.get("SERVICENOW_PASSWORD"), help="default: $SERVICENOW_PASSWORD")
    snow.add_argument("--token", default=os.environ.get("SERVICENOW_TOKEN"), help="an OAuth bearer token")
    snow.add_argument("--mapping", type=Path, help="a mapping file (default: the built-in dmn_demand mapping)")
    snow.add_argument("--print-mapping", action="store_true", help="print the built-in mapping (YAML) and stop")
    snow.add_argument("--output", "-o", type=Path, help="write here instead of stdout")
    return cmd


def fetch_servicenow(args: argparse.Namespace, mapping: Mapping) -> Iterator[dict[str, Any]]:
    """Page through the table (raw values and display values of each field), as the Table API serves it."""
    import httpx

    auth = httpx.BasicAuth(args.user, args.password) if args.user and args.password else None
    headers = {"Accept": "application/json"}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    url = f"{args.instance.rstrip('/')}/api/now/table/{args.table}"
    offset = 0
    with httpx.Client(auth=auth, headers=headers, timeout=60) as http:
        while True:
            params = {
                "sysparm_query": args.query,
                "sysparm_fields": ",".join(servicenow_fields(mapping)),
                "sysparm_display_value": "all",
                "sysparm_exclude_reference_link": "true",
                "sysparm_limit": str(PAGE),
                "sysparm_offset": str(offset),
            }
            try:
                response = http.get(url, params=params)
            except httpx.HTTPError as err:
                msg = f"cannot reach ServiceNow at {args.instance}: {err}"
                raise RuntimeError(msg) from err
            if response.status_code != 200:
                msg = f"ServiceNow answered {response.status_code}: {response.text[:300]}"
                raise RuntimeError(msg)
            page = response.json().get("result", [])
            yield from page
            print(f"fetched {offset + len(page)} records", file=sys.stderr)
            if len(page) < PAGE:
                return
            offset += PAGE


def _mapping(args: argparse.Namespace) -> Mapping:
    if args.mapping is not None:
        return Mapping.load(args.mapping)
    return Mapping.from_dict(SERVICENOW_DMN_DEMAND)


def run_convert(args: argparse.Namespace) -> int:
    """The ``convert`` command: 0 when the lines were written, 2 when the input or mapping is unusable."""
    if args.source == "servicenow" and args.print_mapping:
        print(yaml.safe_dump(SERVICENOW_DMN_DEMAND, sort_keys=False, allow_unicode=True), end="")
        return 0
    try:
        mapping = _mapping(args)
        if args.source == "csv":
            records: Iterator[dict[str, Any]] = csv_records(args.file)
        elif args.instance:
            records = fetch_servicenow(args, mapping)
        elif args.file is not None:
            records = servicenow_records(args.file)
        else:
            print("give a saved Table API answer FILE, or --instance URL", file=sys.stderr)
            return 2
        if args.output is not None:
            with args.output.open("w", encoding="utf-8") as out:
                count = write_lines(records, mapping, out)
        else:
            count = write_lines(records, mapping, sys.stdout)
    except (OSError, ValueError, RuntimeError, yaml.YAMLError) as err:
        print(f"cannot convert: {err}", file=sys.stderr)
        return 2
    print(f"{count} import lines written", file=sys.stderr)
    return 0
