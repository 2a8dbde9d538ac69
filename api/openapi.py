"""The OpenAPI document, with links from a submission to everything that takes its id.

The links tell clients (and schema-driven tools such as schemathesis' stateful phase) that the ``id`` a
``POST /v1/initiatives`` answers is the ``initiative_id`` of the reads and decisions.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_SUBMIT = ("/v1/initiatives", "post", "201")


def _with_links(document: dict[str, Any]) -> dict[str, Any]:
    links: dict[str, Any] = {}
    for path, operations in document.get("paths", {}).items():
        if "{initiative_id}" not in path:
            continue
        for method, operation in operations.items():
            operation_id = operation.get("operationId")
            if operation_id:
                links[operation_id] = {
                    "operationId": operation_id,
                    "parameters": {"initiative_id": "$response.body#/id"},
                    "description": f"{method.upper()} {path} of the submitted initiative",
                }
    path, method, answer = _SUBMIT
    created = document["paths"][path][method]["responses"][answer]
    created["links"] = links
    return document


def install(app: FastAPI) -> None:
    """Serve ``app``'s OpenAPI document with the submission's links (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = _with_links(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
