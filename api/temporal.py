"""Calling Temporal from a route: one deadline per call, and every failure translated into an HTTP answer.

A route never waits on Temporal without a deadline and never lets a Temporal failure become a 500:
404 for an unknown initiative, 413 for a payload over Temporal's size limit, 503 while Temporal (or
the initiative's workflow) cannot answer, 504 when the deadline passes. The answers are sentences; the
raw error goes to the log, not to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import Depends, HTTPException, Path, status
from temporalio.client import (
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from api.context import ApiContext, Ctx
from schemas.contract import workflow_id_for
from schemas.status import InitiativeStatusView

log = structlog.get_logger(__name__)


def is_not_found(err: BaseException) -> bool:
    """Whether ``err`` says the workflow does not exist."""
    return isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND


def not_found(initiative_id: str) -> HTTPException:
    """The 404 for an unknown initiative."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no initiative with id {initiative_id!r}")


def _too_large(err: RPCError) -> bool:
    message = err.message.lower()
    return (err.status == RPCStatusCode.INVALID_ARGUMENT and "size" in message and "limit" in message) or (
        err.status == RPCStatusCode.RESOURCE_EXHAUSTED and "larger than max" in message
    )


def timed_out(seconds: float, what: str) -> HTTPException:
    """The 504 when Temporal did not answer in time."""
    return HTTPException(
        status.HTTP_504_GATEWAY_TIMEOUT,
        f"Temporal did not answer within {seconds:g} s ({what}); it may still be applied: reload before trying again",
    )


def unavailable(err: BaseException) -> HTTPException:
    """The 503 when Temporal cannot be reached or cannot answer (never a 500); the cause goes to the log."""
    log.warning("temporal unavailable", error=type(err).__name__, detail=str(err)[:500])
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "Temporal is unavailable right now; try again in a few seconds",
        headers={"Retry-After": "5"},
    )


def translate(  # noqa: PLR0911 - one answer per kind of failure
    err: BaseException, initiative_id: str | None, seconds: float, what: str
) -> HTTPException | None:
    """The HTTP answer for a Temporal failure, or ``None`` when ``err`` is not one."""
    if isinstance(err, TimeoutError | WorkflowUpdateRPCTimeoutOrCancelledError):
        return timed_out(seconds, what)
    if isinstance(err, WorkflowQueryFailedError | WorkflowQueryRejectedError):
        log.error("initiative workflow cannot answer", initiative_id=initiative_id, error=str(err)[:500])
        return HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the initiative's workflow cannot answer right now (its worker reports an error); "
            "the operators see it in the worker log; try again later",
            headers={"Retry-After": "30"},
        )
    if isinstance(err, RPCError):
        if is_not_found(err) and initiative_id is not None:
            return not_found(initiative_id)
        if _too_large(err):
            return HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE, "the request is larger than the workflow engine accepts"
            )
        if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            return timed_out(seconds, what)
        return unavailable(err)
    return None


@contextlib.asynccontextmanager
async def temporal_call(seconds: float, what: str, initiative_id: str | None = None) -> AsyncIterator[None]:
    """Run the block with a deadline of ``seconds``; Temporal failures inside become HTTP answers."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except HTTPException:
        raise
    except (
        TimeoutError,
        RPCError,
        WorkflowQueryFailedError,
        WorkflowQueryRejectedError,
        WorkflowUpdateRPCTimeoutOrCancelledError,
    ) as err:
        answer = translate(err, initiative_id, seconds, what)
        assert answer is not None
        raise answer from err


#: An initiative id in a path: what ``POST /v1/initiatives`` answers, nothing else reaches Temporal.
InitiativeId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Initiative id")]


def handle_for(ctx: ApiContext, initiative_id: str) -> WorkflowHandle[object, InitiativeStatusView]:
    """The workflow handle of an initiative (no round trip)."""
    return ctx.client.get_workflow_handle(workflow_id_for(initiative_id), result_type=InitiativeStatusView)


async def live_status(ctx: ApiContext, initiative_id: str) -> InitiativeStatusView:
    """The initiative's status from its workflow, with the failures mapped as above."""
    async with temporal_call(ctx.temporal_timeout, "reading the initiative's status", initiative_id):
        view: InitiativeStatusView = await handle_for(ctx, initiative_id).query(
            "status", result_type=InitiativeStatusView
        )
    return view


async def _current_status(initiative_id: InitiativeId, ctx: Ctx) -> InitiativeStatusView:
    return await live_status(ctx, initiative_id)


#: A route parameter holding the live status of the initiative named in the path.
LiveStatus = Annotated[InitiativeStatusView, Depends(_current_status)]


async def require_initiative(ctx: ApiContext, initiative_id: str) -> None:
    """404 unless the initiative's workflow exists (asks the server only: no worker needs to answer)."""
    async with temporal_call(ctx.temporal_timeout, "looking the initiative up", initiative_id):
        await handle_for(ctx, initiative_id).describe()
