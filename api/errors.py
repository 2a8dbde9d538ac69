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


#: The error statuses any route may answer, documented on every route of the app.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid token"},
    403: {"model": Problem, "description": "The caller lacks the role or team"},
    413: {"model": Problem, "description": "The body is larger than the limit"},
    429: {"model": Problem, "description": "Too many failed authentications; see Retry-After"},
    503: {"model": Problem, "description": "The database, Temporal or the workflow cannot answer right now"},
    504: {"model": Problem, "description": "Temporal did not answer in time"},
}
