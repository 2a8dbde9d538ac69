"""Signing people in to the dashboard through the identity provider (authorization code with PKCE).

``/auth/login`` sends the browser to the provider with a PKCE challenge and a state; ``/auth/callback``
checks the state, exchanges the code (with the verifier) for an ID token, verifies it as any bearer
token is verified, and keeps it in an HttpOnly cookie. Only when ``LIFTOFF_OIDC_ISSUER`` is set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Annotated
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from api.context import TOKEN_COOKIE, ApiContext, Ctx
from api.errors import problems
from api.oidc import OidcError, OidcVerifier

router = APIRouter(prefix="/auth", tags=["sign-in"])

#: The pending sign-in (state, PKCE verifier, where to go next), signed, for ten minutes.
AUTH_COOKIE = "liftoff_signin"
_PENDING_SECONDS = 600


def _verifier(ctx: ApiContext) -> OidcVerifier:
    if ctx.oidc is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "sign-in is not configured (set LIFTOFF_OIDC_ISSUER)")
    return ctx.oidc


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _seal(ctx: ApiContext, data: dict[str, object]) -> str:
    body = _b64(json.dumps(data, separators=(",", ":")).encode())
    return f"{body}.{_b64(hmac.new(ctx.cookie_key, body.encode(), hashlib.sha256).digest())}"


def _unseal(ctx: ApiContext, sealed: str) -> dict[str, object] | None:
    body, _, mac = sealed.partition(".")
    if not hmac.compare_digest(mac, _b64(hmac.new(ctx.cookie_key, body.encode(), hashlib.sha256).digest())):
        return None
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return data if isinstance(data, dict) else None


def _safe_next(target: str) -> str:
    """Only a path on this site (never ``//evil.example`` or a full URL): no open redirect."""
    # Browsers read "/\\host" as "//host": a second slash or backslash makes it another site.
    ok = target.startswith("/") and target[1:2] not in ("/", "\\") and "\r" not in target and "\n" not in target
    return target if ok else "/dashboard"


def _callback_url(ctx: ApiContext, request: Request) -> str:
    base = ctx.public_url or str(request.base_url).rstrip("/")
    return f"{base.rstrip('/')}/auth/callback"


_NOT_CONFIGURED = {404: "Sign-in is not configured (no LIFTOFF_OIDC_ISSUER)"}


@router.get(
    "/login",
    status_code=status.HTTP_302_FOUND,
    responses={
        302: {"description": "To the identity provider"},
        **problems({**_NOT_CONFIGURED, 503: "The identity provider cannot be reached"}),
    },
    summary="Sign in through the identity provider (redirects there)",
)
async def login(
    ctx: Ctx, request: Request, next_: Annotated[str, Query(alias="next", max_length=2000)] = "/dashboard"
) -> Response:
    """Redirect to the provider's authorization endpoint with PKCE (S256), a state and a nonce."""
    oidc = _verifier(ctx)
    try:
        endpoint = str((await oidc.metadata())["authorization_endpoint"])
    except (OidcError, KeyError) as err:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the identity provider cannot be reached") from err
    state, verifier, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    challenge = _b64(hashlib.sha256(verifier.encode()).digest())
    query = urlencode(
        {
            "response_type": "code",
            "client_id": ctx.oidc_client_id or oidc.audience,
            "redirect_uri": _callback_url(ctx, request),
            "scope": "openid email profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(f"{endpoint}?{query}", status_code=status.HTTP_302_FOUND)
    pending = {"state": state, "verifier": verifier, "next": _safe_next(next_), "at": int(time.time())}
    response.set_cookie(
        AUTH_COOKIE,
        _seal(ctx, pending),
        max_age=_PENDING_SECONDS,
        httponly=True,
        samesite="lax",
        secure=_secure(ctx, request),
        path="/auth",
    )
    return response


def _secure(ctx: ApiContext, request: Request) -> bool:
    return (ctx.public_url or str(request.base_url)).startswith("https://")


@router.get(
    "/callback",
    status_code=status.HTTP_303_SEE_OTHER,
    responses={
        303: {"description": "Signed in: on to where the sign-in started"},
        **problems(
            {
                **_NOT_CONFIGURED,
                400: "This sign-in was not started here, or took too long",
                502: "The identity provider did not complete the sign-in",
            }
        ),
    },
    summary="Where the identity provider sends the browser back",
)
async def callback(
    ctx: Ctx,
    request: Request,
    code: Annotated[str, Query(max_length=2000)] = "",
    state: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Check the state, exchange the code with the PKCE verifier, verify the ID token, keep it in a cookie."""
    oidc = _verifier(ctx)
    pending = _unseal(ctx, request.cookies.get(AUTH_COOKIE, ""))
    if (
        pending is None
        or not code
        or not hmac.compare_digest(str(pending.get("state", "")), state)
        or time.time() - float(str(pending.get("at", 0))) > _PENDING_SECONDS
    ):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "this sign-in was not started here, or took too long; sign in again"
        )
    client_id = ctx.oidc_client_id or oidc.audience
    credentials = httpx.BasicAuth(client_id, ctx.oidc_client_secret.decode()) if ctx.oidc_client_secret else None
    try:
        endpoint = str((await oidc.metadata())["token_endpoint"])
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(
                endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": _callback_url(ctx, request),
                    "code_verifier": str(pending["verifier"]),
                    "client_id": client_id,
                },
                auth=credentials or httpx.USE_CLIENT_DEFAULT,
            )
        id_token = str(answer.json()["id_token"]) if answer.status_code == 200 else ""
    except (OidcError, KeyError, ValueError, httpx.HTTPError) as err:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "the identity provider did not complete the sign-in") from err
    if not id_token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the identity provider refused the sign-in")
    try:
        await oidc.verify(id_token)
    except OidcError as err:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(err)) from err
    response = RedirectResponse(str(pending["next"]), status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(TOKEN_COOKIE, id_token, httponly=True, samesite="lax", secure=_secure(ctx, request))
    response.delete_cookie(AUTH_COOKIE, path="/auth")
    return response
