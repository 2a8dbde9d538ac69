"""Issue 12, holes 4 and 5: sizes, rates, and every parameter bounded (422, never 500)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.context import ApiContext
from api.guards import AuthFailures
from api.principals import Directory
from schemas.policy import Policy
from tests.api.conftest import auth, submission


async def test_a_large_body_is_413_before_authentication(api: httpx.AsyncClient) -> None:
    huge = b'{"title": "' + b"x" * 2_000_000 + b'"}'
    response = await api.post("/v1/initiatives", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413  # no token at all: refused before the 401
    assert "larger than" in response.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(30):
            yield b"y" * 100_000

    streamed = await api.post("/v1/initiatives", content=chunks(), headers=auth("alice@example.com"))
    assert streamed.status_code == 413
    normal = await api.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))
    assert normal.status_code == 201


async def test_repeated_bad_tokens_from_one_client_are_429(
    client: Client, pool: object, policy: Policy, directory: Directory
) -> None:
    ctx = ApiContext(
        client=client,
        pool=pool,  # type: ignore[arg-type]  # never reached: authentication fails first
        directory=directory,
        policy=policy,
        task_queue="unused",
        ui_base_url="x",
        auth_failures=AuthFailures(limit=5, window=60),
    )
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        answers = [
            (await http.get("/v1/taxonomy", headers={"Authorization": f"Bearer guess-{n}"})).status_code
            for n in range(7)
        ]
        assert answers == [401] * 5 + [429] * 2
        blocked = await http.get("/v1/taxonomy", headers=auth("vic@example.com"))
        assert blocked.status_code == 429  # the client waits, whoever it claims to be now
        assert int(blocked.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/initiatives?offset=9223372036854775808", "offset"),
        ("/v1/initiatives?team=%00", "team"),
        ("/v1/reports/funnel?team=%00", "team"),
        ("/v1/reports/funnel?business_unit=%00", "business_unit"),
        ("/v1/reports/funnel?until=9999-12-31T23:59:59-14:00", "until"),
        ("/v1/reports/funnel?since=0001-01-01T00:00:00%2B14:00", "since"),
        ("/v1/reports/stall-reasons?team=" + "t" * 300, "team"),
    ],
)
async def test_out_of_range_parameters_are_422(api: httpx.AsyncClient, path: str, field: str) -> None:
    response = await api.get(path, headers=auth("vic@example.com"))
    assert response.status_code == 422, response.text
    assert ["query", field] in [e["loc"] for e in response.json()["detail"]]


async def test_every_status_a_route_answers_is_documented(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    approve = spec["paths"]["/v1/initiatives/{initiative_id}/approve"]["post"]["responses"]
    assert {"200", "202", "401", "403", "404", "409", "413", "422", "429", "503", "504"} <= set(approve)
    submit = spec["paths"]["/v1/initiatives"]["post"]["responses"]
    assert {"201", "401", "403", "413", "422", "429", "503", "504"} <= set(submit)
    for path, method, codes in (
        ("/v1/initiatives/{initiative_id}", "get", {"404"}),
        ("/v1/initiatives/{initiative_id}/events", "get", {"404"}),
        ("/v1/reports/{name}", "get", {"404"}),
        ("/v1/events/jira", "post", {"404", "409", "422"}),
        ("/auth/callback", "get", {"303", "400", "404", "502"}),
    ):
        assert codes <= set(spec["paths"][path][method]["responses"]), path
    # the dashboard is HTML, its errors are JSON like everywhere else
    unauthorised = spec["paths"]["/dashboard"]["get"]["responses"]["401"]["content"]
    assert set(unauthorised) == {"application/json"}
    # a submission's id links to everything that takes it
    links = spec["paths"]["/v1/initiatives"]["post"]["responses"]["201"]["links"]
    assert {link["parameters"]["initiative_id"] for link in links.values()} == {"$response.body#/id"}
    assert len(links) >= 12  # reads, decisions, the approval token


async def test_a_body_that_is_not_utf8_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/initiatives",
        content=b'{"title": "\xff\xfe"}',
        headers={**auth("alice@example.com"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_405_names_every_method_of_the_path(api: httpx.AsyncClient) -> None:
    response = await api.request("OPTIONS", "/v1/initiatives", headers=auth("alice@example.com"))
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


async def test_what_the_schema_allows_is_accepted_and_what_it_refuses_is_refused(api: httpx.AsyncClient) -> None:
    """Names' blank and NUL rules and the sponsor's address are in the OpenAPI document and agree with the API."""
    spec = (await api.get("/openapi.json")).json()
    request = spec["components"]["schemas"]["SubmitInitiativeRequest"]["properties"]
    title_rule = re.compile(request["title"]["pattern"])
    for title, accepted in (("\r", False), ("a\x00b", False), ("\x1c", True), (" Churn ", True)):
        assert bool(title_rule.search(title)) is accepted, repr(title)
        answer = await api.post("/v1/initiatives", json=submission(title=title), headers=auth("alice@example.com"))
        assert (answer.status_code == 201) is accepted, (title, answer.text)
    # a directory identity on a special-use domain (what email-validator refused) is a sponsor like any other
    local = await api.post(
        "/v1/initiatives", json=submission(sponsor="CFO@corp.local"), headers=auth("alice@example.com")
    )
    assert local.status_code == 201, local.text
    spaced = await api.post(
        "/v1/initiatives", json=submission(sponsor="c fo@corp.local"), headers=auth("alice@example.com")
    )
    assert spaced.status_code == 422
    metric_keys = spec["components"]["schemas"]["SubmitPocResultsBody"]["properties"]["metrics"]
    assert "patternProperties" not in metric_keys
    assert metric_keys["propertyNames"]["pattern"] == request["title"]["pattern"]
