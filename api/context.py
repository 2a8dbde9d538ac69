"""What the API's routes share: clients, directory, policy; and the authentication dependency."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Annotated, Protocol

import asyncpg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from api.guards import MAX_BODY_BYTES, AuthFailures
from api.imports import ImportRunner
from api.oidc import OidcError, OidcVerifier, looks_like_jwt
from api.principals import Directory, Principal
from schemas.policy import Policy


class NotificationHealth(Protocol):
    """How the notification channels are doing (the notifier, wired by the process; see ``/readyz``)."""

    async def health(self) -> dict[str, dict[str, object]]:
        """Per channel: deliveries waiting, failed, of unknown outcome; the last success and error."""
        ...


@dataclass(frozen=True)
class ApiContext:
    """Built once by the process that serves the API and stored on ``app.state``."""

    client: Client
    pool: asyncpg.Pool
    directory: Directory
    policy: Policy
    task_queue: str
    ui_base_url: str
    namespace: str = "default"
    approval_secret: bytes | None = None
    approval_token_ttl_seconds: int = 900
    #: How long a route waits for one Temporal call (start, query, describe) before answering 504.
    temporal_timeout: float = 20.0
    #: How long a decision waits to be applied (its event recorded) before answering 202 instead.
    decision_wait: float = 20.0
    #: A worker whose heartbeat is older than this is dead for readiness.
    worker_live_within: float = 15.0
    #: People sign in with this identity provider (bearer JWTs); None: static bearer tokens only.
    oidc: OidcVerifier | None = None
    #: The dashboard's client at the identity provider (default: the audience), and its secret if confidential.
    oidc_client_id: str | None = None
    oidc_client_secret: bytes | None = None
    #: The API's URL as browsers reach it (the sign-in callback); default: the URL of the request.
    public_url: str | None = None
    #: Seals the pending sign-in cookie; random per process unless given.
    cookie_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    #: Clients that keep presenting bad tokens are told to wait (429).
    auth_failures: AuthFailures = field(default_factory=AuthFailures)
    #: Request bodies larger than this are refused with 413 before anything reads them.
    max_body_bytes: int = MAX_BODY_BYTES
    #: Shared secrets of the ticket webhooks, by system ("jira", "servicenow"); absent = disabled.
    webhook_secrets: dict[str, bytes] = field(default_factory=dict)
    #: The notifier's report for ``/readyz`` (None: no notification channel configured).
    notifications: NotificationHealth | None = None
    #: Starts imported initiatives' workflows, behind live work (``POST /v1/imports``).
    imports: ImportRunner = field(default_factory=ImportRunner)

    def ui_link(self, workflow_id: str) -> str:
        """The initiative's page in the Temporal Web UI."""
        return f"{self.ui_base_url.rstrip('/')}/namespaces/{self.namespace}/workflows/{workflow_id}"


def get_context(request: Request) -> ApiContext:
    """The API context of the running app."""
    ctx: ApiContext = request.app.state.liftoff
    return ctx


bearer_scheme = HTTPBearer(auto_error=False, description="A token from the principals file")


TOKEN_COOKIE = "liftoff_token"  # noqa: S105 - a cookie name, not a secret


#: Where the token cookie counts: the pages (dashboard, the approver's desk) and the reads they make. Never a
#: route that changes anything, so a page on another site cannot act with someone's cookie.
COOKIE_PAGES = ("/dashboard", "/desk")
COOKIE_READS = ("/v1/reports/", "/v1/me/queue")


def cookie_counts(request: Request) -> bool:
    """Whether the token cookie may authenticate ``request``.

    Besides the pages' reads, the desk mints approval tokens (``POST …/approval-token``) with it: minting
    changes nothing (the token is useless to anyone but the page that reads it), and only a request from
    this site counts (``Sec-Fetch-Site: same-origin``; the cookie is ``SameSite=Strict`` as well).
    """
    path = request.url.path
    if request.method == "GET":
        return path in COOKIE_PAGES or path.startswith(COOKIE_READS)
    return (
        request.method == "POST"
        and path.startswith("/v1/initiatives/")
        and path.endswith("/approval-token")
        and request.headers.get("sec-fetch-site") == "same-origin"
    )


async def authenticate(ctx: ApiContext, token: str) -> Principal:
    """The principal a bearer token (static, or a JWT of the identity provider) proves; 401/403 otherwise."""
    if ctx.oidc is not None and looks_like_jwt(token):
        try:
            identity = await ctx.oidc.verify(token)
        except OidcError as err:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, str(err), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from err
        principal = ctx.directory.from_groups(identity.email, identity.groups)
        if not principal.roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"signed in as {identity.email}, but none of your groups grants a role in liftoff",
            )
        return principal
    static = ctx.directory.authenticate(token)
    if static is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    return static


async def current_principal(
    request: Request,
    ctx: Annotated[ApiContext, Depends(get_context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The caller, from its bearer token (or, for the dashboard's reads, its token cookie)."""
    token = credentials.credentials if credentials is not None else None
    if token is None and cookie_counts(request):
        token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    client = request.client.host if request.client else "unknown"
    wait = ctx.auth_failures.retry_after(client)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed authentications from this client; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    try:
        return await authenticate(ctx, token)
    except HTTPException as err:
        if err.status_code == status.HTTP_401_UNAUTHORIZED:
            ctx.auth_failures.failed(client)
        raise


Ctx = Annotated[ApiContext, Depends(get_context)]
Caller = Annotated[Principal, Depends(current_principal)]
