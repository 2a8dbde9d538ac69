"""``GET /dashboard`` (the leaders' page: SVG charts drawn from the reports) and ``GET /desk`` (the approver's).

The page's script renders every value as text. It runs under a Content-Security-Policy that allows only
this site's own script and styles (no inline script), and may not be framed. The token cookie that
authenticates the page counts only for the page and its report reads (``api.context.cookie_counts``).
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from api.context import TOKEN_COOKIE, ApiContext, Ctx, authenticate, bearer_scheme, current_principal
from api.errors import COMMON_RESPONSES

router = APIRouter(tags=["dashboard"])

DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_ASSET_TYPES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "desk.js": "text/javascript; charset=utf-8",
}


_JSON_PROBLEM = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _asset(name: str) -> str:
    return resources.files("api").joinpath("static", name).read_text(encoding="utf-8")


def secure_cookies(ctx: ApiContext, request: Request) -> bool:
    """Whether cookies must be ``Secure``: the site is served over HTTPS."""
    return request.url.scheme == "https" or (ctx.public_url or "").startswith("https://")


@router.get("/static/{name}", include_in_schema=False)
async def asset(name: Literal["dashboard.js", "dashboard.css", "desk.js"]) -> Response:
    """The dashboard's script and styles (public: they hold no data)."""
    return Response(_asset(name), media_type=_ASSET_TYPES[name], headers={"Cache-Control": "no-cache"})


_PAGE_RESPONSES: dict[int | str, dict[str, object]] = {
    302: {"description": "Sign in first"},
    303: {"description": "The token moved into a cookie"},
    # The page is HTML; its errors are JSON like every other route's.
    **{
        code: {**{k: v for k, v in answer.items() if k != "model"}, "content": _JSON_PROBLEM}
        for code, answer in COMMON_RESPONSES.items()
    },
}


async def _page(
    path: str, page: str, request: Request, ctx: ApiContext, credentials: HTTPAuthorizationCredentials | None
) -> Response:
    """A page. ``?token=`` is checked, moved into an HttpOnly cookie and removed from the address bar.

    With an identity provider, a visitor who is not signed in (or whose sign-in expired) is sent there.
    """
    offered = request.query_params.get("token")
    if offered is not None:
        rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
        response: Response = RedirectResponse(f"{path}{'?' + rest if rest else ''}", status_code=303)
        try:
            await authenticate(ctx, offered)
        except HTTPException:
            return response  # a bad ?token= never replaces a good cookie; without one the page asks again
        response.set_cookie(
            TOKEN_COOKIE, offered, httponly=True, samesite="strict", secure=secure_cookies(ctx, request)
        )
        return response
    try:
        await current_principal(request, ctx, credentials)
    except HTTPException as err:
        if ctx.oidc is None or err.status_code != status.HTTP_401_UNAUTHORIZED:
            raise
        return RedirectResponse(f"/auth/login?next={path}", status_code=status.HTTP_302_FOUND)
    return HTMLResponse(_asset(page), headers={"Content-Security-Policy": DASHBOARD_CSP})


@router.get(
    "/dashboard",
    response_class=HTMLResponse,
    summary="Portfolio dashboard (token in ?token= once, then a cookie)",
    responses=_PAGE_RESPONSES,
)
async def dashboard(
    request: Request, ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> Response:
    """The leaders' dashboard."""
    return await _page("/dashboard", "dashboard.html", request, ctx, credentials)


@router.get(
    "/desk",
    response_class=HTMLResponse,
    summary="The approver's desk: what waits for me, and signed payloads (token in ?token= once, then a cookie)",
    responses=_PAGE_RESPONSES,
)
async def desk(
    request: Request, ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> Response:
    """The "Waiting for me" page: the caller's queue, each row linked to the Web UI, with signed payloads."""
    return await _page("/desk", "desk.html", request, ctx, credentials)
