"""``GET /dashboard``: the leaders' page (static HTML and inline SVG charts, no build step)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.context import TOKEN_COOKIE, Caller

router = APIRouter(tags=["dashboard"])


@router.get("/dashboard", response_class=HTMLResponse, summary="Portfolio dashboard (token in ?token= or cookie)")
async def dashboard(request: Request, _: Caller) -> Response:
    """The dashboard; ``?token=`` is moved into an HttpOnly cookie so it leaves the address bar."""
    token = request.query_params.get("token")
    if token:
        rest = "&".join(f"{k}={v}" for k, v in request.query_params.items() if k != "token")
        response: Response = RedirectResponse(f"/dashboard{'?' + rest if rest else ''}", status_code=303)
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response
    html = resources.files("api").joinpath("static", "dashboard.html").read_text(encoding="utf-8")
    return HTMLResponse(html)
