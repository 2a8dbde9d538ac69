"""A fake Jira Cloud (REST API v3) that speaks the subset of the real contract ``JiraTicketing`` uses.

Endpoints, request and response shapes follow the Jira Cloud platform REST API v3 reference: create issue
(201 ``{id, key, self}``), enhanced JQL search (``POST /rest/api/3/search/jql``), add comment (201), get and
do transitions (204), get issue. Errors use Jira's ``{"errorMessages": [...], "errors": {...}}`` body.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

API = "/rest/api/3"
NOT_FOUND = "Issue does not exist or you do not have permission to see it."
ADF_REQUIRED = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"

# Status name -> (id, status category key, status category name), as Jira reports them.
STATUSES: dict[str, tuple[str, str, str]] = {
    "To Do": ("10000", "new", "To Do"),
    "In Progress": ("3", "indeterminate", "In Progress"),
    "Done": ("10001", "done", "Done"),
    "Won't Do": ("10002", "done", "Done"),
}
# A simplified workflow: every status can move to every other one through a global transition.
DEFAULT_TRANSITIONS: dict[str, str] = {name: name for name in STATUSES}


@dataclass
class FakeIssue:
    """One issue as the fake stores it."""

    id: str
    key: str
    project: str
    issue_type: str
    summary: str
    description: dict[str, Any] | None
    labels: list[str]
    status: str = "To Do"
    comments: list[dict[str, Any]] = field(default_factory=list)

    def comment_texts(self) -> list[str]:
        """The comments' plain text (ADF text nodes joined)."""
        return [_adf_text(comment) for comment in self.comments]


@dataclass
class _Fault:
    status: int
    times: int
    retry_after: int | None
    apply_first: bool


@dataclass
class FakeJiraState:
    """The fake's store and its fault-injection knobs."""

    email: str
    api_token: str
    project: str
    issue_types: tuple[str, ...] = ("Task", "Bug", "Story")
    transitions: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TRANSITIONS))
    issues: dict[str, FakeIssue] = field(default_factory=dict)
    delay_seconds: float = 0
    create_requests: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _next_id: int = 10000

    def fail_next(self, status: int, times: int = 1, retry_after: int | None = None, apply_first: bool = False) -> None:
        """Make the next ``times`` creates answer ``status``; with ``apply_first`` the issue is created anyway."""
        self._faults.append(_Fault(status, times, retry_after, apply_first))

    def with_label(self, label: str) -> list[FakeIssue]:
        """Issues carrying ``label``."""
        return [issue for issue in self.issues.values() if label in issue.labels]

    def _take_fault(self) -> _Fault | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.times -= 1
        if fault.times <= 0:
            self._faults.pop(0)
        return fault

    def _new_issue(self, fields: Mapping[str, Any]) -> FakeIssue:
        self._next_id += 1
        number = sum(1 for issue in self.issues.values() if issue.project == self.project) + 1
        issue = FakeIssue(
            id=str(self._next_id),
            key=f"{self.project}-{number}",
            project=self.project,
            issue_type=str(fields["issuetype"]["name"]),
            summary=str(fields["summary"]),
            description=fields.get("description"),
            labels=list(fields.get("labels") or []),
        )
        self.issues[issue.key] = issue
        return issue

    def _find(self, id_or_key: str) -> FakeIssue | None:
        return self.issues.get(id_or_key) or next((i for i in self.issues.values() if i.id == id_or_key), None)


def _adf_text(node: Any) -> str:
    if isinstance(node, dict):
        if node.get("type") == "text":
            return str(node.get("text", ""))
        if node.get("type") == "hardBreak":
            return "\n"
        parts = [_adf_text(child) for child in node.get("content") or []]
        return ("\n\n" if node.get("type") == "doc" else "").join(parts)
    return ""


def _is_adf(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    )


def _errors(status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errorMessages": messages or [], "errors": errors or {}}, status_code=status)


def _authorized(request: Request, state: FakeJiraState) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        email, _, token = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return secrets.compare_digest(email, state.email) and secrets.compare_digest(token, state.api_token)


_CLAUSE = re.compile(r'^\s*(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([\w.-]+))\s*$')
_ORDER = re.compile(r"\s+ORDER\s+BY\s+created(?:\s+(ASC|DESC))?\s*$", re.IGNORECASE)


def _parse_jql(jql: str) -> tuple[list[tuple[str, str]], bool] | str:
    """``field = value`` clauses joined by AND, optional ``ORDER BY created [ASC|DESC]``; else an error."""
    descending = False
    order = _ORDER.search(jql)
    if order is not None:
        descending = (order.group(1) or "ASC").upper() == "DESC"
        jql = jql[: order.start()]
    clauses: list[tuple[str, str]] = []
    for part in re.split(r"\s+AND\s+", jql.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(part)
        if match is None or match.group(1).lower() not in {"project", "labels"}:
            return f"Error in the JQL Query: the fake does not understand {part.strip()!r}."
        value = match.group(2) if match.group(2) is not None else match.group(3)
        clauses.append((match.group(1).lower(), re.sub(r"\\(.)", r"\1", value)))
    return clauses, descending


class _Routes:
    """The fake's endpoints, bound to one state."""

    def __init__(self, state: FakeJiraState) -> None:
        self.state = state

    def issue_json(self, request: Request, issue: FakeIssue, fields: list[str] | None) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        body: dict[str, Any] = {"id": issue.id, "key": issue.key, "self": f"{base}{API}/issue/{issue.id}"}
        if fields is None:
            return body
        every: dict[str, Any] = {
            "summary": issue.summary,
            "description": issue.description,
            "labels": list(issue.labels),
            "issuetype": {"name": issue.issue_type},
            "project": {"key": issue.project},
            "status": {"self": f"{base}{API}/status/{STATUSES[issue.status][0]}", **_status_json(issue.status)},
        }
        wanted = every.keys() if "*all" in fields or "*navigable" in fields else fields
        body["fields"] = {name: every[name] for name in wanted if name in every}
        return body

    def transitions_json(self, issue: FakeIssue) -> list[dict[str, Any]]:
        return [
            {
                "id": str(number * 10 + 1),
                "name": name,
                "to": _status_json(target),
                "hasScreen": False,
                "isGlobal": True,
                "isInitial": False,
                "isAvailable": True,
                "isConditional": False,
                "isLooped": False,
            }
            for number, (name, target) in enumerate(self.state.transitions.items(), start=1)
            # Jira does not offer a transition into the issue's current status.
            if target != issue.status
        ]

    async def auth_and_delay(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        self.state.requests.append((request.method, request.url.path))
        if self.state.delay_seconds:
            await asyncio.sleep(self.state.delay_seconds)
        if not _authorized(request, self.state):
            return PlainTextResponse("Client must be authenticated to access this resource.", status_code=401)
        return await call_next(request)

    async def create_issue(self, request: Request) -> Response:
        self.state.create_requests += 1
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        fields = body.get("fields")
        if not isinstance(fields, dict):
            return _errors(400, ["Can not create an issue without fields."])
        problems = _create_problems(self.state, fields)
        if problems:
            return _errors(400, errors=problems)
        fault = self.state._take_fault()
        if fault is not None:
            if fault.apply_first:
                self.state._new_issue(fields)
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            return JSONResponse(
                {"errorMessages": [f"Injected failure ({fault.status})."], "errors": {}},
                status_code=fault.status,
                headers=headers,
            )
        issue = self.state._new_issue(fields)
        return JSONResponse(self.issue_json(request, issue, None), status_code=201)

    async def search(self, request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        jql = body.get("jql")
        if not isinstance(jql, str) or not jql.strip():
            return _errors(400, ["Unbounded JQL queries are not allowed here. Please add a search restriction."])
        parsed = _parse_jql(jql)
        if isinstance(parsed, str):
            return _errors(400, [parsed])
        clauses, descending = parsed
        matches = [
            issue
            for issue in self.state.issues.values()
            if all((issue.project == value if name == "project" else value in issue.labels) for name, value in clauses)
        ]
        matches.sort(key=lambda issue: int(issue.id), reverse=descending)
        max_results = int(body.get("maxResults") or 50)
        fields = body.get("fields")
        wanted = [str(name) for name in fields] if isinstance(fields, list) else None
        answer: dict[str, Any] = {
            "issues": [self.issue_json(request, issue, wanted) for issue in matches[:max_results]],
            "isLast": len(matches) <= max_results,
        }
        if len(matches) > max_results:
            answer["nextPageToken"] = "fake-next-page"
        return JSONResponse(answer)

    async def get_issue(self, request: Request, id_or_key: str) -> Response:
        issue = self.state._find(id_or_key)
        if issue is None:
            return _errors(404, [NOT_FOUND])
        fields = request.query_params.get("fields")
        return JSONResponse(self.issue_json(request, issue, fields.split(",") if fields else ["*all"]))

    async def add_comment(self, request: Request, id_or_key: str) -> Response:
        issue = self.state._find(id_or_key)
        if issue is None:
            return _errors(404, [NOT_FOUND])
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        if not _is_adf(body.get("body")):
            return _errors(400, errors={"comment": ADF_REQUIRED})
        if not _adf_text(body["body"]).strip():
            return _errors(400, errors={"comment": "Comment body can not be empty!"})
        comment_id = str(len(issue.comments) + 10000)
        issue.comments.append(body["body"])
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {"id": comment_id, "self": f"{base}{API}/issue/{issue.id}/comment/{comment_id}", "body": body["body"]},
            status_code=201,
        )

    async def get_transitions(self, id_or_key: str) -> Response:
        issue = self.state._find(id_or_key)
        if issue is None:
            return _errors(404, [NOT_FOUND])
        return JSONResponse({"expand": "transitions", "transitions": self.transitions_json(issue)})

    async def do_transition(self, request: Request, id_or_key: str) -> Response:
        issue = self.state._find(id_or_key)
        if issue is None:
            return _errors(404, [NOT_FOUND])
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        transition = body.get("transition")
        transition_id = transition.get("id") if isinstance(transition, dict) else None
        if not transition_id:
            return _errors(400, ["Missing 'transition' identifier"])
        chosen = next((t for t in self.transitions_json(issue) if t["id"] == str(transition_id)), None)
        if chosen is None:
            return _errors(400, [f"Transition id '{transition_id}' is not valid for this issue."])
        issue.status = str(chosen["to"]["name"])
        return Response(status_code=204)


def _status_json(name: str) -> dict[str, Any]:
    status_id, category_key, category_name = STATUSES[name]
    return {"id": status_id, "name": name, "statusCategory": {"key": category_key, "name": category_name}}


async def _json_body(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return _errors(400, ["Unexpected character in the request body: not valid JSON."])
    if not isinstance(body, dict):
        return _errors(400, ["Can not deserialize the request body: expected a JSON object."])
    return body


def _create_problems(state: FakeJiraState, fields: dict[str, Any]) -> dict[str, str]:
    """Jira's field-level validation errors for a create, keyed by field."""
    problems: dict[str, str] = {}
    if (fields.get("project") or {}).get("key") != state.project:
        problems["project"] = "Specify a valid project ID or key"
    if (fields.get("issuetype") or {}).get("name") not in state.issue_types:
        problems["issuetype"] = "Specify an issue type"
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        problems["summary"] = "You must specify a summary of the issue."
    elif len(summary) > 255 or "\n" in summary:
        problems["summary"] = "Summary must be less than 255 characters and on one line."
    if "description" in fields and not _is_adf(fields["description"]):
        problems["description"] = ADF_REQUIRED
    labels = fields.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        problems["labels"] = "Labels must be a list of strings."
    elif any(" " in label or not label or len(label) > 255 for label in labels):
        problems["labels"] = "A label cannot contain spaces and must be 1 to 255 characters long."
    return problems


def create_fake_jira(
    *,
    email: str,
    api_token: str,
    project: str = "LIFT",
    transitions: Mapping[str, str] | None = None,
) -> tuple[FastAPI, FakeJiraState]:
    """A fake Jira Cloud app and its state; ``transitions`` maps transition names to target statuses."""
    state = FakeJiraState(email=email, api_token=api_token, project=project)
    if transitions is not None:
        state.transitions = dict(transitions)
    routes = _Routes(state)
    app = FastAPI()
    app.middleware("http")(routes.auth_and_delay)
    app.add_api_route(f"{API}/issue", routes.create_issue, methods=["POST"])
    app.add_api_route(f"{API}/search/jql", routes.search, methods=["POST"])
    app.add_api_route(f"{API}/issue/{{id_or_key}}", routes.get_issue, methods=["GET"])
    app.add_api_route(f"{API}/issue/{{id_or_key}}/comment", routes.add_comment, methods=["POST"])
    app.add_api_route(f"{API}/issue/{{id_or_key}}/transitions", routes.get_transitions, methods=["GET"])
    app.add_api_route(f"{API}/issue/{{id_or_key}}/transitions", routes.do_transition, methods=["POST"])
    return app, state
