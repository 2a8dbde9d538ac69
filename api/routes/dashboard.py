"""``GET /dashboard``: the leaders' page (static HTML and inline SVG charts, no build step)."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from api.context import TOKEN_COOKIE, Ctx, bearer_scheme, current_principal

router = APIRouter(tags=["dashboard"])


@router.get("/dashboard", response_class=HTMLResponse, summary="Portfolio dashboard (token in ?token= or cookie)")
async def dashboard(
    request: Request, ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> Response:
    """The dashboard; ``?token=`` is moved into an HttpOnly cookie so it leaves the address bar.

    With an identity provider, a visitor who is not signed in (or whose sign-in expired) is sent there.
    """
    try:
        await current_principal(request, ctx, credentials)
    except HTTPException as err:
        if ctx.oidc is None or err.status_code != status.HTTP_401_UNAUTHORIZED:
            raise
        return RedirectResponse("/auth/login?next=/dashboard", status_code=status.HTTP_302_FOUND)
    token = request.query_params.get("token")
    if token:
        rest = "&".join(f"{k}={v}" for k, v in request.query_params.items() if k != "token")
        response: Response = RedirectResponse(f"/dashboard{'?' + rest if rest else ''}", status_code=303)
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response
    html = resources.files("api").joinpath("static", "dashboard.html").read_text(encoding="utf-8")
    return HTMLResponse(html)
