"""Translating Temporal client errors into HTTP answers."""

from __future__ import annotations

from fastapi import HTTPException, status
from temporalio.service import RPCError, RPCStatusCode


def is_not_found(err: BaseException) -> bool:
    """Whether ``err`` says the workflow does not exist."""
    return isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND


def not_found(initiative_id: str) -> HTTPException:
    """The 404 for an unknown initiative."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no initiative with id {initiative_id!r}")


def unavailable(err: BaseException) -> HTTPException:
    """The 503 when Temporal cannot be reached (never a 500)."""
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"Temporal is unavailable: {err}")
