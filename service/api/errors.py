"""One error shape for every failure: {"code", "message", "details"}; never a stack trace."""

from __future__ import annotations

import json

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as DatabasePoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import AppError, ProviderFailed
from service.logging import mark_logged

log = structlog.get_logger("salesmeet.api")

DATABASE_BUSY_RETRY_AFTER_SECONDS = 2

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int, code: str, message: str, details: list[dict[str, object]] | None = None
) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"code": code, "message": message, "details": details or []}, status_code=status, headers=headers
    )


def _field(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "request")


def _internal_error() -> JSONResponse:
    response = error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
    # Whatever failed may have left the request half read: this connection is not reused.
    response.headers["Connection"] = "close"
    return response


def _log_unexpected(path: str, exc: Exception) -> None:
    log.error("api.unhandled_error", path=path, error=type(exc).__name__, exc_info=exc)
    mark_logged(exc)  # the server's copy, should it see the error too, is dropped


class AnswerUnexpectedErrors:
    """Logs an unexpected error once and answers it with a 500, without re-raising it.

    Starlette's outermost middleware calls the `Exception` handler and then re-raises to the
    server, which logs the same error again (uvicorn's "Exception in ASGI application", a
    plain-text traceback in the JSON log). Errors caught here never get that far.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            _log_unexpected(scope["path"], exc)
            if not started:  # else the server sees an unfinished response and drops the connection
                await _internal_error()(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    # Added first, so it wraps the routes closest; middlewares added later sit outside it and
    # their errors still reach the `Exception` handler below.
    app.add_middleware(AnswerUnexpectedErrors)

    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        response = error_response(exc.status, exc.code, exc.message, [dict(d) for d in exc.details])
        if isinstance(exc, ProviderFailed) and exc.retry_after is not None:
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        details: list[dict[str, object]] = []
        for e in errors:
            detail: dict[str, object] = {
                "field": _field(tuple(e.get("loc", ()))),
                "code": str(e.get("type", "invalid")),
                "message": str(e.get("msg", "invalid")).removeprefix("Value error, "),
            }
            details.append(json.loads(json.dumps(detail, default=str)))
        return error_response(422, "validation_error", "the request is invalid; see details", details)

    @app.exception_handler(DatabasePoolTimeout)
    async def _database_busy(request: Request, _exc: DatabasePoolTimeout) -> JSONResponse:
        # Every pooled connection was taken for the pool's whole timeout: load, not a bug.
        log.warning("api.database_busy", path=request.url.path)
        response = error_response(503, "database_busy", "the database is busy; retry shortly")
        response.headers["Retry-After"] = str(DATABASE_BUSY_RETRY_AFTER_SECONDS)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI reports a JSON body that is not UTF-8 as a generic parsing error.
            return error_response(400, "malformed_json", "the request body is not valid UTF-8 JSON")
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log_unexpected(request.url.path, exc)
        return _internal_error()
