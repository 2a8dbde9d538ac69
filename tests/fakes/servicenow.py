"""A fake ServiceNow instance: the Table API subset liftoff uses, with the real shapes and fault injection.

Speaks ``GET/POST /api/now/table/{table}`` (listing with ``sysparm_query``, ``sysparm_fields``,
``sysparm_display_value``, ``sysparm_limit``/``sysparm_offset``) and ``GET/PATCH /api/now/table/{table}/{sys_id}`` with
``{"result": ...}`` bodies, string field values, 32-hex ``sys_id``s, auto numbers (``INC0010001``,
``CHG0030001``), journal semantics for ``work_notes``/``comments`` (written values are appended to a journal
and read back empty), the default incident/change data policy (closing needs ``close_code`` and
``close_notes``), basic and bearer auth, and ServiceNow's error shape
``{"error": {"message", "detail"}, "status": "failure"}``.

Faults: ``state.fail_next(status, times, retry_after, apply_first, method)`` queues error answers (with
``apply_first`` the write is committed before the error, the ambiguous case), and ``state.delay_seconds``
(optionally only for ``state.delay_method``) slows answers down after the work is done.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

NUMBER_PREFIX = {
    "incident": ("INC", 10001),
    "change_request": ("CHG", 30001),
    "sc_task": ("SCTASK", 10001),
    "dmn_demand": ("DMND", 1001),
}
INITIAL_STATE = {"incident": "1", "change_request": "-5"}
CLOSED_STATES = {"incident": {"7", "8"}, "change_request": {"3", "4"}}
NEEDS_CLOSURE_INFO = {"incident": {"6", "7"}, "change_request": {"3"}}
JOURNAL_FIELDS = ("work_notes", "comments")
ERROR_MESSAGES = {
    400: "Bad Request",
    403: "Operation Failed",
    404: "No Record found",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class Fault:
    """One queued failure: answer ``status`` ``times`` times, optionally after applying the request."""

    status: int
    times: int
    retry_after: float | None
    apply_first: bool
    method: str | None


@dataclass
class FakeServiceNowState:
    """What the fake holds: records per table, work-note journals, every request seen, queued faults."""

    user: str | None = "liftoff"
    password: str | None = "s3cret-pass"
    token: str | None = None
    delay_seconds: float = 0
    delay_method: str | None = None
    tables: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    journal: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def fail_next(
        self,
        status: int,
        times: int = 1,
        retry_after: float | None = None,
        apply_first: bool = False,
        method: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests (of ``method``, if given) with ``status``.

        With ``apply_first`` the request takes effect before the error is returned: the ambiguous case of a
        record committed but the answer lost.
        """
        self.faults.append(Fault(status, times, retry_after, apply_first, method.upper() if method else None))

    def records(self, table: str) -> list[dict[str, str]]:
        """The table's records in creation order."""
        return list(self.tables.get(table, {}).values())

    def record(self, table: str, sys_id: str) -> dict[str, str]:
        """One record (KeyError if missing)."""
        return self.tables[table][sys_id]

    def work_notes(self, sys_id: str) -> list[str]:
        """The work notes journaled on a record, oldest first."""
        return [value for element, value in self.journal.get(sys_id, []) if element == "work_notes"]

    def update(self, table: str, sys_id: str, **fields: str) -> None:
        """Change a record as a person in the instance would (e.g. approve a change)."""
        self.tables[table][sys_id].update(fields)

    def count(self, method: str) -> int:
        """How many requests with ``method`` arrived."""
        return sum(1 for seen, _ in self.requests if seen == method.upper())

    def take_fault(self, method: str) -> Fault | None:
        """Consume one use of the first fault that applies to ``method``."""
        for fault in self.faults:
            if fault.method in {None, method}:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def authorized(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries this instance's basic or bearer credentials."""
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.token is not None and value == self.token
        if scheme.lower() == "basic" and self.user is not None:
            try:
                decoded = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            return decoded == f"{self.user}:{self.password}"
        return False

    def insert(self, table: str, body: dict[str, Any]) -> dict[str, str]:
        """Create a record the way the instance does (defaults, number, sys fields)."""
        prefix, start = NUMBER_PREFIX.get(table, ("TASK", 10001))
        number = self.counters.get(table, start)
        self.counters[table] = number + 1
        now = _now()
        sys_id = uuid.uuid4().hex
        record = {
            "sys_id": sys_id,
            "number": f"{prefix}{number:07d}",
            "state": INITIAL_STATE.get(table, "1"),
            "active": "true",
            "approval": "not requested",
            "short_description": "",
            "description": "",
            "category": "",
            "correlation_id": "",
            "correlation_display": "",
            "close_code": "",
            "close_notes": "",
            "closed_at": "",
            "work_notes": "",
            "comments": "",
            "sys_class_name": table,
            "sys_created_on": now,
            "sys_updated_on": now,
            "sys_mod_count": "0",
        }
        self.tables.setdefault(table, {})[sys_id] = record
        self._write(table, record, body)
        record["sys_mod_count"] = "0"
        return record

    def patch(self, table: str, sys_id: str, body: dict[str, Any]) -> dict[str, str]:
        """Update a record (journal fields append)."""
        record = self.tables[table][sys_id]
        self._write(table, record, body)
        return record

    def policy_violation(self, table: str, record: dict[str, str], body: dict[str, Any]) -> str | None:
        """The data-policy complaint a write would raise, if any."""
        merged = {**record, **{key: _text(value) for key, value in body.items()}}
        if merged.get("state") in NEEDS_CLOSURE_INFO.get(table, set()):
            missing = [name for name in ("close_code", "close_notes") if not merged.get(name)]
            if missing:
                return f"Data Policy Exception: The following fields are mandatory: {', '.join(missing)}"
        return None

    def _write(self, table: str, record: dict[str, str], body: dict[str, Any]) -> None:
        for key, value in body.items():
            if key in JOURNAL_FIELDS:
                if value:
                    self.journal.setdefault(record["sys_id"], []).append((key, _text(value)))
            elif not key.startswith("sys_") and key != "number":
                record[key] = _text(value)
        if record["state"] in CLOSED_STATES.get(table, {"3", "4", "7"}):
            record["active"] = "false"
            record["closed_at"] = record["closed_at"] or _now()
        record["sys_updated_on"] = _now()
        record["sys_mod_count"] = str(int(record["sys_mod_count"]) + 1)


def create_fake_servicenow(
    user: str | None = "liftoff",
    password: str | None = "s3cret-pass",  # noqa: S107 - a fake's credential
    token: str | None = None,
) -> tuple[FastAPI, FakeServiceNowState]:
    """A fake instance accepting basic auth as ``user``/``password`` and, if given, bearer ``token``."""
    state = FakeServiceNowState(user=user, password=password, token=token)
    app = FastAPI()

    @app.middleware("http")
    async def gate(request: Request, call_next: Any) -> Response:
        state.requests.append((request.method, request.url.path))
        if not state.authorized(request.headers.get("Authorization")):
            response = _error(401, "User Not Authenticated", "Required to provide Auth information")
            response.headers["WWW-Authenticate"] = 'BASIC realm="Service-now"'
            return response
        answer: Response = await call_next(request)
        # The delay comes after the work, so a slow write is committed even when the client gave up waiting:
        # the ambiguous case an idempotent adapter has to survive.
        if state.delay_seconds and state.delay_method in {None, request.method}:
            await asyncio.sleep(state.delay_seconds)
        return answer

    def with_faults(method: str, operation: Callable[[], Response]) -> Response:
        fault = state.take_fault(method)
        if fault is None:
            return operation()
        if fault.apply_first:
            operation()
        response = _error(fault.status, ERROR_MESSAGES.get(fault.status, "Error"), "injected by the fake")
        if fault.retry_after is not None:
            response.headers["Retry-After"] = f"{fault.retry_after:g}"
        return response

    @app.get("/api/now/table/{table}")
    async def list_records(table: str, request: Request) -> Response:
        query = request.query_params.get("sysparm_query", "")
        limit = int(request.query_params.get("sysparm_limit", "10000"))
        offset = int(request.query_params.get("sysparm_offset", "0"))
        try:
            conditions = _parse_query(query)
        except ValueError as err:
            return _error(400, "Invalid query", str(err))

        fields = [f for f in request.query_params.get("sysparm_fields", "").split(",") if f]
        display = request.query_params.get("sysparm_display_value", "false")

        def answer() -> Response:
            matched = [r for r in state.records(table) if all(_matches(r, c) for c in conditions)]
            page = [_shaped(r, fields, display) for r in matched[offset : offset + limit]]
            return JSONResponse({"result": page}, headers={"X-Total-Count": str(len(matched))})

        return with_faults("GET", answer)

    @app.post("/api/now/table/{table}")
    async def create_record(table: str, request: Request) -> Response:
        body = await _body(request)
        if body is None:
            return _error(400, "Invalid JSON", "The request body must be a JSON object")
        violation = state.policy_violation(table, {"state": INITIAL_STATE.get(table, "1")}, body)
        if violation:
            return _error(403, "Operation Failed", violation)

        def answer() -> Response:
            record = state.insert(table, body)
            location = f"{request.base_url}api/now/table/{table}/{record['sys_id']}"
            return JSONResponse({"result": record}, status_code=201, headers={"Location": location})

        return with_faults("POST", answer)

    @app.get("/api/now/table/{table}/{sys_id}")
    async def get_record(table: str, sys_id: str) -> Response:
        record = state.tables.get(table, {}).get(sys_id)
        if record is None:
            return _not_found(table, sys_id)
        return with_faults("GET", lambda: JSONResponse({"result": record}))

    @app.patch("/api/now/table/{table}/{sys_id}")
    async def update_record(table: str, sys_id: str, request: Request) -> Response:
        record = state.tables.get(table, {}).get(sys_id)
        if record is None:
            return _not_found(table, sys_id)
        body = await _body(request)
        if body is None:
            return _error(400, "Invalid JSON", "The request body must be a JSON object")
        violation = state.policy_violation(table, record, body)
        if violation:
            return _error(403, "Operation Failed", violation)
        return with_faults("PATCH", lambda: JSONResponse({"result": state.patch(table, sys_id, body)}))

    return app, state


def _shaped(record: dict[str, str], fields: list[str], display: str) -> dict[str, Any]:
    """A record as a listing returns it: ``sysparm_fields`` only (dot-walked ones stored under their dotted
    name), each as ``{value, display_value}`` with ``sysparm_display_value=all`` (no choice labels kept here)."""
    chosen = {f: record[f] for f in fields if f in record} if fields else record
    if display == "all":
        return {k: {"value": v, "display_value": v} for k, v in chosen.items()}
    return dict(chosen)


def _error(status: int, message: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "detail": detail}, "status": "failure"}, status_code=status)


def _not_found(table: str, sys_id: str) -> JSONResponse:
    return _error(
        404, "No Record found", f"Record doesn't exist or ACL restricts the record retrieval: {table}.{sys_id}"
    )


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _parse_query(query: str) -> list[tuple[str, str, str]]:
    """``field=value`` / ``field!=value`` conditions joined by ``^`` (ORDERBY clauses are ignored)."""
    conditions = []
    for part in filter(None, query.split("^")):
        if part.startswith("ORDERBY"):
            continue
        if "!=" in part:
            name, _, value = part.partition("!=")
            conditions.append((name, "!=", value))
        elif "=" in part:
            name, _, value = part.partition("=")
            conditions.append((name, "=", value))
        else:
            msg = f"the fake supports only field=value and field!=value conditions, not {part!r}"
            raise ValueError(msg)
    return conditions


def _matches(record: dict[str, str], condition: tuple[str, str, str]) -> bool:
    name, op, value = condition
    actual = record.get(name, "")
    return actual == value if op == "=" else actual != value


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
