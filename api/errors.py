"""Error answers in the shapes the OpenAPI document declares.

Every 422 has FastAPI's validation shape, ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}``, whether
pydantic or a route found the problem; every other error is ``{"detail": "<sentence>"}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException, status
from pydantic import BaseModel


class Problem(BaseModel):
    """Any error but 422: one sentence saying what went wrong and what to do."""

    detail: str


def unprocessable(msg: str, *, loc: Sequence[str | int] = ("body",), kind: str = "value_error") -> HTTPException:
    """A 422 in the validation shape."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{"loc": list(loc), "msg": msg, "type": kind}])


def problems(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses, each answered as a :class:`Problem` with ``described[status]``."""
    return {code: {"model": Problem, "description": description} for code, description in described.items()}


#: The error statuses any route may answer, documented on every route of the app.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = problems(
    {
        401: "No valid token",
        403: "The caller lacks the role or team",
        413: "The body is larger than the limit",
        429: "Too many failed authentications; see Retry-After",
        503: "The database, Temporal or the workflow cannot answer right now",
        504: "Temporal did not answer in time",
    }
)
