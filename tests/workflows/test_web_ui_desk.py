"""What an approver sees in the Web UI: search attributes, current details, handler descriptions."""

from __future__ import annotations

import json
import re
from typing import Any

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle

from schemas.contract import UPDATE_NAMES
from schemas.decisions import ApproveInput
from schemas.policy import Policy
from schemas.stages import Role
from tests.conftest import make_start
from tests.workflows.helpers import start, update
from workflows import search_attributes as sa


async def _metadata(handle: WorkflowHandle[Any, Any]) -> WorkflowMetadata:
    metadata: WorkflowMetadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata


async def test_search_attributes_follow_the_stage(client: Client, task_queue: str, policy: Policy) -> None:
    inp = make_start(policy)
    handle = await start(client, task_queue, inp)
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(sa.INITIATIVE_STAGE) == "poc"
    assert attrs.get(sa.AWAITING_ROLES) == ["business_owner"]
    assert attrs.get(sa.INITIATIVE_TEAM) == "ml-platform"
    assert attrs.get(sa.BUSINESS_UNIT) == "retail"
    assert attrs.get(sa.RISK_TIER) == "limited"
    assert attrs.get(sa.STALLED) is False
    assert attrs.get(sa.STAGE_ENTERED_AT) is not None

    found = [
        w.id
        async for w in client.list_workflows(
            f'InitiativeStage="poc" AND AwaitingRoles="business_owner" AND TaskQueue="{task_queue}"'
        )
    ]
    assert found == [handle.id]


async def test_current_details_show_the_gate_and_pasteable_payloads(
    client: Client, task_queue: str, policy: Policy
) -> None:
    handle = await start(client, task_queue, make_start(policy))
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    metadata = await _metadata(handle)
    details = metadata.current_details
    assert "**Stage:** `poc`" in details
    assert "PoC results (`submit_poc_results`) meeting the success criteria" in details
    assert "- `business_owner`: bob@example.com, beth@example.com" in details
    payloads = [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", details)]
    assert {
        "actor": "you@example.com",
        "stage": "poc",
        "metrics": {"metric_name": 0.0},
        "spend_usd": 0,
        "summary": "what the PoC showed",
    } in payloads

    descriptions = {d.name: d.description for d in metadata.definition.update_definitions}
    assert set(descriptions) == set(UPDATE_NAMES)
    assert all(len(text) > 20 for text in descriptions.values())
    queries = {d.name: d.description for d in metadata.definition.query_definitions}
    assert "stage, status, awaiting roles" in queries["status"]
