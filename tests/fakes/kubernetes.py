"""A fake Kubernetes API server: namespaces, resource quotas and limit ranges of the core ``v1`` group.

It speaks the contract of the Kubernetes API reference (https://kubernetes.io/docs/reference/kubernetes-api/):
objects carry ``metadata.name/labels/annotations/uid/resourceVersion/creationTimestamp``; creates answer
201; failures answer a ``Status`` object (``{"kind": "Status", "apiVersion": "v1", "status": "Failure",
"message", "reason", "details", "code"}``) with reasons ``AlreadyExists`` (409), ``NotFound`` (404),
``Unauthorized`` (401, wrong or missing bearer token), ``Invalid`` (422, e.g. a name that is not a DNS-1123
label, a bad label value, or a ``limits.`` quota on an extended resource, which the API forbids),
``Forbidden`` (403), ``Conflict`` (409, failed delete precondition) and ``UnsupportedMediaType`` (415, a
PATCH that is not a JSON or strategic merge patch).

Where the fake simplifies, on purpose:

* Deletion: ``DELETE /api/v1/namespaces/{name}`` answers 200 with the Namespace in phase ``Terminating``
  (with ``deletionTimestamp``), as a real API server does while the namespace controller works. The fake's
  "controller" then finishes after ``terminating_reads`` more GETs of that namespace (default 0: the next GET
  already answers 404); the namespace's quotas and limit ranges go with it. While terminating, creating
  content in it answers 403 ``unable to create new content in namespace ... because it is being terminated``
  (cause ``NamespaceTerminating``), and creating it again answers 409 ``AlreadyExists``, as in Kubernetes.
* Capacity: a real cluster does not refuse a ResourceQuota for more GPUs than it has. As our stand-in for a
  cluster without capacity, the fake keeps ``gpu_capacity`` and answers 403 Forbidden with an ``exceeded
  quota`` message (the wording of quota admission) to a ResourceQuota whose ``requests.nvidia.com/gpu`` is
  more than the GPUs not already promised to other quotas. Names are checked first, so re-creating an
  existing quota answers 409, not 403.

Fault injection: ``fail_next(status, ...)`` makes the next matching requests answer ``status`` (with
``apply_first=True`` the request takes effect first and only its answer is lost: the ambiguous failure);
``delay_seconds`` delays every answer, for client timeouts.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUANTITY = re.compile(r"^([+-]?[0-9]+(?:\.[0-9]*)?|[+-]?\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_LABEL_ERR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_LABEL_VALUE_ERR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
GPU_QUOTA = "requests.nvidia.com/gpu"
MERGE_PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")


@dataclass
class _Fault:
    status: int
    times: int
    retry_after: int | None
    apply_first: bool
    method: str | None
    path_suffix: str | None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_suffix is None or path.endswith(self.path_suffix)


@dataclass
class FakeKubernetesState:
    """What the fake API server holds; tests read and tweak it directly."""

    token: str
    gpu_capacity: int = 8
    delay_seconds: float = 0
    terminating_reads: int = 0
    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    resourcequotas: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    limitranges: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _resource_version: int = 1000
    _reads_left: dict[str, int] = field(default_factory=dict)

    def fail_next(
        self,
        status: int,
        times: int = 1,
        retry_after: int | None = None,
        apply_first: bool = False,
        *,
        method: str | None = None,
        path_suffix: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``.

        ``method`` and ``path_suffix`` narrow which requests match (default: any).

        With ``apply_first`` the request is carried out and only its answer replaced, like a server that
        committed the change and then failed (or a load balancer that timed out) before answering.
        """
        self._faults.append(_Fault(status, times, retry_after, apply_first, method, path_suffix))

    def gpus_promised(self, except_namespace: str | None = None) -> int:
        """GPUs in the ``requests.nvidia.com/gpu`` of every quota (outside ``except_namespace``)."""
        total = 0
        for namespace, quotas in self.resourcequotas.items():
            if namespace == except_namespace:
                continue
            for quota in quotas.values():
                total += int(_quantity(str(quota["spec"].get("hard", {}).get(GPU_QUOTA, "0"))))
        return total

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _next_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def _finish_termination(self, name: str) -> None:
        self.namespaces.pop(name, None)
        self.resourcequotas.pop(name, None)
        self.limitranges.pop(name, None)
        self._reads_left.pop(name, None)


def _quantity(text: str) -> Decimal:
    match = _QUANTITY.match(text)
    if match is None:
        msg = f"quantities must match the regular expression {_QUANTITY.pattern!r}"
        raise ValueError(msg)
    number = Decimal(match.group(1))
    suffix = match.group(2) or ""
    binary = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
    decimal = {"k": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
    if suffix == "m":
        return number / 1000
    if suffix in binary:
        return number * Decimal(1024) ** binary[suffix]
    if suffix in decimal:
        return number * Decimal(1000) ** decimal[suffix]
    return number


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_response(
    code: int,
    message: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A ``Status`` failure answer, as the API server sends it."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason if reason is not None else _REASONS.get(code, ""),
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=code, headers=headers)


def _not_found(plural: str, name: str) -> JSONResponse:
    return status_response(404, f'{plural} "{name}" not found', details={"name": name, "kind": plural})


def _already_exists(plural: str, name: str) -> JSONResponse:
    return status_response(
        409, f'{plural} "{name}" already exists', "AlreadyExists", details={"name": name, "kind": plural}
    )


def _invalid(kind: str, name: str, field_path: str, value: object, why: str) -> JSONResponse:
    message = f'{kind} "{name}" is invalid: {field_path}: Invalid value: {json.dumps(value)}: {why}'
    cause = {
        "reason": "FieldValueInvalid",
        "message": f"Invalid value: {json.dumps(value)}: {why}",
        "field": field_path,
    }
    return status_response(422, message, "Invalid", details={"name": name, "kind": kind, "causes": [cause]})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _check_metadata(kind: str, body: dict[str, Any], dns_label: bool) -> tuple[str, JSONResponse | None]:
    """The object's name, or a 422 answer when the name or a label value is invalid."""
    metadata = body.get("metadata") or {}
    name = str(metadata.get("name", ""))
    pattern = _DNS1123_LABEL if dns_label else _DNS1123_SUBDOMAIN
    limit = 63 if dns_label else 253
    if not name:
        return name, _invalid(kind, name, "metadata.name", name, "name or generateName is required")
    if len(name) > limit or not pattern.match(name):
        return name, _invalid(kind, name, "metadata.name", name, _LABEL_ERR)
    for key, value in (metadata.get("labels") or {}).items():
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            return name, _invalid(kind, name, f"metadata.labels[{key}]", value, _LABEL_VALUE_ERR)
    for key, value in (metadata.get("annotations") or {}).items():
        if not isinstance(value, str):
            return name, _invalid(kind, name, f"metadata.annotations[{key}]", value, "must be a string")
    return name, None


Store = dict[str, dict[str, dict[str, Any]]]


class _FakeApi:
    """The route handlers, over one ``FakeKubernetesState``."""

    def __init__(self, state: FakeKubernetesState) -> None:
        self.state = state

    async def auth_faults_and_delay(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        state = self.state
        state.requests.append(f"{request.method} {request.url.path}")
        if state.delay_seconds:
            await asyncio.sleep(state.delay_seconds)
        if request.headers.get("authorization") != f"Bearer {state.token}":
            return status_response(401, "Unauthorized")
        fault = state._take_fault(request.method, request.url.path)
        if fault is None:
            return await call_next(request)
        if fault.apply_first:
            lost = await call_next(request)
            # Drain the real answer so the handler finishes; only the client loses it.
            body_iterator = getattr(lost, "body_iterator", None)
            if body_iterator is not None:
                async for _ in body_iterator:
                    pass
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
        details = {"retryAfterSeconds": fault.retry_after} if fault.retry_after is not None else None
        return status_response(fault.status, f"injected failure {fault.status}", details=details, headers=headers)

    def visible_namespace(self, name: str) -> dict[str, Any] | None:
        """The namespace as a GET sees it; a terminating one vanishes once its reads are used up."""
        state = self.state
        namespace = state.namespaces.get(name)
        if namespace is None:
            return None
        if name in state._reads_left:
            if state._reads_left[name] <= 0:
                state._finish_termination(name)
                return None
            state._reads_left[name] -= 1
        return namespace

    async def create_namespace(self, request: Request) -> Response:
        body = await request.json()
        name, invalid = _check_metadata("Namespace", body, dns_label=True)
        if invalid is not None:
            return invalid
        if name in self.state.namespaces:
            return _already_exists("namespaces", name)
        metadata = body.get("metadata") or {}
        namespace = {
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "uid": str(uuid.uuid4()),
                "resourceVersion": self.state._next_version(),
                "creationTimestamp": _now(),
                "labels": {**(metadata.get("labels") or {}), "kubernetes.io/metadata.name": name},
                "annotations": dict(metadata.get("annotations") or {}),
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }
        self.state.namespaces[name] = namespace
        return JSONResponse(namespace, status_code=201)

    async def read_namespace(self, name: str) -> Response:
        namespace = self.visible_namespace(name)
        if namespace is None:
            return _not_found("namespaces", name)
        return JSONResponse(namespace)

    async def patch_namespace(self, name: str, request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type not in MERGE_PATCH_TYPES:
            accepted = ", ".join(MERGE_PATCH_TYPES)
            return status_response(
                415, f"the body of the request was in an unknown format - accepted media types include: {accepted}"
            )
        namespace = self.visible_namespace(name)
        if namespace is None:
            return _not_found("namespaces", name)
        patched = merge_patch(namespace, await request.json())
        if patched["metadata"].get("name") != name:
            return _invalid("Namespace", name, "metadata.name", patched["metadata"].get("name"), "field is immutable")
        _, invalid = _check_metadata("Namespace", patched, dns_label=True)
        if invalid is not None:
            return invalid
        patched["kind"], patched["apiVersion"] = "Namespace", "v1"
        for kept in ("uid", "creationTimestamp"):
            patched["metadata"][kept] = namespace["metadata"][kept]
        patched["status"] = namespace["status"]  # the main resource's PATCH ignores status
        patched["metadata"]["resourceVersion"] = self.state._next_version()
        self.state.namespaces[name] = patched
        return JSONResponse(patched)

    async def delete_namespace(self, name: str, request: Request) -> Response:
        state = self.state
        namespace = self.visible_namespace(name)
        if namespace is None:
            return _not_found("namespaces", name)
        raw = await request.body()
        options = json.loads(raw) if raw else {}
        wanted_uid = (options.get("preconditions") or {}).get("uid")
        if wanted_uid is not None and wanted_uid != namespace["metadata"]["uid"]:
            return status_response(
                409,
                f'Operation cannot be fulfilled on namespaces "{name}": Precondition failed: '
                f"UID in precondition: {wanted_uid}, UID in object meta: {namespace['metadata']['uid']}",
                "Conflict",
                details={"name": name, "kind": "namespaces"},
            )
        if namespace["status"]["phase"] != "Terminating":
            namespace["status"] = {"phase": "Terminating"}
            namespace["metadata"]["deletionTimestamp"] = _now()
            namespace["metadata"]["resourceVersion"] = state._next_version()
            state._reads_left[name] = state.terminating_reads
        answer = json.loads(json.dumps(namespace))
        if state.terminating_reads <= 0:
            state._finish_termination(name)
        return JSONResponse(answer)

    def refuse_create(self, plural: str, namespace: str, name: str, body: dict[str, Any]) -> JSONResponse | None:
        """Why a namespaced create cannot happen (wrong or missing or terminating namespace), if it cannot."""
        given_ns = (body.get("metadata") or {}).get("namespace")
        if given_ns not in (None, namespace):
            return status_response(
                400, "the namespace of the provided object does not match the namespace sent on the request"
            )
        owner = self.visible_namespace(namespace)
        if owner is None:
            return _not_found("namespaces", namespace)
        if owner["status"]["phase"] == "Terminating":
            message = (
                f'{plural} "{name}" is forbidden: unable to create new content in namespace {namespace} '
                "because it is being terminated"
            )
            cause = {"reason": "NamespaceTerminating", "message": message, "field": "metadata.namespace"}
            return status_response(403, message, details={"name": name, "kind": plural, "causes": [cause]})
        return None

    def namespaced_create(
        self,
        plural: str,
        kind: str,
        store: Store,
        validate: Callable[[str, dict[str, Any]], JSONResponse | None],
    ) -> Callable[[str, Request], Awaitable[Response]]:
        """The POST handler of one namespaced kind: names first, then the kind's own validation."""

        async def create(namespace: str, request: Request) -> Response:
            body = await request.json()
            name, refused = _check_metadata(kind, body, dns_label=False)
            refused = refused or self.refuse_create(plural, namespace, name, body)
            if refused is None and name in store.get(namespace, {}):
                refused = _already_exists(plural, name)
            refused = refused or validate(name, body)
            if refused is not None:
                return refused
            metadata = body.get("metadata") or {}
            created: dict[str, Any] = {
                "kind": kind,
                "apiVersion": "v1",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "uid": str(uuid.uuid4()),
                    "resourceVersion": self.state._next_version(),
                    "creationTimestamp": _now(),
                    "labels": dict(metadata.get("labels") or {}),
                    "annotations": dict(metadata.get("annotations") or {}),
                },
                "spec": body.get("spec") or {},
            }
            if kind == "ResourceQuota":
                hard = dict(created["spec"].get("hard") or {})
                created["status"] = {"hard": hard, "used": dict.fromkeys(hard, "0")}
            store.setdefault(namespace, {})[name] = created
            return JSONResponse(created, status_code=201)

        return create

    def namespaced_list(self, kind: str, store: Store) -> Callable[[str], Awaitable[Response]]:
        """The list handler of one namespaced kind."""

        async def list_all(namespace: str) -> Response:
            found = self.visible_namespace(namespace) is not None
            items = list(store.get(namespace, {}).values()) if found else []
            list_meta = {"resourceVersion": str(self.state._resource_version)}
            return JSONResponse({"kind": f"{kind}List", "apiVersion": "v1", "metadata": list_meta, "items": items})

        return list_all

    def namespaced_read(self, plural: str, store: Store) -> Callable[[str, str], Awaitable[Response]]:
        """The read handler of one namespaced kind."""

        async def read(namespace: str, name: str) -> Response:
            found = store.get(namespace, {}).get(name) if self.visible_namespace(namespace) is not None else None
            if found is None:
                return _not_found(plural, name)
            return JSONResponse(found)

        return read

    def validate_quota(self, name: str, body: dict[str, Any]) -> JSONResponse | None:
        """Quantities parse, extended resources only under ``requests.``, and the GPUs fit the capacity."""
        hard: dict[str, Any] = (body.get("spec") or {}).get("hard") or {}
        for resource, value in hard.items():
            path = f"spec.hard[{resource}]"
            try:
                _quantity(str(value))
            except ValueError as err:
                return _invalid("ResourceQuota", name, path, value, str(err))
            if resource.startswith("limits.") and "/" in resource and "kubernetes.io/" not in resource:
                why = "must be a standard resource for quota (extended resources allow only the requests. prefix)"
                return _invalid("ResourceQuota", name, path, resource, why)
        wanted = int(_quantity(str(hard.get(GPU_QUOTA, "0"))))
        used = self.state.gpus_promised()
        limited = self.state.gpu_capacity
        if wanted and used + wanted > limited:
            message = (
                f'resourcequotas "{name}" is forbidden: exceeded quota: cluster-gpu-capacity, '
                f"requested: {GPU_QUOTA}={wanted}, used: {GPU_QUOTA}={used}, limited: {GPU_QUOTA}={limited}"
            )
            return status_response(403, message, details={"name": name, "kind": "resourcequotas"})
        return None

    @staticmethod
    def validate_limits(name: str, body: dict[str, Any]) -> JSONResponse | None:
        """At least one item, a known type, and quantities that parse."""
        limits = (body.get("spec") or {}).get("limits")
        if not isinstance(limits, list) or not limits:
            return _invalid("LimitRange", name, "spec.limits", limits, "Required value")
        for index, item in enumerate(limits):
            if item.get("type") not in ("Container", "Pod", "PersistentVolumeClaim"):
                return _invalid("LimitRange", name, f"spec.limits[{index}].type", item.get("type"), "unsupported value")
            for section in ("default", "defaultRequest", "max", "min", "maxLimitRequestRatio"):
                for resource, value in (item.get(section) or {}).items():
                    try:
                        _quantity(str(value))
                    except ValueError as err:
                        path = f"spec.limits[{index}].{section}[{resource}]"
                        return _invalid("LimitRange", name, path, value, str(err))
        return None


def create_fake_kubernetes(
    token: str = "fake-token",  # noqa: S107 - a fake server's test credential
    gpu_capacity: int = 8,
) -> tuple[FastAPI, FakeKubernetesState]:
    """Build the fake API server and the state behind it."""
    state = FakeKubernetesState(token=token, gpu_capacity=gpu_capacity)
    api = _FakeApi(state)
    app = FastAPI(title="fake Kubernetes API server")
    app.middleware("http")(api.auth_faults_and_delay)
    app.add_api_route("/api/v1/namespaces", api.create_namespace, methods=["POST"])
    app.add_api_route("/api/v1/namespaces/{name}", api.read_namespace, methods=["GET"])
    app.add_api_route("/api/v1/namespaces/{name}", api.patch_namespace, methods=["PATCH"])
    app.add_api_route("/api/v1/namespaces/{name}", api.delete_namespace, methods=["DELETE"])
    kinds: list[tuple[str, str, Store, Callable[[str, dict[str, Any]], JSONResponse | None]]] = [
        ("resourcequotas", "ResourceQuota", state.resourcequotas, api.validate_quota),
        ("limitranges", "LimitRange", state.limitranges, api.validate_limits),
    ]
    for plural, kind, store, validate in kinds:
        collection = f"/api/v1/namespaces/{{namespace}}/{plural}"
        app.add_api_route(collection, api.namespaced_create(plural, kind, store, validate), methods=["POST"])
        app.add_api_route(collection, api.namespaced_list(kind, store), methods=["GET"])
        app.add_api_route(collection + "/{name}", api.namespaced_read(plural, store), methods=["GET"])
    return app, state
