"""Delegation: a person names a delegate until a date; the delegate decides on their behalf meanwhile.

Real Temporal and PostgreSQL; the API signs its decisions, so the workflow trusts the delegation it checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowUpdateFailedError

from api.delegation import Delegations
from api.principals import DelegateEntry, Directory, PrincipalEntry, hash_token
from schemas.contract import workflow_id_for
from schemas.policy import Policy
from schemas.stages import Role
from schemas.status import InitiativeStatusView
from tests.api.conftest import auth, signing_api, submission, token
from tests.api.test_my_queue import queue_of, until

SECRET = b"delegation-test-secret"
SOON = datetime.now(UTC) + timedelta(days=7)

#: pia decides for the portfolio; dana and alice are the people she may hand it to; pete's file names dana.
PEOPLE: dict[str, tuple[list[Role], list[str], DelegateEntry | None]] = {
    "alice@example.com": ([Role.SUBMITTER], ["ml-platform"], None),
    "pia@example.com": ([Role.PORTFOLIO], [], None),
    "pete@example.com": ([Role.PORTFOLIO, Role.SECURITY], [], DelegateEntry(to="dana@example.com", until=SOON)),
    "dana@example.com": ([Role.SUBMITTER], ["other-team"], None),
    "vic@example.com": ([Role.VIEWER], [], None),
}


def people() -> Directory:
    return Directory(
        [
            PrincipalEntry(email=email, roles=roles, teams=teams, token_sha256=hash_token(token(email)), delegate=d)
            for email, (roles, teams, d) in PEOPLE.items()
        ]
    )


@pytest_asyncio.fixture(loop_scope="session")
async def desk(client: Client, pool: asyncpg.Pool, policy: Policy) -> AsyncIterator[httpx.AsyncClient]:
    """The app and a worker sharing an approval secret; every delegation it set is ended afterwards."""
    async with signing_api(client, pool, policy, people(), queue="delegation-api-queue", secret=SECRET) as http:
        yield http
    await pool.execute("DELETE FROM delegations WHERE delegator = ANY($1::text[])", list(PEOPLE))


async def _submit(http: httpx.AsyncClient) -> str:
    response = await http.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))
    assert response.status_code == 201, response.text
    initiative_id: str = response.json()["id"]
    return initiative_id


async def _events(http: httpx.AsyncClient, iid: str) -> list[dict[str, Any]]:
    answer = await http.get(f"/v1/initiatives/{iid}/events", headers=auth("vic@example.com"))
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


async def test_a_delegate_approves_on_behalf_and_the_event_records_both_names(desk: httpx.AsyncClient) -> None:
    until_at = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    named = await desk.put(
        "/v1/me/delegate",
        json={"to": "dana@example.com", "until": until_at.isoformat()},
        headers=auth("pia@example.com"),
    )
    assert named.status_code == 200, named.text
    assert named.json()["delegate"] == {
        "delegator": "pia@example.com",
        "delegate": "dana@example.com",
        "roles": ["portfolio"],
        "until": until_at.isoformat().replace("+00:00", "Z"),
        "source": "self",
    }
    acting = (await desk.get("/v1/me/delegate", headers=auth("dana@example.com"))).json()["acting_for"]
    assert {(d["delegator"], d["source"]) for d in acting} == {
        ("pia@example.com", "self"),
        ("pete@example.com", "file"),
    }

    iid = await _submit(desk)
    key = f"{iid}/approve"

    async def dana_sees_it() -> bool:
        return key in await queue_of(desk, "dana@example.com")

    await until(dana_sees_it, "the delegate's queue")
    item = (await queue_of(desk, "dana@example.com"))[key]
    assert item["roles"] == ["portfolio"]
    assert item["on_behalf_of"] in {"pia@example.com", "pete@example.com"}

    approved = await desk.post(
        f"/v1/initiatives/{iid}/approve",
        json={"role": "portfolio", "on_behalf_of": "pia@example.com", "comment": "for Pia, away"},
        headers=auth("dana@example.com"),
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["stage"] == "poc"

    [event] = [e for e in await _events(desk, iid) if e["kind"] == "approved"]
    assert (event["actor"], event["role"], event["verified"]) == ("dana@example.com", "portfolio", True)
    assert event["data"]["on_behalf_of"] == "pia@example.com"
    assert event["detail"] == "for Pia, away"

    async def gone_from_queue() -> bool:
        return not [k for k in await queue_of(desk, "dana@example.com") if k.startswith(iid)]

    await until(gone_from_queue, "the delegate's queue to drop the decided gate")


async def test_the_delegation_from_the_principals_file_and_the_signed_payload_for_the_web_ui(
    desk: httpx.AsyncClient, client: Client
) -> None:
    iid = await _submit(desk)
    minted = await desk.post(
        f"/v1/initiatives/{iid}/approval-token",
        json={"role": "portfolio", "fields": {"on_behalf_of": "pete@example.com"}},
        headers=auth("dana@example.com"),
    )
    assert minted.status_code == 200, minted.text
    payload = minted.json()["ui_payload"]
    assert (payload["approver"], payload["on_behalf_of"]) == ("dana@example.com", "pete@example.com")

    # pasted into the Web UI unchanged, it is accepted; with the name swapped, the token no longer matches
    handle = client.get_workflow_handle(workflow_id_for(iid))
    forged = {**payload, "on_behalf_of": "pia@example.com"}
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("approve", forged, result_type=InitiativeStatusView)
    assert "differs from the one the approval token was issued for" in str(refused.value.cause)
    view = await handle.execute_update("approve", payload, result_type=InitiativeStatusView)
    assert view.stage.value == "poc"
    [event] = [e for e in await _events(desk, iid) if e["kind"] == "approved"]
    assert (event["actor"], event["data"]["on_behalf_of"]) == ("dana@example.com", "pete@example.com")


async def test_what_a_delegation_does_not_allow(desk: httpx.AsyncClient) -> None:
    iid = await _submit(desk)

    async def approve_as(email: str, behalf: str, role: str = "portfolio") -> httpx.Response:
        return await desk.post(
            f"/v1/initiatives/{iid}/approve",
            json={"role": role, "on_behalf_of": behalf},
            headers=auth(email),
        )

    # nobody named alice: no acting for pia; pete delegated portfolio and security, not business_owner
    refused = await approve_as("alice@example.com", "pia@example.com")
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "pia@example.com has not delegated their decisions to alice@example.com, or the delegation has ended"
    )
    wrong_role = await approve_as("dana@example.com", "pete@example.com", "business_owner")
    assert wrong_role.status_code == 403
    assert wrong_role.json()["detail"] == (
        "pete@example.com delegated portfolio, security to dana@example.com, not business_owner"
    )

    # pia names alice, who submitted this initiative: separation of duties still applies to the delegate
    await desk.put(
        "/v1/me/delegate", json={"to": "alice@example.com", "until": SOON.isoformat()}, headers=auth("pia@example.com")
    )
    submitter = await approve_as("alice@example.com", "pia@example.com")
    assert submitter.status_code == 409
    assert submitter.json()["detail"] == (
        "alice@example.com submitted this initiative and may not approve it (separation of duties)"
    )

    # pete ends his file's delegation through the API: dana may no longer act for him
    ended = await desk.delete("/v1/me/delegate", headers=auth("pete@example.com"))
    assert ended.status_code == 200, ended.text
    assert ended.json()["delegate"] is None
    after = await approve_as("dana@example.com", "pete@example.com")
    assert after.status_code == 403

    # every refusal is audited with the name of whoever tried
    refusals = [e for e in await _events(desk, iid) if e["kind"] == "decision_refused"]
    assert [(e["actor"], e["data"]["payload"].get("on_behalf_of")) for e in refusals] == [
        ("alice@example.com", "pia@example.com"),
        ("dana@example.com", "pete@example.com"),
        ("alice@example.com", "pia@example.com"),
        ("dana@example.com", "pete@example.com"),
    ]
    assert (await desk.get(f"/v1/initiatives/{iid}", headers=auth("vic@example.com"))).json()["stage"] == "proposed"


async def test_setting_a_delegate_is_checked(desk: httpx.AsyncClient) -> None:
    async def put(email: str, **body: Any) -> httpx.Response:
        return await desk.put("/v1/me/delegate", json=body, headers=auth(email))

    now = datetime.now(UTC)
    cases = [
        ({"to": "pia@example.com", "until": SOON.isoformat()}, "a person cannot be their own delegate"),
        ({"to": "eve@evil.example", "until": SOON.isoformat()}, "eve@evil.example is not a person liftoff knows"),
        ({"to": "dana@example.com", "until": (now - timedelta(hours=1)).isoformat()}, "until must be in the future"),
        ({"to": "dana@example.com", "until": (now + timedelta(days=400)).isoformat()}, "at most a year ahead"),
        ({"to": "dana@example.com", "until": "2030-01-01T00:00:00"}, "timezone"),
        ({"to": "not an address", "until": SOON.isoformat()}, "pattern"),
    ]
    for body, expected in cases:
        answer = await put("pia@example.com", **body)
        assert answer.status_code == 422, (body, answer.text)
        assert expected in answer.text, (body, answer.text)
    viewer = await put("vic@example.com", to="dana@example.com", until=SOON.isoformat())
    assert viewer.status_code == 409
    assert viewer.json()["detail"] == "vic@example.com holds no approver role; there is nothing to delegate"
    assert (await desk.get("/v1/me/delegate")).status_code == 401


async def test_lapsed_delegations_are_not_in_force(pool: asyncpg.Pool) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    entries = [
        PrincipalEntry(
            email="lee@example.com",
            roles=[Role.PORTFOLIO],
            token_sha256=hash_token("t"),
            delegate=DelegateEntry(to="dana@example.com", until=past),
        )
    ]
    delegations = Delegations(pool, Directory(entries))

    assert await delegations.of("lee@example.com") is None
    assert await delegations.refusal(delegate="dana@example.com", delegator="lee@example.com", role="portfolio")
    in_force = await delegations.active(now=past - timedelta(days=1))
    assert in_force["lee@example.com"].delegate == "dana@example.com"
