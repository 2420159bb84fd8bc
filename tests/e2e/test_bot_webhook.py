"""Webhook mode: Telegram posts updates to the web server, which hands them to the bot."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx

from mediaferry.app import Services
from mediaferry.bot import runner
from mediaferry.web import server as web
from tests.support.db_fixtures import make_settings
from tests.support.fake_telegram import FakeTelegram

USER = 1001
SECRET = "webhook-secret-token-123"


async def test_updates_posted_to_the_webhook_reach_the_bot(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'mf.db'}",
        telegram_token=fake_telegram.token,
        telegram_api_url=fake_telegram.root,
        telegram_webhook_url="https://bot.example.org/",
        telegram_webhook_secret=SECRET,
        allowed_users=[USER],
        web_port=0,
    )
    services = await Services.create(settings)
    server = await web.start(services)
    stop_bot = await runner.start(services)
    try:
        calls = fake_telegram.calls("setWebhook")
        assert calls and calls[-1].params["url"] == "https://bot.example.org/telegram/webhook"
        assert calls[-1].params["secret_token"] == SECRET
        assert not fake_telegram.calls("getUpdates")  # no polling in webhook mode

        sent = fake_telegram.user_sends_text(USER, "/start")
        update: dict[str, Any] = copy.deepcopy(fake_telegram._updates[-1])
        hook = f"{server.url}/telegram/webhook"
        async with httpx.AsyncClient(timeout=10) as client:
            wrong = await client.post(
                hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
            )
            garbage = await client.post(
                hook, content=b"{not json", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            )
            ok = await client.post(
                hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            )
        assert wrong.status_code == 403 and garbage.status_code == 400
        assert ok.status_code == 200

        def answered() -> bool:
            return any(
                m.message_id > sent.message_id and m.kind == "text"
                for m in fake_telegram.messages_to(USER)
            )

        await fake_telegram.async_wait_for(answered, 15)
    finally:
        await stop_bot()
        await server.stop()
        await services.close()


async def test_webhook_is_404_when_polling(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'mf.db'}", web_port=0)
    services = await Services.create(settings)
    server = await web.start(services)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.post(f"{server.url}/telegram/webhook", json={"update_id": 1})
        assert r.status_code == 404
    finally:
        await server.stop()
        await services.close()
