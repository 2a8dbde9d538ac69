"""Bad input is refused at the model (422 naming the field) and never wedges an initiative.

Each of these used to reach ``record_events``, which PostgreSQL refused, and retried for hours while
every later action on the initiative hung.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.conftest import auth, submission


def _raw(body: dict[str, object], *, replace: tuple[str, str] | None = None) -> str:
    """JSON text as a client could send it (``Infinity``/``NaN`` tokens, escapes for NUL and surrogates)."""
    text = json.dumps(body)
    if replace:
        text = text.replace(*replace)
    return text


async def _post_raw(api: httpx.AsyncClient, path: str, text: str, email: str) -> httpx.Response:
    headers = {**auth(email), "Content-Type": "application/json"}
    return await api.post(path, content=text.encode("utf-8"), headers=headers)


def _fields(response: httpx.Response) -> list[str]:
    return [".".join(str(p) for p in err["loc"]) for err in response.json()["detail"]]


@pytest.mark.parametrize(
    ("body", "replace", "field"),
    [
        (submission(title="ok"), ('"ok"', '"ok\\u0000"'), "body.title"),
        (submission(summary="ok"), ('"ok"', '"\\ud800 ok"'), "body.summary"),
        (submission(budget_usd=1), ('"budget_usd": 1', '"budget_usd": Infinity'), "body.budget_usd"),
        (submission(budget_usd=1), ('"budget_usd": 1', '"budget_usd": 1e308'), "body.budget_usd"),
        (
            submission(poc_success_criteria=[{"metric": "f1", "operator": ">=", "target": 0.5}]),
            ('"target": 0.5', '"target": NaN'),
            "body.poc_success_criteria.0.target",
        ),
        (submission(), ('"gpu_count": 1', '"gpu_count": 1000000000'), "body.infrastructure.gpu_count"),
    ],
)
async def test_submission_refuses_unstorable_values(
    api: httpx.AsyncClient, body: dict[str, object], replace: tuple[str, str], field: str
) -> None:
    response = await _post_raw(api, "/v1/initiatives", _raw(body, replace=replace), "alice@example.com")
    assert response.status_code == 422
    assert field in _fields(response)


async def test_bad_decisions_are_422_and_the_initiative_moves_on(api: httpx.AsyncClient) -> None:
    created = await api.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))
    iid = created.json()["id"]
    approve = f"/v1/initiatives/{iid}/approve"
    for text, field in [
        ('{"role": "portfolio", "comment": "ok\\u0000"}', "body.comment"),
        ('{"role": "portfolio", "comment": "\\udfff"}', "body.comment"),
    ]:
        response = await _post_raw(api, approve, text, "paula@example.com")
        assert response.status_code == 422, response.text
        assert field in _fields(response)
    response = await api.post(approve, json={"role": "portfolio"}, headers=auth("paula@example.com"))
    assert response.status_code == 200
    assert response.json()["stage"] == "poc"

    poc = f"/v1/initiatives/{iid}/submit-poc-results"
    for text, field in [
        ('{"metrics": {"f1": 0.95}, "spend_usd": 1e308}', "body.spend_usd"),
        ('{"metrics": {"f1": Infinity}}', "body.metrics.f1"),
        ('{"metrics": {"f\\u0000": 0.9}}', "body.metrics.f\x00.[key]"),
        ('{"metrics": {"f1": 0.95}, "summary": "a\\u0000b"}', "body.summary"),
    ]:
        response = await _post_raw(api, poc, text, "alice@example.com")
        assert response.status_code == 422, response.text
        assert field in _fields(response)
    response = await api.post(
        poc, json={"metrics": {"f1": 0.5}, "spend_usd": 1e12, "summary": "short"}, headers=auth("alice@example.com")
    )
    assert response.status_code == 200
    second = await api.post(poc, json={"metrics": {"f1": 0.96}, "spend_usd": 1e12}, headers=auth("alice@example.com"))
    assert second.status_code == 200
    assert second.json()["poc"]["met"] is True
    # Still answering and recording: the events of every accepted decision are in the log.
    events = await api.get(f"/v1/initiatives/{iid}/events", headers=auth("vic@example.com"))
    kinds = [e["kind"] for e in events.json()["events"]]
    assert kinds.count("poc_results_submitted") == 2
