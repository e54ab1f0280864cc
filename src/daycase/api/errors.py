"""Refusals on the wire: one JSON shape, the right status, never a stack trace (API room).

`{"kind": …, "messages": […], "fields": {…}}` with 422 invalid, 403 role, 409 gate /
duplicate / closed, 401 auth, 404 not_found, 413 too_large, 429 when sign-in is locked,
503 busy (with Retry-After) when the database is locked or away.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from daycase.api.schemas import RefusalOut
from daycase.engine.commands import Refusal
from daycase.services.catalog import PathwayUnavailable
from daycase.services.faults import RETRY_AFTER_S, StoreBusy, busy_message, is_store_busy

log = logging.getLogger(__name__)

STATUS = {
    "invalid": 422,
    "role": 403,
    "gate": 409,
    "duplicate": 409,
    "closed": 409,
    "auth": 401,
    "not_found": 404,
    "too_large": 413,
    "pathway_unavailable": 500,
    "busy": 503,
}


class ApiRefusal(Exception):
    """Raised by routes and dependencies; rendered by the handler below."""

    def __init__(
        self,
        kind: str,
        *messages: str,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        self.kind = kind
        self.status = status
        self.messages = list(messages)
        self.fields = fields or {}
        self.headers = headers
        super().__init__(kind, messages)

    @classmethod
    def of(cls, refusal: Refusal) -> ApiRefusal:
        return cls(refusal.kind, *refusal.messages, fields=dict(refusal.fields))


def refusal_response(
    kind: str,
    messages: list[str],
    fields: dict[str, str] | None = None,
    *,
    headers: dict[str, str] | None = None,
    status: int | None = None,
) -> JSONResponse:
    body = RefusalOut(kind=kind, messages=messages, fields=fields or {})
    return JSONResponse(body.model_dump(), status_code=status or STATUS[kind], headers=headers)


def busy_response(method: str) -> JSONResponse:
    """503 with Retry-After: nothing was stored, and the same request may be sent again."""
    return refusal_response(
        "busy", [busy_message(method)], headers={"Retry-After": str(RETRY_AFTER_S)}
    )


def _field_path(err: dict[str, Any]) -> str:
    if err.get("type") == "json_invalid":
        return "body"  # its location is a character position, not a field
    loc = tuple(err.get("loc", ()))
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form", "header")]
    return ".".join(parts) or "body"


def _plain(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "json_invalid":
        return "is not valid JSON"
    return str(err.get("msg", "is not valid")).removeprefix("Value error, ")


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path (Starlette names only the first route's)."""
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiRefusal)
    async def _refusal(_: Request, exc: ApiRefusal) -> JSONResponse:
        return refusal_response(
            exc.kind, exc.messages, exc.fields, headers=exc.headers, status=exc.status
        )

    @app.exception_handler(StoreBusy)
    async def _busy(request: Request, exc: StoreBusy) -> JSONResponse:
        log.warning("store busy: %s", exc)
        return busy_response(request.method)

    @app.exception_handler(PathwayUnavailable)
    async def _unavailable(_: Request, exc: PathwayUnavailable) -> JSONResponse:
        # Never judge a case by another definition: say which case and which version.
        log.error("%s", exc)
        return refusal_response("pathway_unavailable", [str(exc)])

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields: dict[str, str] = {}
        for err in exc.errors():
            fields.setdefault(_field_path(err), _plain(err))
        return refusal_response("invalid", [f"{k}: {v}" for k, v in fields.items()], fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return refusal_response("not_found", ["No such page"])
        if exc.status_code == 400:
            # FastAPI's answer when JSON cannot be parsed at all (too deeply nested, a number
            # too long to convert): the same refusal as any other body that is not JSON.
            return refusal_response(
                "invalid", ["body: is not valid JSON"], {"body": "is not valid JSON"}
            )
        if exc.status_code == 405:
            allow = ", ".join(_allowed_methods(request))
            return refusal_response(
                "invalid", ["Method not allowed"], headers={"Allow": allow}, status=405
            )
        return refusal_response(
            "invalid",
            [str(exc.detail)],
            headers=dict(exc.headers) if exc.headers else None,
            status=exc.status_code,
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        if is_store_busy(exc):
            log.warning("store busy: %s", exc)
            return busy_response(request.method)
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            {
                "kind": "internal",
                "messages": ["Something went wrong; it has been logged"],
                "fields": {},
            },
            status_code=500,
        )
