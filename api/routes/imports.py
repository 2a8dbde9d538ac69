"""Bringing existing initiatives in: ``POST /v1/imports`` (JSON Lines) and ``GET /v1/imports/{id}`` (progress)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict

from api.context import Caller, Ctx
from api.errors import problems, unprocessable
from api.imports import check_lines
from db import imports_repo
from db.imports_repo import LineError
from schemas.imports import MAX_LINE_BYTES, MAX_LINES
from schemas.stages import Role

router = APIRouter(prefix="/v1/imports", tags=["imports"])

#: The most invalid lines an answer lists (the progress page has them all, by line).
MAX_LISTED = 1000

ImportId = Annotated[str, Path(pattern=r"^import-[0-9a-f]{16}$", description="Import id")]


class ImportProblem(BaseModel):
    """A line that will not be imported, and why."""

    model_config = ConfigDict(frozen=True)

    line: int
    error: str


class ImportAccepted(BaseModel):
    """What ``POST /v1/imports`` found in the file (and, unless a dry run, the import that starts it)."""

    model_config = ConfigDict(frozen=True)

    id: str | None
    dry_run: bool
    lines: int
    valid: int
    #: Of the valid lines: initiatives liftoff does not have yet (created by the import), and those it has.
    new: int
    existing: int
    invalid: list[ImportProblem]
    status_url: str | None = None


class ImportStatus(BaseModel):
    """An import's progress: how many lines became what, the lines not imported and why."""

    model_config = ConfigDict(frozen=True)

    id: str
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    done: bool
    lines: int
    waiting: int
    started: int
    existed: int
    invalid: int
    failed: int
    errors: list[LineError]


_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "JSON Lines: one initiative per line, a submission body plus `stage`, `submitted_at`, "
            "`stage_entered_at` and optionally `stages_entered`, `submitter`, `approvals`, `poc_results`, "
            f"`external_refs`. At most {MAX_LINES} lines of {MAX_LINE_BYTES} bytes each."
        ),
        "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportAccepted,
    summary="Import existing initiatives from JSON Lines (role admin)",
    openapi_extra=_BODY,
    responses={
        200: {"description": "A dry run: what the file holds; nothing was written", "model": ImportAccepted},
        **problems(
            {
                403: "The caller lacks role admin",
                413: "The file is larger than the import limit",
            }
        ),
        422: {"description": "The file is not JSON Lines within the limits, or a malformed query"},
    },
)
async def create_import(
    request: Request,
    ctx: Ctx,
    principal: Caller,
    response: Response,
    dry_run: Annotated[bool, Query(description="check every line, write nothing")] = False,
) -> ImportAccepted:
    """Check every line; start the valid ones' workflows in the background, behind live decisions.

    A bad line is reported with its number and reason and does not stop the others. The same initiative
    (same ``external_refs``, or the same line) imported again creates nothing new. Progress:
    ``GET /v1/imports/{id}``.
    """
    if not principal.has(Role.ADMIN):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.email} lacks role admin")
    try:
        records = await check_lines(request.stream(), importer=principal.email, now=datetime.now(UTC))
    except ValueError as err:
        raise unprocessable(str(err), kind="import_too_large") from err
    valid = [r for r in records if r.error is None]
    have = await imports_repo.existing(ctx.pool, [r.initiative_id for r in valid if r.initiative_id])
    invalid = [ImportProblem(line=r.line, error=r.error) for r in records if r.error]
    found = ImportAccepted(
        id=None,
        dry_run=dry_run,
        lines=len(records),
        valid=len(valid),
        new=len(valid) - len(have),
        existing=len(have),
        invalid=invalid[:MAX_LISTED],
    )
    if dry_run:
        response.status_code = status.HTTP_200_OK
        return found
    import_id = f"import-{uuid.uuid4().hex[:16]}"
    await imports_repo.create(ctx.pool, import_id, principal.email, records)
    ctx.imports.kick(ctx)
    response.headers["Location"] = f"/v1/imports/{import_id}"
    return found.model_copy(update={"id": import_id, "status_url": f"/v1/imports/{import_id}"})


@router.get(
    "/{import_id}",
    response_model=ImportStatus,
    summary="An import's progress (role admin)",
    responses=problems({403: "The caller lacks role admin", 404: "No such import"}),
)
async def import_status(
    import_id: ImportId,
    ctx: Ctx,
    principal: Caller,
    errors: Annotated[int, Query(ge=0, le=MAX_LISTED, description="how many problem lines to list")] = 100,
) -> ImportStatus:
    """How many lines are waiting, started, existed already, were invalid or failed; the first problems."""
    if not principal.has(Role.ADMIN):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.email} lacks role admin")
    progress = await imports_repo.progress(ctx.pool, import_id)
    if progress is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no import {import_id}")
    problems_listed = await imports_repo.errors(ctx.pool, import_id, errors)
    return ImportStatus(**progress.model_dump(), done=progress.finished_at is not None, errors=problems_listed)
