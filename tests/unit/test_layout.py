"""The API's layering: routes do not import routes, SQL lives in db/, Temporal plumbing in api/temporal.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROUTES = Path(__file__).resolve().parents[2] / "api" / "routes"
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\b[^\n]*\b(FROM|INTO|SET|1)\b")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_routes_do_not_import_routes() -> None:
    offenders = {p.name: m for p in ROUTES.glob("*.py") for m in _imports(p) if m.startswith("api.routes")}
    assert offenders == {}


def test_routes_hold_no_sql() -> None:
    offenders = [
        f"{p.name}: {line.strip()}"
        for p in ROUTES.glob("*.py")
        for line in p.read_text(encoding="utf-8").splitlines()
        if SQL.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []


def test_the_status_query_exists_once() -> None:
    copies = [
        p.name for p in ROUTES.glob("*.py") if ".query(\n" in p.read_text() or '"status", result_type' in p.read_text()
    ]
    assert copies == []  # api/temporal.live_status is the one
