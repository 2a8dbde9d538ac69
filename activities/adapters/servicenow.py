"""ServiceNow ticketing adapter over the Table API (basic auth or an OAuth bearer token).

Documented endpoints used (ServiceNow REST API reference, "Table API",
https://www.servicenow.com/docs/r/australia/api-reference/rest-apis/c_TableAPI.html):

* ``GET /api/now/table/{tableName}`` ("Retrieves multiple records"): ``sysparm_query`` is an encoded query
  (``<col><op><value>`` joined by ``^``), ``sysparm_limit`` caps the rows; answers 200 ``{"result": [...]}``.
  API version 1 answers 404 instead of an empty list, so a 404 there counts as "no rows".
* ``POST /api/now/table/{tableName}`` ("Inserts one record"): answers 201 ``{"result": {sys_id, number,
  state, ...}}``.
* ``GET /api/now/table/{tableName}/{sys_id}`` ("Retrieves the record"): 200 ``{"result": {...}}`` or 404.
* ``PATCH /api/now/table/{tableName}/{sys_id}`` ("Updates the specified record"): 200 ``{"result": {...}}``.
  Writing ``work_notes`` appends a journal entry (a work note) rather than replacing a value.
* Errors ("REST API HTTP response codes", r_RESTAPIHTTPResponseCodes) carry
  ``{"error": {"message", "detail"}, "status": "failure"}``; 401 is bad credentials, 403 an ACL or
  data-policy refusal, 404 a missing record, 429 the rate limiter (with ``Retry-After``).

Field values come back as strings (``sysparm_display_value=false``, the default). State values are the
documented defaults: incident ("Incident life cycle", c_IncidentManagementStateModel; numeric values as in
the servicenow.itsm Ansible collection) 1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed, 8 Canceled,
closing needing a resolution code and notes ("Resolve and close an incident"); change_request ("State model
and transitions", https://www.servicenow.com/docs/r/it-service-management/change-management/c_ChangeStateModel.html)
-5 New, -4 Assess, -3 Authorize, -2 Scheduled, -1 Implement, 0 Review, 3 Closed, 4 Canceled, with
``close_code`` successful / successful_issues / unsuccessful and ``approval`` not requested / requested /
approved / rejected; task tables such as sc_task -5 Pending, 1 Open, 2 Work in Progress, 3 Closed Complete,
4 Closed Incomplete, 7 Closed Skipped (7 as the platform's own scripts use; the Ansible collection says 5).

Which table: kind ``change`` goes to ``change_table``; every other kind (``escalation``, ``signoff``, ...)
to ``escalation_table``. A sign-off is an approval, but ServiceNow's approval table (``sysapproval_approver``)
holds records its approval engine generates for a parent task, not free-standing requests, and has no
``correlation_id``; an incident or catalog task assigned to the approvers is the closest fit.

Idempotency: every record is created with ``correlation_id`` (a task field meant for "the ID of the record
in the external system") set to a hash of the open's idempotency key, and ``open`` queries for it first, so
a retry after an ambiguous answer (a 500 or a timeout after ServiceNow committed the insert) finds the first
record. ``correlation_display`` carries ``liftoff:<initiative_id>`` for people searching the instance. The
ticket kind is kept in the task's ``category`` field (a choice field on incident and change_request; when a
table has no such field, the kind is inferred from the table).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator
from temporalio.exceptions import ApplicationError

from activities.adapters.http import check, timeout_error
from schemas.integrations import CloseTicketInput, OpenTicketInput, Ticket

SYSTEM = "ServiceNow"
TABLE_API = "/api/now/table"
CORRELATION_PREFIX = "liftoff:"
_TABLE_NAME = re.compile(r"^[a-z0-9_]{1,80}$")
_SYS_ID = re.compile(r"^[0-9a-f]{32}$")


class ServiceNowConfig(BaseModel):
    """Where and as whom to reach a ServiceNow instance, and which tables hold liftoff's tickets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    user: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    change_table: str = "change_request"
    escalation_table: str = "incident"
    timeout_seconds: float = 10
    # The incident data policy makes a resolution code mandatory to close; its choice values changed over
    # releases ("Solution provided" today, "Solved (Permanently)" on older instances), hence configurable.
    incident_close_code: str = "Solution provided"

    @model_validator(mode="after")
    def _needs_credentials(self) -> ServiceNowConfig:
        if self.token is None and (not self.user or self.password is None):
            msg = "ServiceNow needs either an OAuth token or both user and password"
            raise ValueError(msg)
        for table in (self.change_table, self.escalation_table):
            if not _TABLE_NAME.match(table):
                msg = f"not a ServiceNow table name: {table!r}"
                raise ValueError(msg)
        return self


@dataclass(frozen=True)
class _StateModel:
    """How one table names its numeric states, which are final, and what closing writes."""

    names: dict[str, str]
    final: frozenset[str]
    done: dict[str, str]
    failed: dict[str, str]
    cancelled: dict[str, str]


_INCIDENT = _StateModel(
    names={"1": "new", "2": "in_progress", "3": "on_hold", "6": "resolved", "7": "closed", "8": "cancelled"},
    final=frozenset({"7", "8"}),
    done={"state": "7"},  # close_code comes from the config
    failed={"state": "8"},
    cancelled={"state": "8"},
)
_CHANGE = _StateModel(
    names={
        "-5": "new",
        "-4": "assess",
        "-3": "authorize",
        "-2": "scheduled",
        "-1": "implement",
        "0": "review",
        "3": "closed",
        "4": "cancelled",
    },
    final=frozenset({"3", "4"}),
    done={"state": "3", "close_code": "successful"},
    # A rollout that failed was attempted: ITIL closes such a change as unsuccessful rather than canceling it.
    failed={"state": "3", "close_code": "unsuccessful"},
    cancelled={"state": "4"},
)
_TASK = _StateModel(  # sc_task and other tables extending task
    names={"-5": "pending", "1": "open", "2": "in_progress", "3": "closed", "4": "failed", "7": "cancelled"},
    final=frozenset({"3", "4", "7"}),
    done={"state": "3"},
    failed={"state": "4"},
    cancelled={"state": "7"},
)


def correlation_token(idempotency_key: str) -> str:
    """The ``correlation_id`` that marks the record opened with ``idempotency_key``."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def parse_ref(ref: str) -> tuple[str, str]:
    """Split a ``<table>:<sys_id>`` ticket ref; a malformed ref is a permanent error."""
    table, _, sys_id = ref.partition(":")
    if not _TABLE_NAME.match(table) or not _SYS_ID.match(sys_id):
        raise ApplicationError(f"not a ServiceNow ticket ref: {ref!r}", type=f"{SYSTEM}BadRef", non_retryable=True)
    return table, sys_id


class ServiceNowTicketing:
    """Tickets as ServiceNow records: change requests for changes, incidents (or catalog tasks) otherwise."""

    def __init__(self, config: ServiceNowConfig, client: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._base = config.url.rstrip("/") + TABLE_API
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        self._timeout = httpx.Timeout(config.timeout_seconds)
        self._headers = {"Accept": "application/json", "Authorization": _authorization(config)}

    async def aclose(self) -> None:
        """Close the HTTP client if this adapter created it."""
        if self._owns_client:
            await self._client.aclose()

    async def open(self, inp: OpenTicketInput) -> Ticket:
        """Create the record unless one with the same correlation id (idempotency key) exists."""
        table = self._table_for(inp.kind)
        token = correlation_token(inp.idempotency_key)
        existing = await self._find(table, f"correlation_id={token}")
        if existing is not None:
            return self._ticket(table, existing)
        body = {
            "short_description": inp.title,
            "description": inp.body,
            "category": inp.kind,
            "correlation_id": token,
            "correlation_display": f"{CORRELATION_PREFIX}{inp.initiative_id}",
        }
        created = await self._send("POST", f"/{table}", json=body)
        return self._ticket(table, _as_record(created))

    async def close(self, inp: CloseTicketInput) -> Ticket:
        """Move the record to its closed or canceled state; a record already in a final state is left alone."""
        table, sys_id = parse_ref(inp.ref)
        model = self._model(table)
        record = _as_record(await self._send("GET", f"/{table}/{sys_id}"))
        if str(record.get("state", "")) in model.final:
            return self._ticket(table, record)
        outcome = inp.outcome.lower()
        if outcome == "done":
            fields = dict(model.done)
            if model is _INCIDENT:
                fields["close_code"] = self._config.incident_close_code
        elif outcome == "failed":
            fields = dict(model.failed)
        elif outcome in {"cancelled", "canceled"}:
            fields = dict(model.cancelled)
        else:
            msg = f"unknown ticket outcome {inp.outcome!r} (expected done, failed or cancelled)"
            raise ApplicationError(msg, type=f"{SYSTEM}BadOutcome", non_retryable=True)
        # close_notes is mandatory with close_code under the default data policies.
        fields["close_notes"] = inp.comment or f"Closed by liftoff: {outcome}"
        if inp.comment:
            fields["work_notes"] = inp.comment
        updated = await self._send("PATCH", f"/{table}/{sys_id}", json=fields)
        return self._ticket(table, _as_record(updated))

    async def comment(self, ref: str, text: str) -> None:
        """Append a work note (a retry after an ambiguous failure may append it twice)."""
        table, sys_id = parse_ref(ref)
        await self._send("PATCH", f"/{table}/{sys_id}", json={"work_notes": text})

    async def get(self, ref: str) -> Ticket:
        """Read the record's current state."""
        table, sys_id = parse_ref(ref)
        return self._ticket(table, _as_record(await self._send("GET", f"/{table}/{sys_id}")))

    def _table_for(self, kind: str) -> str:
        return self._config.change_table if kind == "change" else self._config.escalation_table

    def _model(self, table: str) -> _StateModel:
        if table in {self._config.change_table, "change_request"}:
            return _CHANGE
        if table == "incident":
            return _INCIDENT
        return _TASK

    def _ticket(self, table: str, record: dict[str, Any]) -> Ticket:
        sys_id = str(record.get("sys_id", ""))
        if not _SYS_ID.match(sys_id):
            raise ApplicationError(f"{SYSTEM} returned a record without a sys_id", type=f"{SYSTEM}BadResponse")
        kind = str(record.get("category") or "") or ("change" if table == self._config.change_table else "escalation")
        return Ticket(ref=f"{table}:{sys_id}", system="servicenow", status=self._status(table, record), kind=kind)

    def _status(self, table: str, record: dict[str, Any]) -> str:
        model = self._model(table)
        state = str(record.get("state", ""))
        status = model.names.get(state, f"state_{state}")
        if model is _CHANGE:
            approval = str(record.get("approval", ""))
            if state == "3" and record.get("close_code") == "unsuccessful":
                return "failed"
            if approval == "rejected" and state in {"-5", "-4", "-3"}:
                return "rejected"
            if approval == "approved" and state in {"-5", "-4", "-3"}:
                return "approved"
        return status

    async def _find(self, table: str, query: str) -> dict[str, Any] | None:
        params = {"sysparm_query": query, "sysparm_limit": "1", "sysparm_exclude_reference_link": "true"}
        result = await self._send("GET", f"/{table}", params=params, missing_is_empty=True)
        if not isinstance(result, list):
            raise ApplicationError(f"{SYSTEM} answered a query without a result list", type=f"{SYSTEM}BadResponse")
        return _as_record(result[0]) if result else None

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, str] | None = None,
        missing_is_empty: bool = False,
    ) -> Any:  # noqa: ANN401 - the Table API's "result" is a record or a list of records
        try:
            response = await self._client.request(
                method, self._base + path, params=params, json=json, headers=self._headers, timeout=self._timeout
            )
        except (httpx.TimeoutException, httpx.TransportError) as err:
            raise timeout_error(SYSTEM, err) from err
        if missing_is_empty and response.status_code == 404:
            return []
        check(response, SYSTEM)
        try:
            body = response.json()
        except ValueError as err:
            # A hibernating or proxied instance answers 200 with an HTML page; that heals, so retry.
            raise ApplicationError(f"{SYSTEM} answered {method} without JSON", type=f"{SYSTEM}BadResponse") from err
        if not isinstance(body, dict) or "result" not in body:
            raise ApplicationError(f"{SYSTEM} answered {method} without a result", type=f"{SYSTEM}BadResponse")
        return body["result"]


def _authorization(config: ServiceNowConfig) -> str:
    if config.token is not None:
        return f"Bearer {config.token.get_secret_value()}"
    if config.user is None or config.password is None:  # the config validator rules this out
        msg = "ServiceNow credentials missing"
        raise ValueError(msg)
    pair = f"{config.user}:{config.password.get_secret_value()}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _as_record(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApplicationError(f"{SYSTEM} answered without a record", type=f"{SYSTEM}BadResponse")
    return value
