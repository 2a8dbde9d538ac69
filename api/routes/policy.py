"""Gate policy questions: ``POST /v1/policy/backtest``, what a candidate policy would have changed."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import ValidationError

from api.backtest import backtest
from api.context import Caller, Ctx
from api.errors import problems, unprocessable
from schemas.backtest import BacktestRequest, BacktestResult
from schemas.policy_file import policy_with
from schemas.reports import ReportFilters
from schemas.stages import Role

router = APIRouter(prefix="/v1/policy", tags=["policy"])


@router.post(
    "/backtest",
    response_model=BacktestResult,
    responses=problems({403: "Only the portfolio role or an admin may backtest a policy"}),
    summary="What would have been different under a candidate policy (reads only)",
)
async def backtest_policy(body: BacktestRequest, principal: Caller, ctx: Ctx) -> BacktestResult:
    """Replay the recorded lifecycle of the initiatives in scope under the policy in force and the candidate.

    ``policy`` is a policy file's content (keys laid over the default, as ``LIFTOFF_POLICY_FILE`` is). The
    answer compares stalls, escalations, abandonments, gates that would not have closed and blocking
    findings, lists every change with the initiative and when, and the days per stage. Nothing is written.
    """
    if not (principal.has(Role.PORTFOLIO) or principal.has(Role.ADMIN)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.email} holds neither portfolio nor admin")
    try:
        candidate = policy_with(body.policy)
    except ValidationError as err:
        errors = [
            {"loc": ["body", "policy", *(str(p) for p in e["loc"])], "msg": str(e["msg"]), "type": str(e["type"])}
            for e in err.errors()
        ]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, errors) from err
    except ValueError as err:
        raise unprocessable(str(err), loc=("body", "policy")) from err
    scope = ReportFilters(since=body.since, until=body.until, team=body.team, business_unit=body.business_unit)
    return await backtest(ctx.pool, scope, ctx.policy, candidate)
