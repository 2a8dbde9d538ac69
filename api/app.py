"""The FastAPI application (OpenAPI at ``/docs``)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.runtime import Runtime

from api.context import ApiContext
from api.errors import COMMON_RESPONSES
from api.guards import MAX_IMPORT_BYTES, BodyLimit
from api.openapi import install as install_openapi
from api.request_log import RequestLog
from api.routes import (
    actions,
    auth,
    dashboard,
    health,
    imports,
    initiatives,
    me,
    policy,
    reports,
    taxonomy,
    ticket_events,
)
from db.pool import UNAVAILABLE

log = structlog.get_logger(__name__)

#: Swagger UI and ReDoc load their own scripts: they keep the browser's defaults (still not framable).
_DOC_PAGES = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})


#: What FastAPI answers (400) for a body it cannot even decode; liftoff answers 422 like any malformed body.
_UNPARSABLE = "There was an error parsing the body"


def _allowed_methods(app: FastAPI, request: Request) -> str:
    """The methods the OpenAPI document gives the request's path (every route of it), for a 405's ``Allow``."""
    path = request.url.path
    methods: set[str] = set()
    for template, operations in app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)), path):
            methods |= {method.upper() for method in operations}
    return ", ".join(sorted(methods))


def create_app(ctx: ApiContext) -> FastAPI:
    """An app serving ``ctx``; the caller owns the clients' lifetimes."""
    app = FastAPI(
        title="liftoff",
        version="0.1.0",
        description="Carries AI initiatives from proposal to production on Temporal, and records why they stall.",
        responses=COMMON_RESPONSES,
    )
    app.state.liftoff = ctx

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # Nothing but the dashboard (its own policy) and the OpenAPI pages renders; nothing may be framed.
        if request.url.path not in _DOC_PAGES:
            response.headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        return response

    app.include_router(health.router)
    app.include_router(initiatives.router)
    app.include_router(me.router)
    app.include_router(actions.router)
    app.include_router(taxonomy.router)
    app.include_router(ticket_events.router)
    app.include_router(reports.router)
    app.include_router(policy.router)
    app.include_router(imports.router)
    app.include_router(dashboard.router)
    app.include_router(auth.router)
    install_openapi(app)

    # A body over the limit is refused before authentication or any parsing.
    app.add_middleware(BodyLimit, limit=ctx.max_body_bytes, larger={"/v1/imports": MAX_IMPORT_BYTES})
    # Outermost: every request gets its id, its access-log line and its metrics, the 413s above included.
    app.add_middleware(RequestLog, meter=(ctx.client.service_client.config.runtime or Runtime.default()).metric_meter)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Where and why, never the input itself: it may be huge, hostile or not even encodable.
        del request
        errors = [
            {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == _UNPARSABLE:  # FastAPI's answer to a body that is not UTF-8
            problem = {"loc": ["body"], "msg": "the body is not JSON text (UTF-8)", "type": "json_invalid"}
            return JSONResponse({"detail": [problem]}, status_code=422)
        if exc.status_code == 405:  # Starlette names only the first route's methods; name every route's
            allowed = _allowed_methods(app, request)
            return JSONResponse({"detail": "Method Not Allowed"}, status_code=405, headers={"Allow": allowed})
        return await http_exception_handler(request, exc)

    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable", path=request.url.path, error=type(exc).__name__, detail=str(exc)[:300])
        return JSONResponse(
            {"detail": "the database is unavailable right now; try again in a few seconds"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_down)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Last line of defence: log with the trace, answer without it.
        log.error("unhandled error", path=request.url.path, error=type(exc).__name__, exc_info=exc)
        return JSONResponse({"detail": "internal error; see the server log"}, status_code=500)

    return app
