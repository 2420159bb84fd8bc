"""Start and stop the Telegram bot inside the running event loop.

``start(services)`` builds the python-telegram-bot Application once (against
``<MEDIAFERRY_TELEGRAM_API_URL>/bot`` and ``/file/bot``), registers the Telegram
deliverer with the pipeline, starts the progress tracker and long polling, and returns
the stopper that undoes all of it in reverse order.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import BotCommand, Update
from telegram import error as tg
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    ContextTypes,
    ExtBot,
    TypeHandler,
)
from telegram.request import HTTPXRequest

from mediaferry.app import Services
from mediaferry.bot import admin, commands, files, follows, submit, texts
from mediaferry.bot.context import BotApp, BotContext, BotRuntime
from mediaferry.bot.progress import ProgressTracker
from mediaferry.delivery.botapi_limiter import BotApiRateLimiter
from mediaferry.errors import DatabaseUnavailable
from mediaferry.logging import add_secret

__all__ = ["build_application", "start"]

log = logging.getLogger(__name__)
Stopper = Callable[[], Awaitable[None]]


async def gate(update: Update, ctx: BotContext) -> None:
    """Only allowed users get past this (group -1, before every other handler)."""
    user = update.effective_user
    if user is None:
        raise ApplicationHandlerStop
    if ctx.services.settings.is_allowed(user.id):
        return
    log.info("refused user", extra={"user_id": user.id})
    text = texts.REFUSED_USER.format(uid=user.id)
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(f"Not allowed (your id is {user.id}).")
        elif update.effective_message is not None:
            await update.effective_message.reply_text(text, parse_mode=texts.PARSE_MODE)
    except tg.TelegramError as exc:
        log.info("could not send the refusal: %s", exc)
    raise ApplicationHandlerStop


DB_DOWN = "The service cannot reach its database right now; please try again in a minute."


async def on_error(update: object, ctx: BotContext) -> None:
    """The one error handler: log with the traceback, tell the user briefly. A database
    outage is expected weather, not a bug: one warning line and a clear answer."""
    if isinstance(ctx.error, DatabaseUnavailable):
        log.warning("bot handler: %s", ctx.error.message)
        text = DB_DOWN
    else:
        log.error("bot handler failed", exc_info=ctx.error)
        text = "Something went wrong; please try again."
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await update.effective_message.reply_text(text)
        except tg.TelegramError:
            pass


def build_application(services: Services) -> BotApp:
    settings = services.settings
    assert settings.telegram_token is not None, "no MEDIAFERRY_TELEGRAM_TOKEN"
    api = settings.telegram_api_url.rstrip("/")
    app: BotApp = (
        ApplicationBuilder()
        .token(settings.telegram_token.get_secret_value())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .context_types(ContextTypes(context=BotContext))
        .concurrent_updates(16)
        .connect_timeout(min(10.0, settings.telegram_timeout_s))
        .read_timeout(settings.telegram_timeout_s)
        .write_timeout(settings.telegram_timeout_s)
        .media_write_timeout(600)
        # enough connections that a call granted a slot never queues for one (which
        # would bunch messages up behind the send path's back)
        .connection_pool_size(128)
        .get_updates_connection_pool_size(2)
        .local_mode(settings.telegram_local_mode)
        .rate_limiter(BotApiRateLimiter(services.send_limiter))
        .build()
    )
    app.add_handler(TypeHandler(Update, gate), group=-1)
    for handler in [
        *commands.handlers(),
        *follows.handlers(),
        *admin.handlers(),
        *files.handlers(),  # before the links: a file's caption is no list of links
        *submit.handlers(),
    ]:
        app.add_handler(handler)
    app.add_handler(commands.unknown_command_handler())
    app.add_handler(commands.unknown_button_handler())
    app.add_error_handler(on_error)
    return app


async def _set_commands(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    try:
        await app.bot.set_my_commands([BotCommand(c, d) for c, d in texts.COMMANDS])
    except tg.TelegramError as exc:
        log.warning("setMyCommands failed: %s", exc)


async def _start_webhook(
    services: Services, app: Application[Any, Any, Any, Any, Any, Any], allowed: list[str]
) -> None:
    """Webhook mode: updates arrive on the web server's ``/telegram/webhook``."""
    settings = services.settings
    assert settings.telegram_webhook_url is not None
    configured = settings.telegram_webhook_secret
    secret = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
    add_secret(secret)

    async def handle(data: dict[str, Any]) -> None:
        update = Update.de_json(data, app.bot)
        if update is not None:
            await app.update_queue.put(update)

    services.telegram_webhook = (secret, handle)
    url = settings.telegram_webhook_url.rstrip("/") + "/telegram/webhook"
    await app.bot.set_webhook(url=url, secret_token=secret, allowed_updates=allowed)
    log.info("telegram webhook set", extra={"webhook_url": url})


async def start(services: Services, *, progress_interval: float = 3.0) -> Stopper:
    """Start the bot (long polling) in the running loop; returns its stopper."""
    app = build_application(services)
    deliverer = services.telegram_deliverer(app.bot)
    tracker = ProgressTracker(
        app.bot,
        services.bus,
        services.jobs,
        interval=progress_interval,
        deliverer=deliverer,
    )
    runtime = BotRuntime(services, tracker, deliverer)
    app.bot_data["runtime"] = runtime
    await app.initialize()
    await _set_commands(app)
    services.pipeline.deliverers.append(deliverer)
    await tracker.start()
    await app.start()
    assert app.updater is not None
    allowed = ["message", "callback_query"]
    if services.settings.telegram_webhook_url:
        await _start_webhook(services, app, allowed)
    else:
        await app.updater.start_polling(allowed_updates=allowed)
    log.info("telegram bot started", extra={"bot": app.bot.username})

    async def stop() -> None:
        assert app.updater is not None
        for pending in list(runtime.pending.values()):
            if pending.timer is not None:
                pending.timer.cancel()
        services.telegram_webhook = None
        if app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await tracker.stop()
        if deliverer in services.pipeline.deliverers:
            services.pipeline.deliverers.remove(deliverer)
        await app.shutdown()
        log.info("telegram bot stopped")

    return stop


async def start_delivery(services: Services) -> Stopper:
    """For a workers-only process: deliver the Telegram jobs it runs, without polling.

    The bot process keeps the conversation (and the progress messages, which it
    follows through the database); this process only uploads finished media.
    """
    settings = services.settings
    assert settings.telegram_token is not None, "no MEDIAFERRY_TELEGRAM_TOKEN"
    api = settings.telegram_api_url.rstrip("/")
    timeout = settings.telegram_timeout_s
    bot: ExtBot[None] = ExtBot(
        settings.telegram_token.get_secret_value(),
        base_url=f"{api}/bot",
        base_file_url=f"{api}/file/bot",
        request=HTTPXRequest(
            connection_pool_size=64,
            connect_timeout=min(10.0, timeout),
            read_timeout=timeout,
            write_timeout=timeout,
            media_write_timeout=600,
        ),
        local_mode=settings.telegram_local_mode,
        rate_limiter=BotApiRateLimiter(services.send_limiter),
    )
    await bot.initialize()
    deliverer = services.telegram_deliverer(bot)
    services.pipeline.deliverers.append(deliverer)
    log.info("telegram delivery enabled in this worker process")

    async def stop() -> None:
        if deliverer in services.pipeline.deliverers:
            services.pipeline.deliverers.remove(deliverer)
        await bot.shutdown()

    return stop
