"""JiraTicketing against a local fake Jira Cloud that speaks the REST API v3 contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from activities.adapters.jira import JiraConfig, JiraTicketing, key_label
from schemas.integrations import CloseTicketInput, OpenTicketInput
from tests.fakes.jira import FakeJiraState, create_fake_jira
from tests.fakes.server import serve

TOKEN = "atl-token-do-not-leak-3f9c"
EMAIL = "liftoff-bot@example.com"


@dataclass
class Jira:
    state: FakeJiraState
    url: str

    def adapter(self, **overrides: object) -> JiraTicketing:
        values: dict[str, object] = {"url": self.url, "email": EMAIL, "api_token": SecretStr(TOKEN), "project": "LIFT"}
        values.update(overrides)
        return JiraTicketing(JiraConfig.model_validate(values))


@pytest.fixture
async def jira() -> AsyncIterator[Jira]:
    app, state = create_fake_jira(email=EMAIL, api_token=TOKEN, project="LIFT")
    async with serve(app) as url:
        yield Jira(state, url)


@pytest.fixture
async def adapter(jira: Jira) -> AsyncIterator[JiraTicketing]:
    ticketing = jira.adapter()
    try:
        yield ticketing
    finally:
        await ticketing.aclose()


def _open(key: str = "wf-1/change", initiative_id: str = "Init_42.alpha") -> OpenTicketInput:
    return OpenTicketInput(
        initiative_id=initiative_id,
        idempotency_key=key,
        kind="change",
        title="Production rollout: fraud model",
        body="Roll out the model.\n\nRollback: redeploy v1.",
    )


async def test_open_creates_one_issue_with_labels_and_adf_description(jira: Jira, adapter: JiraTicketing) -> None:
    ticket = await adapter.open(_open())

    assert ticket.model_dump() == {"ref": "LIFT-1", "system": "jira", "status": "to do", "kind": "change"}
    issue = jira.state.issues["LIFT-1"]
    assert sorted(issue.labels) == sorted(
        ["liftoff", "liftoff-initiative-Init_42.alpha", key_label("wf-1/change"), "liftoff-kind-change"]
    )
    assert issue.issue_type == "Task"
    assert issue.summary == "Production rollout: fraud model"
    assert issue.description == {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Roll out the model."}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "Rollback: redeploy v1."}]},
        ],
    }


async def test_open_twice_with_same_key_returns_the_same_issue(jira: Jira, adapter: JiraTicketing) -> None:
    first = await adapter.open(_open())
    second = await adapter.open(_open())

    assert second == first
    assert list(jira.state.issues) == ["LIFT-1"]
    assert jira.state.create_requests == 1


async def test_different_keys_open_different_issues(jira: Jira, adapter: JiraTicketing) -> None:
    first = await adapter.open(_open("wf-1/change"))
    second = await adapter.open(_open("wf-1/signoff"))

    assert (first.ref, second.ref) == ("LIFT-1", "LIFT-2")


async def test_retry_after_500_from_a_create_that_was_applied_makes_exactly_one_issue(
    jira: Jira, adapter: JiraTicketing
) -> None:
    jira.state.fail_next(500, apply_first=True)

    with pytest.raises(ApplicationError) as failed:
        await adapter.open(_open())
    assert failed.value.type == "JiraUnavailable"
    assert failed.value.non_retryable is False

    retried = await adapter.open(_open())

    assert retried.ref == "LIFT-1"
    assert list(jira.state.issues) == ["LIFT-1"]
    assert jira.state.create_requests == 1


async def test_429_with_retry_after_is_retryable_with_that_delay(jira: Jira, adapter: JiraTicketing) -> None:
    jira.state.fail_next(429, retry_after=7)

    with pytest.raises(ApplicationError) as failed:
        await adapter.open(_open())

    assert failed.value.non_retryable is False
    assert failed.value.next_retry_delay == timedelta(seconds=7)
    assert jira.state.issues == {}


async def test_wrong_token_is_non_retryable_unauthorized_without_the_token(jira: Jira) -> None:
    wrong = "wrong-token-7a1e"
    ticketing = jira.adapter(api_token=SecretStr(wrong))
    try:
        with pytest.raises(ApplicationError) as failed:
            await ticketing.open(_open())
    finally:
        await ticketing.aclose()

    assert failed.value.type == "JiraUnauthorized"
    assert failed.value.non_retryable is True
    for secret in (wrong, TOKEN):
        assert secret not in str(failed.value)
        assert secret not in repr(failed.value)
    assert wrong not in repr(ticketing._config)


async def test_slow_server_is_a_retryable_timeout(jira: Jira) -> None:
    jira.state.delay_seconds = 0.5
    ticketing = jira.adapter(timeout_seconds=0.05)
    try:
        with pytest.raises(ApplicationError) as failed:
            await ticketing.open(_open())
    finally:
        await ticketing.aclose()

    assert failed.value.type == "JiraTimeout"
    assert failed.value.non_retryable is False
    assert TOKEN not in str(failed.value)


async def test_close_done_comments_and_transitions_to_done(jira: Jira, adapter: JiraTicketing) -> None:
    opened = await adapter.open(_open())

    closed = await adapter.close(CloseTicketInput(ref=opened.ref, outcome="done", comment="Rolled out at 14:02."))

    assert closed.model_dump() == {"ref": "LIFT-1", "system": "jira", "status": "done", "kind": "change"}
    issue = jira.state.issues["LIFT-1"]
    assert issue.status == "Done"
    assert issue.comment_texts() == ["Rolled out at 14:02."]


async def test_close_failed_uses_the_failed_transition(jira: Jira, adapter: JiraTicketing) -> None:
    opened = await adapter.open(_open())

    closed = await adapter.close(CloseTicketInput(ref=opened.ref, outcome="cancelled"))

    assert closed.status == "won't do"
    assert jira.state.issues["LIFT-1"].comments == []


async def test_close_twice_is_harmless(jira: Jira, adapter: JiraTicketing) -> None:
    opened = await adapter.open(_open())
    first = await adapter.close(CloseTicketInput(ref=opened.ref, outcome="done", comment="Done."))

    second = await adapter.close(CloseTicketInput(ref=opened.ref, outcome="done", comment="Done."))

    assert second == first
    assert jira.state.issues["LIFT-1"].status == "Done"
    assert jira.state.issues["LIFT-1"].comment_texts() == ["Done."]
    transitions_posted = [r for r in jira.state.requests if r == ("POST", "/rest/api/3/issue/LIFT-1/transitions")]
    assert len(transitions_posted) == 1


async def test_close_with_missing_transition_names_the_available_ones(jira: Jira) -> None:
    ticketing = jira.adapter(failed_transition="Abandon")
    try:
        opened = await ticketing.open(_open())
        with pytest.raises(ApplicationError) as failed:
            await ticketing.close(CloseTicketInput(ref=opened.ref, outcome="failed", comment="why"))
    finally:
        await ticketing.aclose()

    assert failed.value.type == "JiraTransitionMissing"
    assert failed.value.non_retryable is True
    assert "Abandon" in str(failed.value)
    assert "Done, In Progress, Won't Do" in str(failed.value)
    issue = jira.state.issues[opened.ref]
    assert (issue.status, issue.comments) == ("To Do", [])


async def test_get_returns_status_and_kind(jira: Jira, adapter: JiraTicketing) -> None:
    opened = await adapter.open(_open())
    jira.state.issues[opened.ref].status = "In Progress"

    ticket = await adapter.get(opened.ref)

    assert ticket.model_dump() == {"ref": "LIFT-1", "system": "jira", "status": "in progress", "kind": "change"}


async def test_get_unknown_issue_is_non_retryable_not_found(adapter: JiraTicketing) -> None:
    with pytest.raises(ApplicationError) as failed:
        await adapter.get("LIFT-999")

    assert failed.value.type == "JiraNotFound"
    assert failed.value.non_retryable is True


async def test_comment_is_recorded_as_adf(jira: Jira, adapter: JiraTicketing) -> None:
    opened = await adapter.open(_open())

    await adapter.comment(opened.ref, "line one\nline two")

    assert jira.state.issues["LIFT-1"].comments == [
        {
            "type": "doc",
            "version": 1,
            "content": [
                {
                    "type": "paragraph",
                    "content": [
                        {"type": "text", "text": "line one"},
                        {"type": "hardBreak"},
                        {"type": "text", "text": "line two"},
                    ],
                }
            ],
        }
    ]


async def test_fake_speaks_jira_error_shapes(jira: Jira) -> None:
    """The fake rejects what real Jira Cloud rejects, with Jira's error bodies (keeps the fake honest)."""
    fields = {"project": {"key": "LIFT"}, "issuetype": {"name": "Task"}, "summary": "s", "description": "plain"}
    async with httpx.AsyncClient(base_url=jira.url) as client:
        bad = await client.post("/rest/api/3/issue", json={"fields": fields}, auth=(EMAIL, TOKEN))
        unauthorized = await client.get("/rest/api/3/issue/LIFT-1", auth=(EMAIL, "nope"))
        missing = await client.get("/rest/api/3/issue/LIFT-1", auth=(EMAIL, TOKEN))

    assert bad.status_code == 400
    assert bad.json() == {
        "errorMessages": [],
        "errors": {"description": "Operation value must be an Atlassian Document (see the Atlassian Document Format)"},
    }
    assert unauthorized.status_code == 401
    assert missing.status_code == 404
    assert missing.json() == {
        "errorMessages": ["Issue does not exist or you do not have permission to see it."],
        "errors": {},
    }
    assert jira.state.issues == {}
