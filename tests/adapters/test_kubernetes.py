"""The Kubernetes provisioner against a local fake API server that speaks the core v1 contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from activities.adapters.kubernetes import (
    ANN_EXPIRES_AT,
    ANN_IDEMPOTENCY_KEY,
    ANN_INITIATIVE_ID,
    LABEL_ENVIRONMENT,
    LABEL_INITIATIVE,
    LIMITS_NAME,
    MANAGED_BY,
    QUOTA_NAME,
    KubernetesConfig,
    KubernetesProvisioner,
    _verify,
    label_value,
    namespace_name,
    quota_hard,
    scale_quantity,
    storage_quantity,
)
from schemas.integrations import DeprovisionInput, ProvisionInput, RenewInput, Resource
from tests.fakes.kubernetes import FakeKubernetesState, create_fake_kubernetes
from tests.fakes.server import serve

TOKEN = "s3cr3t-kube-token"


@dataclass
class Cluster:
    provisioner: KubernetesProvisioner
    state: FakeKubernetesState
    url: str


@pytest_asyncio.fixture(loop_scope="session")
async def cluster() -> AsyncIterator[Cluster]:
    app, state = create_fake_kubernetes(token=TOKEN, gpu_capacity=8)
    async with serve(app) as url:
        provisioner = KubernetesProvisioner(KubernetesConfig(api_url=url, token=SecretStr(TOKEN), timeout_seconds=2))
        try:
            yield Cluster(provisioner, state, url)
        finally:
            await provisioner.aclose()


def request(**overrides: object) -> ProvisionInput:
    fields: dict[str, object] = {
        "initiative_id": "3f2a9c0d1b4e5f60",
        "idempotency_key": "wf-1/production",
        "environment": "production",
        "gpu_type": "H100",
        "gpu_count": 2,
        "storage_tb": 1,
        "budget_usd": 12500.5,
        "ttl_seconds": None,
    }
    fields.update(overrides)
    return ProvisionInput.model_validate(fields)


def objects(cluster: Cluster) -> tuple[list[str], list[str], list[str]]:
    """Names of the namespaces, resource quotas and limit ranges the fake holds."""
    quotas = [f"{ns}/{name}" for ns, items in cluster.state.resourcequotas.items() for name in items]
    limits = [f"{ns}/{name}" for ns, items in cluster.state.limitranges.items() for name in items]
    return sorted(cluster.state.namespaces), sorted(quotas), sorted(limits)


async def test_provision_creates_namespace_quota_and_limit_range(cluster: Cluster) -> None:
    resource = await cluster.provisioner.provision(request())

    name = "liftoff-3f2a9c0d1b4e5f60-production"
    assert resource == Resource(
        ref=name, provider="kubernetes", environment="production", status="ready", cost_usd=12500.5
    )
    assert objects(cluster) == ([name], [f"{name}/{QUOTA_NAME}"], [f"{name}/{LIMITS_NAME}"])
    metadata = cluster.state.namespaces[name]["metadata"]
    assert metadata["labels"][MANAGED_BY] == "liftoff"
    assert metadata["labels"][LABEL_INITIATIVE] == "3f2a9c0d1b4e5f60"
    assert metadata["labels"][LABEL_ENVIRONMENT] == "production"
    assert metadata["annotations"][ANN_IDEMPOTENCY_KEY] == "wf-1/production"
    assert ANN_INITIATIVE_ID not in metadata["annotations"]  # the id is a valid label value as it is
    assert ANN_EXPIRES_AT not in metadata["annotations"]  # no TTL asked for
    hard = cluster.state.resourcequotas[name][QUOTA_NAME]["spec"]["hard"]
    assert hard == {
        "requests.nvidia.com/gpu": "2",
        "requests.cpu": "16",
        "limits.cpu": "16",
        "requests.memory": "128Gi",
        "limits.memory": "128Gi",
        "requests.storage": "1Ti",
    }
    limit = cluster.state.limitranges[name][LIMITS_NAME]["spec"]["limits"][0]
    assert limit["type"] == "Container"
    assert set(limit["default"]) == {"cpu", "memory"}
    assert set(limit["defaultRequest"]) == {"cpu", "memory"}


async def test_provision_with_ttl_sets_expiry_annotation(cluster: Cluster) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    resource = await cluster.provisioner.provision(request(environment="poc", ttl_seconds=3600))

    annotations = cluster.state.namespaces[resource.ref]["metadata"]["annotations"]
    expires = datetime.fromisoformat(annotations[ANN_EXPIRES_AT])
    assert before + timedelta(seconds=3600) <= expires <= datetime.now(UTC) + timedelta(seconds=3601)


async def test_provision_again_with_same_key_returns_the_same_namespace(cluster: Cluster) -> None:
    first = await cluster.provisioner.provision(request())
    second = await cluster.provisioner.provision(request())

    assert second == first
    assert objects(cluster) == ([first.ref], [f"{first.ref}/{QUOTA_NAME}"], [f"{first.ref}/{LIMITS_NAME}"])


async def test_retry_after_500_once_namespace_was_created_leaves_exactly_one_of_each(cluster: Cluster) -> None:
    cluster.state.fail_next(500, apply_first=True)  # the namespace is created, its 201 is lost

    with pytest.raises(ApplicationError) as failed:
        await cluster.provisioner.provision(request())
    assert failed.value.type == "KubernetesUnavailable"
    assert not failed.value.non_retryable
    assert list(cluster.state.namespaces) == ["liftoff-3f2a9c0d1b4e5f60-production"]
    assert cluster.state.resourcequotas == {}  # the first attempt stopped before the quota

    resource = await cluster.provisioner.provision(request())

    name = resource.ref
    assert resource.status == "ready"
    assert objects(cluster) == ([name], [f"{name}/{QUOTA_NAME}"], [f"{name}/{LIMITS_NAME}"])
    assert cluster.state.resourcequotas[name][QUOTA_NAME]["spec"]["hard"]["requests.nvidia.com/gpu"] == "2"


async def test_retry_after_timeout_once_quota_was_created_leaves_exactly_one_of_each(cluster: Cluster) -> None:
    cluster.state.fail_next(504, apply_first=True, method="POST", path_suffix="/resourcequotas")

    with pytest.raises(ApplicationError) as failed:
        await cluster.provisioner.provision(request())
    assert failed.value.type == "KubernetesUnavailable"
    resource = await cluster.provisioner.provision(request())

    name = resource.ref
    assert objects(cluster) == ([name], [f"{name}/{QUOTA_NAME}"], [f"{name}/{LIMITS_NAME}"])


async def test_namespace_of_another_initiative_is_a_conflict(cluster: Cluster) -> None:
    await cluster.provisioner.provision(request(idempotency_key="someone-else/production"))

    with pytest.raises(ApplicationError) as failed:
        await cluster.provisioner.provision(request())

    assert failed.value.type == "KubernetesNamespaceConflict"
    assert failed.value.non_retryable
    annotations = cluster.state.namespaces["liftoff-3f2a9c0d1b4e5f60-production"]["metadata"]["annotations"]
    assert annotations[ANN_IDEMPOTENCY_KEY] == "someone-else/production"  # left alone


async def test_namespace_not_made_by_liftoff_is_a_conflict(cluster: Cluster) -> None:
    async with httpx.AsyncClient(base_url=cluster.url, headers={"Authorization": f"Bearer {TOKEN}"}) as raw:
        made = await raw.post(
            "/api/v1/namespaces",
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "liftoff-3f2a9c0d1b4e5f60-production"}},
        )
    assert made.status_code == 201

    with pytest.raises(ApplicationError) as failed:
        await cluster.provisioner.provision(request())

    assert failed.value.type == "KubernetesNamespaceConflict"
    assert failed.value.non_retryable
    assert cluster.state.resourcequotas == {}


async def test_gpus_beyond_capacity_are_capacity_quota_unavailable(cluster: Cluster) -> None:
    cluster.state.gpu_capacity = 4

    with pytest.raises(ApplicationError) as failed:
        await cluster.provisioner.provision(request(gpu_count=16))

    assert failed.value.type == "CapacityQuotaUnavailable"
    assert failed.value.non_retryable
    assert "exceeded quota" in failed.value.message
    # The half-made namespace is removed: the saga has no resource to compensate for a failed provision.
    assert objects(cluster) == ([], [], [])


async def test_capacity_counts_gpus_promised_to_other_namespaces(cluster: Cluster) -> None:
    cluster.state.gpu_capacity = 4
    await cluster.provisioner.provision(request(initiative_id="aaaa", gpu_count=3))

    with pytest.raises(ApplicationError) as failed:
        await cluster.provisioner.provision(request(initiative_id="bbbb", gpu_count=2))

    assert failed.value.type == "CapacityQuotaUnavailable"
    assert sorted(cluster.state.namespaces) == ["liftoff-aaaa-production"]


async def test_429_is_retryable_with_the_servers_delay(cluster: Cluster) -> None:
    cluster.state.fail_next(429, retry_after=7)

    with pytest.raises(ApplicationError) as failed:
        await cluster.provisioner.provision(request())

    assert failed.value.type == "KubernetesUnavailable"
    assert not failed.value.non_retryable
    assert failed.value.next_retry_delay == timedelta(seconds=7)


async def test_wrong_token_is_unauthorized_without_leaking_it(cluster: Cluster) -> None:
    wrong = "not-the-token-9f8e7d"
    provisioner = KubernetesProvisioner(KubernetesConfig(api_url=cluster.url, token=SecretStr(wrong)))
    try:
        with pytest.raises(ApplicationError) as failed:
            await provisioner.provision(request())
    finally:
        await provisioner.aclose()

    assert failed.value.type == "KubernetesUnauthorized"
    assert failed.value.non_retryable
    assert wrong not in str(failed.value)
    assert TOKEN not in str(failed.value)
    assert cluster.state.namespaces == {}


async def test_config_never_shows_the_token() -> None:
    config = KubernetesConfig(api_url="https://k8s.example", token=SecretStr(TOKEN))

    assert TOKEN not in repr(config)
    assert TOKEN not in str(config.model_dump())


async def test_slow_api_server_is_a_retryable_timeout(cluster: Cluster) -> None:
    cluster.state.delay_seconds = 0.5
    provisioner = KubernetesProvisioner(
        KubernetesConfig(api_url=cluster.url, token=SecretStr(TOKEN), timeout_seconds=0.1)
    )
    try:
        with pytest.raises(ApplicationError) as failed:
            await provisioner.provision(request())
    finally:
        await provisioner.aclose()

    assert failed.value.type == "KubernetesTimeout"
    assert not failed.value.non_retryable
    assert TOKEN not in str(failed.value)


async def test_unreachable_api_server_is_a_retryable_timeout() -> None:
    provisioner = KubernetesProvisioner(
        KubernetesConfig(api_url="http://127.0.0.1:9", token=SecretStr(TOKEN), timeout_seconds=1)
    )
    try:
        with pytest.raises(ApplicationError) as failed:
            await provisioner.status("liftoff-x-production")
    finally:
        await provisioner.aclose()

    assert failed.value.type == "KubernetesTimeout"
    assert not failed.value.non_retryable


async def test_deprovision_deletes_and_twice_is_harmless(cluster: Cluster) -> None:
    made = await cluster.provisioner.provision(request())

    first = await cluster.provisioner.deprovision(DeprovisionInput(ref=made.ref, reason="rollout failed"))
    second = await cluster.provisioner.deprovision(DeprovisionInput(ref=made.ref, reason="rollout failed"))

    assert first == Resource(
        ref=made.ref, provider="kubernetes", environment="production", status="terminating", cost_usd=12500.5
    )
    assert second.ref == made.ref
    assert second.status == "deprovisioned"
    assert objects(cluster) == ([], [], [])
    assert cluster.state.requests.count(f"DELETE /api/v1/namespaces/{made.ref}") == 1


async def test_deprovision_refuses_a_namespace_liftoff_does_not_manage(cluster: Cluster) -> None:
    async with httpx.AsyncClient(base_url=cluster.url, headers={"Authorization": f"Bearer {TOKEN}"}) as raw:
        await raw.post("/api/v1/namespaces", json={"kind": "Namespace", "metadata": {"name": "payments"}})

    with pytest.raises(ApplicationError) as failed:
        await cluster.provisioner.deprovision(DeprovisionInput(ref="payments"))

    assert failed.value.type == "KubernetesNamespaceConflict"
    assert failed.value.non_retryable
    assert "payments" in cluster.state.namespaces


async def test_status_reports_ready_then_terminating_then_not_found(cluster: Cluster) -> None:
    cluster.state.terminating_reads = 2  # two more GETs see it Terminating, the third finds it gone
    made = await cluster.provisioner.provision(request())

    ready = await cluster.provisioner.status(made.ref)
    await cluster.provisioner.deprovision(DeprovisionInput(ref=made.ref))
    terminating = await cluster.provisioner.status(made.ref)
    await cluster.provisioner.status(made.ref)

    assert ready.status == "ready"
    assert ready.environment == "production"
    assert ready.cost_usd == 12500.5
    assert terminating.status == "terminating"
    with pytest.raises(ApplicationError) as failed:
        await cluster.provisioner.status(made.ref)
    assert failed.value.type == "ResourceNotFound"
    assert failed.value.non_retryable


async def test_provision_while_namespace_terminates_is_retryable(cluster: Cluster) -> None:
    cluster.state.terminating_reads = 5
    made = await cluster.provisioner.provision(request())
    await cluster.provisioner.deprovision(DeprovisionInput(ref=made.ref))

    with pytest.raises(ApplicationError) as failed:
        await cluster.provisioner.provision(request())

    assert failed.value.type == "KubernetesNamespaceTerminating"
    assert not failed.value.non_retryable


async def test_renew_moves_the_expiry_annotation(cluster: Cluster) -> None:
    made = await cluster.provisioner.provision(request(environment="poc", ttl_seconds=60))
    version_before = cluster.state.namespaces[made.ref]["metadata"]["resourceVersion"]

    renewed = await cluster.provisioner.renew(RenewInput(ref=made.ref, ttl_seconds=7 * 24 * 3600))

    assert renewed == made
    metadata = cluster.state.namespaces[made.ref]["metadata"]
    expires = datetime.fromisoformat(metadata["annotations"][ANN_EXPIRES_AT])
    assert expires > datetime.now(UTC) + timedelta(days=6)
    assert metadata["annotations"][ANN_IDEMPOTENCY_KEY] == "wf-1/production"  # merge patch kept the rest
    assert metadata["resourceVersion"] != version_before
    assert "PATCH /api/v1/namespaces/" + made.ref in cluster.state.requests


async def test_renew_of_a_missing_namespace_is_resource_not_found(cluster: Cluster) -> None:
    with pytest.raises(ApplicationError) as failed:
        await cluster.provisioner.renew(RenewInput(ref="liftoff-gone-poc", ttl_seconds=60))

    assert failed.value.type == "ResourceNotFound"
    assert failed.value.non_retryable


async def test_odd_initiative_id_gets_a_valid_unique_name_and_exact_id_annotation(cluster: Cluster) -> None:
    odd = "Fraud Detection/EMEA #7"
    twin = "fraud-detection-emea-7"

    resource = await cluster.provisioner.provision(request(initiative_id=odd, idempotency_key="k-odd"))
    other = await cluster.provisioner.provision(request(initiative_id=twin, idempotency_key="k-twin"))

    assert resource.ref != other.ref
    assert resource.ref.startswith("liftoff-fraud-detection-emea-7-")
    assert resource.ref.endswith("-production")
    assert other.ref == "liftoff-fraud-detection-emea-7-production"
    metadata = cluster.state.namespaces[resource.ref]["metadata"]
    assert metadata["labels"][LABEL_INITIATIVE] == label_value(odd)
    assert metadata["annotations"][ANN_INITIATIVE_ID] == odd
    # The same odd id and key come back to the same namespace.
    assert await cluster.provisioner.provision(request(initiative_id=odd, idempotency_key="k-odd")) == resource


def test_namespace_names_are_dns_labels_of_at_most_63_characters() -> None:
    long_id = "x" * 200

    name = namespace_name(long_id, "production")

    assert len(name) <= 63
    assert name.endswith("-production")
    assert name != namespace_name("x" * 199, "production")
    assert namespace_name("abc", "poc") == "liftoff-abc-poc"
    assert namespace_name("ABC", "poc") != namespace_name("abc", "poc")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3f2a9c0d1b4e5f60", "3f2a9c0d1b4e5f60"), ("Team_A.v2", "Team_A.v2")],
)
def test_valid_label_values_are_kept_as_given(value: str, expected: str) -> None:
    assert label_value(value) == expected


def test_invalid_label_values_are_sanitized_with_a_hash() -> None:
    sanitized = label_value("-weird id!-")

    assert sanitized.startswith("weird-id-")
    assert len(sanitized) <= 63
    assert label_value("y" * 100) != label_value("y" * 101)
    assert len(label_value("y" * 100)) <= 63


def test_quota_without_gpus_uses_defaults_and_fractional_storage_in_gi() -> None:
    config = KubernetesConfig(api_url="https://k8s.example", token=SecretStr(TOKEN))

    hard = quota_hard(config, request(gpu_count=0, storage_tb=0.5))

    assert hard == {
        "requests.cpu": "4",
        "limits.cpu": "4",
        "requests.memory": "16Gi",
        "limits.memory": "16Gi",
        "requests.storage": "512Gi",
    }


def test_quantities_scale_and_storage_formats() -> None:
    assert scale_quantity("500m", 3) == "1500m"
    assert scale_quantity("64Gi", 4) == "256Gi"
    assert scale_quantity("1.5", 2) == "3"
    assert storage_quantity(2) == "2Ti"
    assert storage_quantity(1.25) == "1280Gi"


def test_config_rejects_a_quantity_kubernetes_would_not_parse() -> None:
    with pytest.raises(ValueError, match="plain Kubernetes quantity"):
        KubernetesConfig(api_url="https://k8s.example", token=SecretStr(TOKEN), memory_per_gpu="64 GB")


async def test_fake_rejects_bad_names_and_limits_on_extended_resources(cluster: Cluster) -> None:
    async with httpx.AsyncClient(base_url=cluster.url, headers={"Authorization": f"Bearer {TOKEN}"}) as raw:
        bad = await raw.post("/api/v1/namespaces", json={"kind": "Namespace", "metadata": {"name": "Bad_Name"}})
        await raw.post("/api/v1/namespaces", json={"kind": "Namespace", "metadata": {"name": "ok"}})
        gpu_limit = await raw.post(
            "/api/v1/namespaces/ok/resourcequotas",
            json={"kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {"hard": {"limits.nvidia.com/gpu": "1"}}},
        )

    assert bad.status_code == 422
    assert bad.json()["kind"] == "Status"
    assert bad.json()["reason"] == "Invalid"
    assert gpu_limit.status_code == 422


async def test_fake_answers_status_objects_for_conflicts_misses_and_bad_tokens(cluster: Cluster) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    async with httpx.AsyncClient(base_url=cluster.url, headers={"Authorization": f"Bearer {TOKEN}"}) as raw:
        created = await raw.post("/api/v1/namespaces", json=namespace)
        again = await raw.post("/api/v1/namespaces", json=namespace)
        missing = await raw.get("/api/v1/namespaces/nope")
    async with httpx.AsyncClient(base_url=cluster.url) as anonymous:
        denied = await anonymous.get("/api/v1/namespaces/team-a")

    assert created.status_code == 201
    assert created.json()["status"]["phase"] == "Active"
    assert {"uid", "resourceVersion", "creationTimestamp"} <= set(created.json()["metadata"])
    assert again.status_code == 409
    assert again.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'namespaces "team-a" already exists',
        "reason": "AlreadyExists",
        "details": {"name": "team-a", "kind": "namespaces"},
        "code": 409,
    }
    assert (missing.status_code, missing.json()["reason"]) == (404, "NotFound")
    assert (denied.status_code, denied.json()["reason"]) == (401, "Unauthorized")


def test_tls_verification_is_on_unless_insecure() -> None:
    base = {"api_url": "https://k8s.example", "token": SecretStr(TOKEN)}

    assert _verify(KubernetesConfig.model_validate(base)) is True
    assert _verify(KubernetesConfig.model_validate({**base, "insecure": True})) is False
