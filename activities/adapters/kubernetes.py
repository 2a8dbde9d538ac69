"""Kubernetes provisioner: one namespace per initiative and environment, fenced by a quota and a limit range.

Talks to the API server's REST API directly (httpx, bearer token). Documented endpoints used (Kubernetes
API reference, https://kubernetes.io/docs/reference/kubernetes-api/, core group ``v1``):

* ``POST /api/v1/namespaces`` (Namespace, "create"): answers 201 with the Namespace; ``status.phase`` is
  ``Active`` or ``Terminating``.
* ``GET /api/v1/namespaces/{name}`` (Namespace, "read").
* ``PATCH /api/v1/namespaces/{name}`` with ``Content-Type: application/merge-patch+json`` (RFC 7386 JSON
  merge patch; Namespace, "patch") for the ``liftoff.io/expires-at`` annotation.
* ``DELETE /api/v1/namespaces/{name}`` (Namespace, "delete") with a ``DeleteOptions`` body whose
  ``preconditions.uid`` pins the object we inspected; a real API server answers with the Namespace now in
  phase ``Terminating`` (the reference also allows a ``Status``), and the namespace controller removes it
  and everything in it once its finalizers are done.
* ``POST /api/v1/namespaces/{namespace}/resourcequotas`` (ResourceQuota, "create"): ``spec.hard`` with
  ``requests.cpu``/``limits.cpu``, ``requests.memory``/``limits.memory``, ``requests.storage`` and
  ``requests.nvidia.com/gpu``. Per "Resource Quotas" (concepts/policy/resource-quotas), extended resources
  cannot be overcommitted, so only the ``requests.`` prefix is allowed for them: the GPU count is quota'd as
  ``requests.nvidia.com/gpu`` alone, while CPU and memory get both requests and limits.
* ``POST /api/v1/namespaces/{namespace}/limitranges`` (LimitRange, "create"): ``spec.limits`` of type
  ``Container`` with ``default`` and ``defaultRequest``, so pods that name no resources still pass a quota
  that has ``requests.*``/``limits.*`` entries.

Failures come back as a ``Status`` object (common-definitions/status):
``{"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": ..., "reason": "AlreadyExists",
"details": {...}, "code": 409}``; reasons used here are ``AlreadyExists`` (409), ``NotFound`` (404),
``Forbidden`` (403; quota admission says ``exceeded quota: ...``, a namespace being deleted says ``unable to
create new content in namespace ... because it is being terminated``), ``Unauthorized`` (401), ``Invalid``
(422) and ``TooManyRequests`` (429 with ``Retry-After``). Everything not handled here goes through the shared
policy in :mod:`activities.adapters.http`.

Idempotency: the namespace name is derived from the initiative and environment only, so a retried create
answers 409 ``AlreadyExists``; we then read the namespace and accept it only if its labels and annotations
say it was made for the same initiative with the same idempotency key. The quota and limit range have fixed
names inside that namespace, so their 409s mean "already done". A retry after an ambiguous 500 or timeout
therefore ends with exactly one namespace, one quota and one limit range.

Kubernetes forgets deleted namespaces: once one is gone, ``deprovision`` reports ``deprovisioned`` (with an
empty environment, which only the deleted object knew), while ``status`` and ``renew`` raise the
non-retryable ``ResourceNotFound`` that the built-in provisioner raises for unknown refs.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator
from temporalio.exceptions import ApplicationError

from activities.adapters.http import check, timeout_error
from schemas.integrations import DeprovisionInput, ProvisionInput, RenewInput, Resource

SYSTEM = "Kubernetes"
PROVIDER = "kubernetes"
NAME_PREFIX = "liftoff"
NAME_MAX = 63  # a namespace name is a DNS-1123 label
LABEL_VALUE_MAX = 63
HASH_LEN = 8

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "liftoff"
LABEL_INITIATIVE = "liftoff.io/initiative"
LABEL_ENVIRONMENT = "liftoff.io/environment"
ANN_INITIATIVE_ID = "liftoff.io/initiative-id"
ANN_ENVIRONMENT = "liftoff.io/environment"
ANN_IDEMPOTENCY_KEY = "liftoff.io/idempotency-key"
ANN_EXPIRES_AT = "liftoff.io/expires-at"
ANN_BUDGET_USD = "liftoff.io/budget-usd"
ANN_GPU_TYPE = "liftoff.io/gpu-type"

QUOTA_NAME = "liftoff-quota"
LIMITS_NAME = "liftoff-limits"
GPU_RESOURCE = "nvidia.com/gpu"
MERGE_PATCH = "application/merge-patch+json"

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")

#: Container defaults of the limit range: small enough for the default quota, big enough for a sidecar.
CONTAINER_DEFAULT_LIMIT = {"cpu": "1", "memory": "2Gi"}
CONTAINER_DEFAULT_REQUEST = {"cpu": "250m", "memory": "512Mi"}


class KubernetesConfig(BaseModel):
    """Where and as whom to reach the API server, and how big a namespace's quota is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_url: str
    token: SecretStr
    ca_file: Path | None = None
    insecure: bool = False
    timeout_seconds: float = 10
    cpu_per_gpu: str = "8"
    memory_per_gpu: str = "64Gi"
    default_cpu: str = "4"
    default_memory: str = "16Gi"

    @field_validator("cpu_per_gpu", "memory_per_gpu", "default_cpu", "default_memory")
    @classmethod
    def _quantity(cls, value: str) -> str:
        if not _QUANTITY.match(value):
            msg = f"{value!r} is not a plain Kubernetes quantity such as '8', '500m' or '64Gi'"
            raise ValueError(msg)
        return value


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:HASH_LEN]


def _dns_label_part(value: str) -> str:
    """Lower-case ``value`` and squeeze every run of characters a DNS-1123 label forbids into one ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")


def namespace_name(initiative_id: str, environment: str) -> str:
    """``liftoff-<initiative>-<environment>``, a valid DNS-1123 label of at most 63 characters.

    When sanitizing changes either part (or the name is too long), a short hash of the exact pair follows
    the initiative part, so two ids that sanitize alike still get different namespaces.
    """
    id_part = _dns_label_part(initiative_id)
    env_part = _dns_label_part(environment)
    name = "-".join(p for p in (NAME_PREFIX, id_part, env_part) if p)
    if id_part == initiative_id and env_part == environment and len(name) <= NAME_MAX and id_part and env_part:
        return name
    digest = _short_hash(initiative_id, environment)
    env_part = env_part[: NAME_MAX // 4].strip("-")
    room = NAME_MAX - len(NAME_PREFIX) - len(digest) - (len(env_part) + 1 if env_part else 0) - 2
    id_part = id_part[:room].strip("-")
    return "-".join(p for p in (NAME_PREFIX, id_part, digest, env_part) if p)


def label_value(value: str) -> str:
    """``value`` itself when it is a valid label value, else a sanitized form with a short hash of it."""
    if len(value) <= LABEL_VALUE_MAX and _LABEL_VALUE.match(value):
        return value
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", value)
    cleaned = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)
    cleaned = cleaned[: LABEL_VALUE_MAX - HASH_LEN - 1]
    cleaned = re.sub(r"[^A-Za-z0-9]+$", "", cleaned)
    digest = _short_hash(value)
    return f"{cleaned}-{digest}" if cleaned else digest


def scale_quantity(quantity: str, factor: int) -> str:
    """``quantity`` times ``factor``, keeping its suffix (``"64Gi"`` x 2 is ``"128Gi"``)."""
    match = _QUANTITY.match(quantity)
    if match is None:
        msg = f"not a plain Kubernetes quantity: {quantity!r}"
        raise ValueError(msg)
    try:
        number = Decimal(match.group(1)) * factor
    except InvalidOperation as err:  # pragma: no cover - the regex admits only decimals
        raise ValueError(quantity) from err
    text = format(number.normalize(), "f")
    return f"{text}{match.group(2) or ''}"


def storage_quantity(storage_tb: float) -> str:
    """Storage as ``"<n>Ti"`` when whole tebibytes, else rounded up to whole ``Gi``."""
    if float(storage_tb).is_integer():
        return f"{int(storage_tb)}Ti"
    gib = Decimal(str(storage_tb)) * 1024
    return f"{int(gib.to_integral_value(rounding='ROUND_CEILING'))}Gi"


def quota_hard(config: KubernetesConfig, inp: ProvisionInput) -> dict[str, str]:
    """The quota's ``spec.hard`` for a request: GPUs, CPU and memory per GPU (or defaults), storage."""
    if inp.gpu_count > 0:
        cpu = scale_quantity(config.cpu_per_gpu, inp.gpu_count)
        memory = scale_quantity(config.memory_per_gpu, inp.gpu_count)
    else:
        cpu, memory = config.default_cpu, config.default_memory
    hard = {"requests.cpu": cpu, "limits.cpu": cpu, "requests.memory": memory, "limits.memory": memory}
    if inp.gpu_count > 0:
        # Extended resources admit only the requests. prefix in a quota (no overcommit): see module docstring.
        hard[f"requests.{GPU_RESOURCE}"] = str(inp.gpu_count)
    if inp.storage_tb > 0:
        hard["requests.storage"] = storage_quantity(inp.storage_tb)
    return hard


def _status_body(response: httpx.Response) -> dict[str, Any]:
    """The ``Status`` object of a failed call, or ``{}`` when the body is something else."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) and body.get("kind") == "Status" else {}


def _is_quota_refusal(response: httpx.Response) -> bool:
    return response.status_code == 403 and "exceeded quota" in str(_status_body(response).get("message", ""))


def _is_terminating_refusal(response: httpx.Response) -> bool:
    status = _status_body(response)
    causes = (status.get("details") or {}).get("causes") or []
    if any(isinstance(c, dict) and c.get("reason") == "NamespaceTerminating" for c in causes):
        return True
    return response.status_code == 403 and "being terminated" in str(status.get("message", ""))


def _verify(config: KubernetesConfig) -> ssl.SSLContext | bool:
    if config.insecure:
        return False
    if config.ca_file is not None:
        return ssl.create_default_context(cafile=str(config.ca_file))
    return True


class KubernetesProvisioner:
    """Environments as Kubernetes namespaces with a ResourceQuota and a LimitRange.

    An injected ``client`` keeps its own TLS settings; the one built here verifies against ``ca_file``
    (or the system roots), or not at all when ``insecure``.
    """

    def __init__(self, config: KubernetesConfig, client: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._base = config.api_url.rstrip("/")
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(verify=_verify(config))
        # Sent on every request so an injected client still authenticates; never formatted into messages.
        self._headers = {
            "Authorization": f"Bearer {config.token.get_secret_value()}",
            "Accept": "application/json",
        }

    async def aclose(self) -> None:
        """Close the HTTP client if this adapter created it."""
        if self._owns_client:
            await self._client.aclose()

    async def provision(self, inp: ProvisionInput) -> Resource:
        """Create the namespace, its quota and limit range; a retry with the same key finds the first one."""
        name = namespace_name(inp.initiative_id, inp.environment)
        namespace = await self._create_namespace(name, inp)
        if namespace.get("status", {}).get("phase") == "Terminating":
            raise ApplicationError(
                f"Kubernetes namespace {name} is still being deleted; will retry once it is gone",
                type="KubernetesNamespaceTerminating",
            )
        await self._create_quota(name, inp)
        await self._create_in_namespace(
            name,
            "limitranges",
            {
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": {"name": LIMITS_NAME, "labels": {MANAGED_BY: MANAGER}},
                "spec": {
                    "limits": [
                        {
                            "type": "Container",
                            "default": dict(CONTAINER_DEFAULT_LIMIT),
                            "defaultRequest": dict(CONTAINER_DEFAULT_REQUEST),
                        }
                    ]
                },
            },
        )
        return self._resource(namespace, cost_usd=inp.budget_usd)

    async def deprovision(self, inp: DeprovisionInput) -> Resource:
        """Delete the namespace (Kubernetes deletes its contents); deleting a gone namespace is harmless."""
        found = await self._get_namespace(inp.ref)
        if found is None:
            return Resource(ref=inp.ref, provider=PROVIDER, environment="", status="deprovisioned")
        if found.get("metadata", {}).get("labels", {}).get(MANAGED_BY) != MANAGER:
            raise ApplicationError(
                f"Kubernetes namespace {inp.ref} is not managed by liftoff; refusing to delete it",
                type="KubernetesNamespaceConflict",
                non_retryable=True,
            )
        options = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "preconditions": {"uid": found["metadata"]["uid"]},
        }
        response = await self._send("DELETE", self._namespace_path(inp.ref), json=options)
        if response.status_code == 404:
            return self._resource(found, status="deprovisioned")
        body = check(response, SYSTEM).json()
        if isinstance(body, dict) and body.get("kind") == "Namespace":
            return self._resource(body)
        return self._resource(found, status="deprovisioned")

    async def status(self, ref: str) -> Resource:
        """The namespace's state: ``ready`` (Active) or ``terminating``."""
        found = await self._get_namespace(ref)
        if found is None:
            raise ApplicationError(f"no Kubernetes namespace {ref}", type="ResourceNotFound", non_retryable=True)
        return self._resource(found)

    async def renew(self, inp: RenewInput) -> Resource:
        """Move the ``liftoff.io/expires-at`` annotation to ``ttl_seconds`` from now (JSON merge patch)."""
        expires = _iso(datetime.now(UTC) + timedelta(seconds=inp.ttl_seconds))
        patch = {"metadata": {"annotations": {ANN_EXPIRES_AT: expires}}}
        response = await self._send(
            "PATCH", self._namespace_path(inp.ref), json=patch, headers={"Content-Type": MERGE_PATCH}
        )
        if response.status_code == 404:
            raise ApplicationError(f"no Kubernetes namespace {inp.ref}", type="ResourceNotFound", non_retryable=True)
        return self._resource(check(response, SYSTEM).json())

    async def _create_namespace(self, name: str, inp: ProvisionInput) -> dict[str, Any]:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": self._namespace_metadata(name, inp)}
        response = await self._send("POST", "/api/v1/namespaces", json=body)
        if response.status_code != 409:
            created: dict[str, Any] = check(response, SYSTEM).json()
            return created
        # AlreadyExists: our own earlier attempt (its answer lost to a 500 or a timeout), or someone else's.
        existing = await self._get_namespace(name)
        if existing is None:  # deleted between our POST and GET; the retry will create it afresh
            raise ApplicationError(
                f"Kubernetes namespace {name} vanished while being checked; will retry",
                type="KubernetesNamespaceTerminating",
            )
        self._check_owner(name, existing, inp)
        return existing

    def _check_owner(self, name: str, existing: dict[str, Any], inp: ProvisionInput) -> None:
        metadata = existing.get("metadata", {})
        labels: dict[str, str] = metadata.get("labels") or {}
        annotations: dict[str, str] = metadata.get("annotations") or {}
        same = (
            labels.get(MANAGED_BY) == MANAGER
            and labels.get(LABEL_INITIATIVE) == label_value(inp.initiative_id)
            and annotations.get(ANN_INITIATIVE_ID, inp.initiative_id) == inp.initiative_id
            and annotations.get(ANN_IDEMPOTENCY_KEY) == inp.idempotency_key
        )
        if not same:
            owner = labels.get(LABEL_INITIATIVE) or labels.get(MANAGED_BY) or "an unknown owner"
            raise ApplicationError(
                f"Kubernetes namespace {name} already exists and belongs to {owner}, "
                f"not to initiative {inp.initiative_id} with this idempotency key",
                type="KubernetesNamespaceConflict",
                non_retryable=True,
            )

    async def _create_quota(self, namespace: str, inp: ProvisionInput) -> None:
        quota = {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": QUOTA_NAME, "labels": {MANAGED_BY: MANAGER}},
            "spec": {"hard": quota_hard(self._config, inp)},
        }
        try:
            await self._create_in_namespace(namespace, "resourcequotas", quota)
        except _QuotaRefusedError as refused:
            # Nothing will use a namespace without its quota, and the saga has no resource to compensate yet.
            cleanup = await self._delete_quietly(namespace)
            raise ApplicationError(
                f"Kubernetes refused the quota for {inp.gpu_count} GPU(s) in {namespace}: {refused.message}; {cleanup}",
                type="CapacityQuotaUnavailable",
                non_retryable=True,
            ) from None

    async def _create_in_namespace(self, namespace: str, plural: str, body: dict[str, Any]) -> None:
        response = await self._send("POST", f"{self._namespace_path(namespace)}/{plural}", json=body)
        if response.status_code == 409 and _status_body(response).get("reason") == "AlreadyExists":
            return  # fixed name inside our namespace: an earlier attempt already made it
        if _is_quota_refusal(response):
            raise _QuotaRefusedError(str(_status_body(response).get("message", "")))
        if _is_terminating_refusal(response):
            raise ApplicationError(
                f"Kubernetes namespace {namespace} is being deleted; will retry once it is gone",
                type="KubernetesNamespaceTerminating",
            )
        check(response, SYSTEM)

    async def _delete_quietly(self, namespace: str) -> str:
        """Delete a namespace we just made; say what happened instead of raising over the real error."""
        try:
            response = await self._send("DELETE", self._namespace_path(namespace))
        except ApplicationError as err:
            return f"deleting namespace {namespace} failed ({err.type}); delete it by hand"
        if response.is_success or response.status_code == 404:
            return f"namespace {namespace} deleted"
        return f"deleting namespace {namespace} failed ({response.status_code}); delete it by hand"

    async def _get_namespace(self, name: str) -> dict[str, Any] | None:
        response = await self._send("GET", self._namespace_path(name))
        if response.status_code == 404:
            return None
        found: dict[str, Any] = check(response, SYSTEM).json()
        return found

    def _namespace_metadata(self, name: str, inp: ProvisionInput) -> dict[str, Any]:
        initiative_label = label_value(inp.initiative_id)
        labels = {
            MANAGED_BY: MANAGER,
            LABEL_INITIATIVE: initiative_label,
            LABEL_ENVIRONMENT: label_value(inp.environment),
        }
        annotations = {
            ANN_IDEMPOTENCY_KEY: inp.idempotency_key,
            ANN_ENVIRONMENT: inp.environment,
            ANN_BUDGET_USD: format(Decimal(str(inp.budget_usd)).normalize(), "f"),
        }
        if initiative_label != inp.initiative_id:
            annotations[ANN_INITIATIVE_ID] = inp.initiative_id
        if inp.ttl_seconds:
            annotations[ANN_EXPIRES_AT] = _iso(datetime.now(UTC) + timedelta(seconds=inp.ttl_seconds))
        if inp.gpu_type:
            annotations[ANN_GPU_TYPE] = inp.gpu_type
        return {"name": name, "labels": labels, "annotations": annotations}

    @staticmethod
    def _resource(namespace: dict[str, Any], status: str | None = None, cost_usd: float | None = None) -> Resource:
        metadata = namespace.get("metadata", {})
        labels: dict[str, str] = metadata.get("labels") or {}
        annotations: dict[str, str] = metadata.get("annotations") or {}
        if status is None:
            terminating = namespace.get("status", {}).get("phase") == "Terminating" or metadata.get("deletionTimestamp")
            status = "terminating" if terminating else "ready"
        if cost_usd is None:
            try:
                cost_usd = float(annotations.get(ANN_BUDGET_USD, "0"))
            except ValueError:
                cost_usd = 0.0
        return Resource(
            ref=str(metadata.get("name", "")),
            provider=PROVIDER,
            environment=annotations.get(ANN_ENVIRONMENT) or labels.get(LABEL_ENVIRONMENT, ""),
            status=status,
            cost_usd=cost_usd,
        )

    @staticmethod
    def _namespace_path(name: str) -> str:
        return "/api/v1/namespaces/" + quote(name, safe="")

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One request; transport failures become the retryable ``KubernetesTimeout``."""
        try:
            return await self._client.request(
                method,
                self._base + path,
                json=json,
                headers={**self._headers, **(headers or {})},
                timeout=self._config.timeout_seconds,
            )
        except httpx.TransportError as err:  # timeouts are transport errors too
            raise timeout_error(SYSTEM, err) from err


class _QuotaRefusedError(Exception):
    """Quota admission refused the ResourceQuota (403 ``exceeded quota``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
