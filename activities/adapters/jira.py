"""Jira Cloud ticketing adapter (REST API v3, basic auth with an account email and an API token).

Documented endpoints used (Jira Cloud platform REST API v3,
https://developer.atlassian.com/cloud/jira/platform/rest/v3/):

* ``POST /rest/api/3/issue`` (Issues, "Create issue"): ``fields.project.key``, ``fields.issuetype.name``,
  ``fields.summary``, ``fields.description`` (Atlassian Document Format), ``fields.labels``; answers
  201 ``{"id", "key", "self"}``.
* ``POST /rest/api/3/search/jql`` (Issue search, "Search for issues using JQL enhanced search"): body
  ``{"jql", "fields", "maxResults"}``; answers ``{"issues": [...], "nextPageToken"?, "isLast"?}``. The older
  ``GET/POST /rest/api/3/search`` was removed from Jira Cloud in 2025 (changelog CHANGE-2046).
* ``POST /rest/api/3/issue/{issueIdOrKey}/comment`` (Issue comments, "Add comment"): ``{"body": <ADF>}``.
* ``GET /rest/api/3/issue/{issueIdOrKey}/transitions`` and ``POST`` of ``{"transition": {"id": ...}}`` to the
  same path (Issues, "Get transitions" / "Transition issue"; the POST answers 204).
* ``GET /rest/api/3/issue/{issueIdOrKey}?fields=status,labels`` (Issues, "Get issue").

Idempotency: every issue carries a label derived from the open's idempotency key, and ``open`` searches for
that label before creating, so a retry after an ambiguous answer (a 500 or a timeout after Jira committed
the issue) finds the first issue instead of creating a second. Caveat from Atlassian's "search and
reconcile" guide: the enhanced search is eventually consistent (usually seconds), so the activity's retry
policy should not retry ``open_ticket`` against Jira faster than that.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr
from temporalio.exceptions import ApplicationError

from activities.adapters.http import check, timeout_error
from schemas.integrations import CloseTicketInput, OpenTicketInput, Ticket

SYSTEM = "Jira"
API = "/rest/api/3"
LABEL_APP = "liftoff"
LABEL_INITIATIVE = "liftoff-initiative-"
LABEL_KEY = "liftoff-key-"
LABEL_KIND = "liftoff-kind-"
SUMMARY_MAX = 255  # Jira rejects longer summaries


class JiraConfig(BaseModel):
    """Where and as whom to reach Jira Cloud, and which workflow transitions close a ticket."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    email: str
    api_token: SecretStr
    project: str
    issue_type: str = "Task"
    timeout_seconds: float = 10
    done_transition: str = "Done"
    failed_transition: str = "Won't Do"


def key_label(idempotency_key: str) -> str:
    """The label that marks the issue opened with ``idempotency_key`` (labels allow no spaces, so a hash)."""
    return LABEL_KEY + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document: one paragraph per blank-line-separated block, hard breaks inside."""
    paragraphs: list[dict[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        nodes: list[dict[str, Any]] = []
        for line in block.split("\n"):
            if nodes:
                nodes.append({"type": "hardBreak"})
            if line:  # ADF forbids empty text nodes
                nodes.append({"type": "text", "text": line})
        if any(node["type"] == "text" for node in nodes):
            paragraphs.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": paragraphs}


def _jql_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _issue_path(ref: str) -> str:
    return "/issue/" + quote(ref, safe="")


def _kind(labels: list[str]) -> str:
    for label in labels:
        if label.startswith(LABEL_KIND):
            return label.removeprefix(LABEL_KIND)
    return ""


class JiraTicketing:
    """Tickets as Jira Cloud issues in one project."""

    def __init__(self, config: JiraConfig, client: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._base = config.url.rstrip("/") + API
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        # Passed on every request so an injected client still authenticates as the configured account.
        self._auth = httpx.BasicAuth(config.email, config.api_token.get_secret_value())

    async def aclose(self) -> None:
        """Close the HTTP client if this adapter created it."""
        if self._owns_client:
            await self._client.aclose()

    async def open(self, inp: OpenTicketInput) -> Ticket:
        """Return the issue already opened with ``inp.idempotency_key``, or create it."""
        label = key_label(inp.idempotency_key)
        found = await self._find_by_label(label)
        if found is not None:
            return self._ticket(found, kind=inp.kind)
        fields: dict[str, Any] = {
            "project": {"key": self._config.project},
            "issuetype": {"name": self._config.issue_type},
            "summary": " ".join(inp.title.split())[:SUMMARY_MAX],
            "labels": [LABEL_APP, LABEL_INITIATIVE + inp.initiative_id, label, LABEL_KIND + inp.kind],
        }
        description = adf(inp.body)
        if description["content"]:
            fields["description"] = description
        created = self._json(await self._request("POST", "/issue", json={"fields": fields}))
        ref = str(created["key"])
        # The create answer carries only id/key/self, so read the workflow's initial status. If that read
        # fails, the issue still exists: failing the activity now would send a retry to the eventually
        # consistent search, which may not see the issue yet, and so create a second one.
        try:
            issue = await self._issue(ref)
        except ApplicationError:
            return Ticket(ref=ref, system="jira", status="open", kind=inp.kind)
        return self._ticket(issue, kind=inp.kind)

    async def close(self, inp: CloseTicketInput) -> Ticket:
        """Comment, then apply the configured transition for the outcome; a no-op if already there."""
        name = self._config.done_transition if inp.outcome == "done" else self._config.failed_transition
        issue = await self._issue(inp.ref)
        current = str(issue["fields"]["status"]["name"])
        transitions = self._json(await self._request("GET", _issue_path(inp.ref) + "/transitions")).get(
            "transitions", []
        )
        chosen = next((t for t in transitions if str(t.get("name", "")).casefold() == name.casefold()), None)
        target = str(chosen["to"]["name"]) if chosen is not None and "to" in chosen else name
        # Workflows rarely offer a transition into the current status, so "already there" is judged by the
        # target status name (or, when the transition is not offered, by the transition's own name).
        if target.casefold() == current.casefold():
            return self._ticket(issue)
        if chosen is None:
            available = ", ".join(sorted(str(t.get("name", "")) for t in transitions)) or "none"
            msg = (
                f"Jira issue {inp.ref} (status {current!r}) offers no transition named {name!r}; available: {available}"
            )
            raise ApplicationError(
                msg,
                type="JiraTransitionMissing",
                non_retryable=True,
            )
        if inp.comment.strip():
            await self.comment(inp.ref, inp.comment)
        await self._request(
            "POST", _issue_path(inp.ref) + "/transitions", json={"transition": {"id": str(chosen["id"])}}
        )
        return await self.get(inp.ref)

    async def comment(self, ref: str, text: str) -> None:
        """Add a comment; an empty text adds nothing (Jira rejects empty comment bodies)."""
        body = adf(text)
        if not body["content"]:
            return
        await self._request("POST", _issue_path(ref) + "/comment", json={"body": body})

    async def get(self, ref: str) -> Ticket:
        """The issue's current status."""
        return self._ticket(await self._issue(ref))

    async def _issue(self, ref: str) -> dict[str, Any]:
        return self._json(await self._request("GET", _issue_path(ref), params={"fields": "status,labels"}))

    async def _find_by_label(self, label: str) -> dict[str, Any] | None:
        jql = f"project = {_jql_string(self._config.project)} AND labels = {_jql_string(label)} ORDER BY created ASC"
        answer = self._json(
            await self._request(
                "POST", "/search/jql", json={"jql": jql, "fields": ["status", "labels"], "maxResults": 1}
            )
        )
        issues: list[dict[str, Any]] = answer.get("issues") or []
        return issues[0] if issues else None

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:  # noqa: ANN401
        try:
            response = await self._client.request(
                method,
                self._base + path,
                auth=self._auth,
                timeout=self._config.timeout_seconds,
                headers={"Accept": "application/json"},
                **kwargs,
            )
        except httpx.TransportError as err:  # timeouts are transport errors too
            raise timeout_error(SYSTEM, err) from err
        return check(response, SYSTEM)

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            msg = f"Jira answered {response.status_code} with a body that is not a JSON object"
            raise ApplicationError(msg, type="JiraUnexpected", non_retryable=True)
        return data

    @staticmethod
    def _ticket(issue: dict[str, Any], kind: str | None = None) -> Ticket:
        fields = issue.get("fields") or {}
        labels = [str(label) for label in fields.get("labels") or []]
        return Ticket(
            ref=str(issue["key"]),
            system="jira",
            status=str(fields["status"]["name"]).lower(),
            kind=kind if kind is not None else _kind(labels),
        )
