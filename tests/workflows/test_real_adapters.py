"""The whole lifecycle through the Jira and Kubernetes adapters, against fakes that speak their APIs."""

from __future__ import annotations

import uuid

import asyncpg
from pydantic import SecretStr
from temporalio.client import Client

from activities.adapters.jira import JiraConfig, JiraTicketing
from activities.adapters.kubernetes import KubernetesConfig, KubernetesProvisioner
from schemas.decisions import ApproveInput, SubmitPocResultsInput
from schemas.policy import Policy
from schemas.stages import Role, Stage
from tests.conftest import SUBMITTER, make_start
from tests.fakes.jira import create_fake_jira
from tests.fakes.kubernetes import create_fake_kubernetes
from tests.fakes.server import serve
from tests.workflows.helpers import start, update
from worker.adapters import Integrations
from worker.wiring import build_worker


async def test_production_through_jira_and_kubernetes(client: Client, pool: asyncpg.Pool, policy: Policy) -> None:
    jira_app, jira = create_fake_jira(email="bot@example.com", api_token="jira-token")
    k8s_app, k8s = create_fake_kubernetes(token="k8s-token")
    async with serve(jira_app) as jira_url, serve(k8s_app) as k8s_url:
        ticketing = JiraTicketing(
            JiraConfig(url=jira_url, email="bot@example.com", api_token=SecretStr("jira-token"), project="LIFT")
        )
        provisioner = KubernetesProvisioner(
            KubernetesConfig(api_url=k8s_url, token=SecretStr("k8s-token"), insecure=True)
        )
        integrations = Integrations(
            ticketing=ticketing, provisioner=provisioner, closers=[ticketing.aclose, provisioner.aclose]
        )
        queue = f"test-{uuid.uuid4()}"
        try:
            async with build_worker(client, pool, task_queue=queue, integrations=integrations):
                inp = make_start(policy)
                handle = await start(client, queue, inp)
                await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
                await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
                await update(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
                await update(handle, "approve", ApproveInput(approver="ian@example.com", role=Role.INFRASTRUCTURE))
                await update(handle, "approve", ApproveInput(approver="olga@example.com", role=Role.IT_OPERATIONS))
                await update(handle, "approve", ApproveInput(approver="beth@example.com", role=Role.BUSINESS_OWNER))
                final = await handle.result()
        finally:
            await integrations.aclose()

    assert final.stage is Stage.PRODUCTION
    iid = inp.initiative_id
    issues = jira.with_label(f"liftoff-initiative-{iid}")
    kinds = sorted(label for issue in issues for label in issue.labels if label.startswith("liftoff-kind-"))
    assert kinds == ["liftoff-kind-change", "liftoff-kind-signoff"]
    assert {issue.status for issue in issues} == {"Done"}
    namespaces = {
        name: ns for name, ns in k8s.namespaces.items() if ns["metadata"]["labels"].get("liftoff.io/initiative") == iid
    }
    environments = sorted(ns["metadata"]["labels"]["liftoff.io/environment"] for ns in namespaces.values())
    assert environments == ["production"]  # the PoC sandbox namespace was deleted when the PoC ended
