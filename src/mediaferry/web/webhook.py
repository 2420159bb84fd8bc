"""``POST /telegram/webhook``: Telegram's updates in webhook mode.

Telegram cannot send the API key; it proves itself with the secret token set in
``setWebhook`` (header ``X-Telegram-Bot-Api-Secret-Token``), checked in constant time.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.post("/telegram/webhook")
async def telegram_webhook(request: Request) -> JSONResponse:
    hook = request.app.state.services.telegram_webhook
    if hook is None:
        return JSONResponse({"error": "not_found", "detail": "webhook mode is off"}, 404)
    secret, handle = hook
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return JSONResponse({"error": "forbidden", "detail": "wrong secret token"}, 403)
    try:
        update: Any = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"error": "invalid_json", "detail": "the body is not JSON"}, 400)
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return JSONResponse({"error": "invalid_update", "detail": "not a Telegram update"}, 400)
    await handle(update)
    return JSONResponse({"ok": True})
