"""HTTP plumbing shared by the web app: JSON errors and the request-body limit.

Every error the API returns has the same shape, ``{"error": <code>, "detail": <text or
list>}`` (plus ``error_type`` for refused URLs), whatever raised it: our own
:class:`ApiError`, FastAPI's validation, Starlette's routing, or an unexpected bug.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediaferry.errors import DatabaseUnavailable

__all__ = ["MAX_BODY_BYTES", "ApiError", "BodyLimit", "install_error_handlers"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# Above this a too-large body is not even drained: the connection is closed instead.
_DRAIN_LIMIT = 64 * 1024 * 1024

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    416: "range_not_satisfiable",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answered as JSON: ``{"error": code, "detail": ..., **extra}``."""

    def __init__(
        self,
        status: int,
        detail: Any,
        *,
        error: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(str(detail))
        self.status = status
        self.error = error or _CODES.get(status, "error")
        self.detail = detail
        self.headers = headers
        self.extra = extra

    def response(self) -> JSONResponse:
        body = {"error": self.error, "detail": self.detail, **self.extra}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _validation_detail(errors: Any) -> list[dict[str, Any]]:
    # only loc/msg/type: "input" may echo a huge body and "ctx" may hold exceptions
    out = []
    for err in errors:
        out.append(
            {
                "loc": [str(part) for part in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


async def _on_api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = _validation_detail(exc.errors())
    if any(d["type"] == "json_invalid" for d in detail):
        return ApiError(422, detail, error="invalid_json").response()
    return ApiError(422, detail).response()


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return ApiError(exc.status_code, exc.detail, headers=headers).response()


async def _on_db_down(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DatabaseUnavailable)
    log.warning("database unavailable: %s", exc.message)
    return ApiError(
        503,
        "the database is unavailable; try again shortly",
        error="database_unavailable",
        headers={"Retry-After": "5"},
    ).response()


async def _on_crash(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return ApiError(500, "internal server error", error="internal").response()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(DatabaseUnavailable, _on_db_down)
    app.add_exception_handler(Exception, _on_crash)


async def _send_json(send: Send, status: int, body: dict[str, Any], close: bool) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class BodyLimit:
    """ASGI middleware: request bodies over ``max_bytes`` get a 413 JSON error.

    The body is read (at most ``max_bytes``) before the app runs and replayed to it,
    so neither a Content-Length nor a chunked upload can push more into the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        chunked = b"transfer-encoding" in headers
        declared = 0
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _send_json(
                    send, 400, {"error": "bad_request", "detail": "bad Content-Length"}, True
                )
                return
        if not chunked and declared == 0:
            await self.app(scope, receive, send)
            return
        too_big = {
            "error": "payload_too_large",
            "detail": f"the request body is over {self.max_bytes} bytes",
        }
        if declared > _DRAIN_LIMIT:
            await _send_json(send, 413, too_big, True)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size <= self.max_bytes:
                chunks.append(body)
            elif size > _DRAIN_LIMIT:
                await _send_json(send, 413, too_big, True)
                return
            if not message.get("more_body", False):
                break
        if size > self.max_bytes:
            # drained, so the client can read the answer on a clean connection
            await _send_json(send, 413, too_big, False)
            return
        replay: Message | None = {"type": "http.request", "body": b"".join(chunks)}

        async def replay_receive() -> Message:
            nonlocal replay
            if replay is not None:
                message, replay = replay, None
                return message
            return await receive()

        await self.app(scope, replay_receive, send)
