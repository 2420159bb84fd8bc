"""``mediaferry run`` / ``mediaferry worker``: the long-running service."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import signal
from collections.abc import Awaitable, Callable

from mediaferry.app import Notifications, Services
from mediaferry.cli.app import resume_gc
from mediaferry.config import Settings

__all__ = ["run_service"]

log = logging.getLogger(__name__)
Stopper = Callable[[], Awaitable[None]]


async def _start_optional(module: str, services: Services, entry: str = "start") -> Stopper | None:
    """Start the bot or the web server if that part is installed and configured."""
    if importlib.util.find_spec(module) is None:
        return None
    mod = importlib.import_module(module)
    start: Callable[[Services], Awaitable[Stopper | None]] = getattr(mod, entry)
    return await start(services)


async def _cleanup_loop(services: Services, pool_ids: Callable[[], set[int]]) -> None:
    every = max(60.0, min(3600.0, services.settings.tmp_max_age_hours * 3600 / 4))
    while True:
        try:
            report = await services.jobs.clean_temp(also_live=pool_ids())
            if report.removed:
                log.info("cleanup removed %d path(s)", len(report.removed))
        except Exception:
            log.exception("cleanup failed")
        await asyncio.sleep(every)


async def _start_follows_and_notifications(
    services: Services, notifications: Notifications | None
) -> list[Stopper]:
    """The follow scheduler (in every worker process: a due follow is claimed by one) and
    the operator's notification sink (when ``NOTIFY_URLS`` is set)."""
    from mediaferry.follows.scheduler import FollowScheduler

    stoppers: list[Stopper] = []
    scheduler = FollowScheduler(services.follows)
    scheduler.start()
    stoppers.append(scheduler.stop)
    if notifications is not None:
        stoppers.append(await notifications.start(services))
    return stoppers


async def run_service(
    settings: Settings,
    *,
    workers: bool = True,
    bot: bool = True,
    web: bool = True,
    concurrency: int | None = None,
) -> None:
    # a notification URL Apprise does not understand stops the start before anything runs
    notifications = Notifications(settings) if settings.notify_urls and workers else None
    services = await Services.create(settings)
    resume_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    stoppers: list[Stopper] = []
    pool = None
    background: list[asyncio.Task[None]] = []
    try:
        bot_started = web_started = False
        if web:
            stopper = await _start_optional("mediaferry.web.server", services)
            if stopper is not None:
                stoppers.append(stopper)
                web_started = True
        if bot:
            if settings.telegram_token is None:
                log.warning("no MEDIAFERRY_TELEGRAM_TOKEN set: the Telegram bot is off")
            else:
                stopper = await _start_optional("mediaferry.bot.runner", services)
                if stopper is not None:
                    stoppers.append(stopper)
                    bot_started = True
        if workers and not bot and settings.telegram_token is not None:
            # a workers-only process still uploads the Telegram jobs it runs
            stopper = await _start_optional("mediaferry.bot.runner", services, "start_delivery")
            if stopper is not None:
                stoppers.append(stopper)
        if workers:
            stoppers.extend(await _start_follows_and_notifications(services, notifications))
            pool = services.worker_pool(concurrency=concurrency)
            await pool.start()
            running = pool.running
            background.append(asyncio.create_task(_cleanup_loop(services, lambda: set(running))))
        if settings.ytdlp_auto_update != "off":
            from mediaferry.jobs.ytdlp_refresh import auto_update_loop

            background.append(asyncio.create_task(auto_update_loop(settings)))
        if not settings.mtproto_enabled:  # t.me links, channel archiving, big bot files
            log.info(settings.mtproto_off_reason)
        # what is running, not what was asked for (no token: no bot)
        log.info(
            "mediaferry is running",
            extra={
                "workers": workers,
                "bot": bot_started,
                "web": web_started,
                "mtproto": settings.mtproto_enabled,
            },
        )
        await stop.wait()
        log.info("shutting down")
    finally:
        for task in background:
            task.cancel()
        for stopper in reversed(stoppers):
            try:
                await stopper()
            except Exception:
                log.exception("error while stopping")
        if pool is not None:
            await pool.stop()
        await services.close()
