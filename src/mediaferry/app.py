"""Wiring: build every service once from the settings (the composition root)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mediaferry._ytdlp_args import secret_values
from mediaferry.config import Settings
from mediaferry.db.engine import Database
from mediaferry.db.models import Job
from mediaferry.db.waiters import Waiters
from mediaferry.delivery.archive import Archiver
from mediaferry.delivery.base import Deliverer
from mediaferry.delivery.notify import Notifier
from mediaferry.delivery.ratelimit import SendBudgets, SendLimiter
from mediaferry.files.disk import DiskGuard
from mediaferry.files.storage import Storage
from mediaferry.follows.service import FollowService
from mediaferry.jobs.auth import AuthProfiles  # auth profiles
from mediaferry.jobs.bus import Event, EventBus
from mediaferry.jobs.chats import ChatSettingsService
from mediaferry.jobs.earlier import EarlierResults
from mediaferry.jobs.library import Library
from mediaferry.jobs.pipeline import Pipeline
from mediaferry.jobs.service import JobService, detector_for
from mediaferry.jobs.tg_documents import TelegramDocuments
from mediaferry.jobs.worker import WorkerPool
from mediaferry.logging import add_secret
from mediaferry.plan import JobRequest, MediaPlan, SourceType
from mediaferry.sources.base import Source
from mediaferry.sources.registry import describe, source_for
from mediaferry.sources.telegram import TelegramSource
from mediaferry.telegram.clients import TelegramClients
from mediaferry.transfer.registry import TransferRegistry

if TYPE_CHECKING:
    from telegram import Bot

    from mediaferry.delivery.telegram import TelegramDeliverer

__all__ = ["Notifications", "Services"]

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a process needs, built once and passed down."""

    settings: Settings
    db: Database
    bus: EventBus
    jobs: JobService
    storage: Storage
    transfers: TransferRegistry
    pipeline: Pipeline
    disk: DiskGuard
    telegram: TelegramClients
    waiters: Waiters  # chats waiting on a job another chat started (bot and delivery)
    follows: FollowService
    chats: ChatSettingsService  # per-chat defaults (/settings, archive mode)
    library: Library  # archived media: search, one item
    _closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    # the one Telegram send path's budgets, shared by every sender in this process
    send_limiter: SendLimiter = field(default_factory=SendLimiter)
    # set by the bot in webhook mode: (secret, handler of one update's JSON)
    telegram_webhook: tuple[str, Callable[[dict[str, Any]], Awaitable[None]]] | None = None

    @classmethod
    async def create(
        cls,
        settings: Settings,
        *,
        migrate: bool = True,
        deliverers: list[Deliverer] | None = None,
        start_bus: bool = True,
    ) -> Services:
        for secret in (settings.telegram_token, settings.api_key):
            if secret is not None:
                add_secret(secret.get_secret_value())
        for value in secret_values(settings.ytdlp_extractor_args):  # PO tokens
            add_secret(value)
        db = Database(settings.database_url)
        if migrate:
            await db.upgrade()
        bus = EventBus()
        if start_bus:
            await bus.start(settings.database_url)

        async def describe_link(request: JobRequest, st: SourceType) -> MediaPlan:
            return await describe(request, st, settings)

        jobs = JobService(
            db, settings, bus, detector=detector_for(settings), describer=describe_link
        )
        storage = Storage(settings)
        telegram = TelegramClients(settings)  # issue 10: MTProto clients, connected on use
        transfers = TransferRegistry(settings, telegram=telegram)
        disk = DiskGuard(settings)
        cache: dict[SourceType, Source] = {}

        def sources(st: SourceType) -> Source:
            if st not in cache:
                if st == SourceType.TELEGRAM:
                    cache[st] = TelegramSource(settings, telegram)
                else:
                    cache[st] = source_for(st, settings)
            return cache[st]

        def notify(event: str, text: str) -> None:
            # operators' notifications: a local bus event, sent by the notifier if any
            bus.publish("notify", None, remote=False, event=event, text=text)

        services = cls(
            settings=settings,
            db=db,
            bus=bus,
            jobs=jobs,
            follows=FollowService(db, settings, jobs, notify=notify, telegram=telegram),
            storage=storage,
            transfers=transfers,
            pipeline=Pipeline(
                settings,
                sources=sources,
                transfers=transfers,
                storage=storage,
                deliverers=deliverers,
                disk_guard=disk,
            ),
            disk=disk,
            waiters=Waiters(db),
            chats=ChatSettingsService(db),
            library=Library(db),
            send_limiter=SendLimiter(SendBudgets.from_settings(settings)),
            telegram=telegram,
        )
        services.pipeline.on_playlist = services.expand_playlist
        archiver = Archiver(settings, db, storage)  # archive mode + re-use (issue 4)
        services.pipeline.deliverers.append(archiver)
        services.pipeline.reuse = archiver.find_reusable
        # a completed job's file for the same media: taken, not downloaded (issue 10)
        earlier = EarlierResults(settings, db, storage)
        services.pipeline.earlier = earlier.find
        # a Telegram document met before: the library's file, or another job's, or the
        # job fetching it waited for; not a second download (issue 10)
        services.pipeline.described = TelegramDocuments(
            db, archiver.item_result, earlier, wait_s=settings.stage_timeout("DOWNLOAD")
        ).described
        auth = AuthProfiles(db, settings)  # auth profiles (jobs/auth.py)
        auth.notify = notify
        services.pipeline.auth = auth
        return services

    async def expand_playlist(self, job: Job, plan: MediaPlan) -> dict[str, Any]:
        """One job per playlist entry (capped), each de-duplicated."""
        entries = (plan.entries or [])[: self.settings.max_playlist_items]
        created = dupes = refused = 0
        job_ids: list[int] = []
        for entry in entries:
            try:
                result = await self.jobs.create(
                    entry.url,
                    job_type=job.job_type,
                    quality=job.requested_quality,
                    user_id=job.user_id,
                    chat_id=job.chat_id,
                    message_id=job.message_id,
                    priority=job.priority,
                    archive=job.archive,
                    origin=job.origin,
                    title=entry.title,
                    enforce_limits=False,
                )
            except Exception as exc:
                refused += 1
                log.warning("playlist entry refused: %s", exc, extra={"job_id": job.id})
                continue
            created += int(result.created)
            dupes += int(not result.created)
            job_ids.append(result.job.id)
        return {
            "final_title": plan.title,
            "meta": {
                "playlist": {
                    "entries": len(entries),
                    "created": created,
                    "duplicates": dupes,
                    "refused": refused,
                    "jobs": job_ids,
                }
            },
        }

    def telegram_deliverer(self, bot: Bot) -> TelegramDeliverer:
        """The Telegram deliverer on the bot's ``Bot`` (built here: it needs storage)."""
        # imported here, not at the top: only bot processes load python-telegram-bot
        from mediaferry.delivery.mtproto import MtprotoRoute, mtproto_available
        from mediaferry.delivery.telegram import TelegramDeliverer

        # the bot's MTProto route (issue 10) when API id/hash are set; else files over the
        # upload limit are split as before
        route = None
        if mtproto_available(self.settings):
            route = MtprotoRoute(self.settings, self.telegram, self.send_limiter)
        return TelegramDeliverer(bot, self.db, self.settings, self.waiters, route)

    def worker_pool(
        self,
        *,
        concurrency: int | None = None,
        name: str = "worker",
        only_jobs: set[int] | None = None,
    ) -> WorkerPool:
        return WorkerPool(
            self.db,
            self.settings,
            self.pipeline,
            self.bus,
            concurrency=concurrency,
            name=name,
            only_jobs=only_jobs,
            disk_guard=self.disk,
        )

    async def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception:
                log.exception("error while closing")
        await self.transfers.close()
        await self.bus.close()
        await self.db.close()


class Notifications:
    """The operator's notification sink (``NOTIFY_URLS``, Apprise) fed by the bus's
    ``notify`` events. Made before the service starts: a URL Apprise does not
    understand raises :class:`~mediaferry.errors.ConfigError` then."""

    def __init__(self, settings: Settings) -> None:
        self.notifier = Notifier(settings)

    async def start(self, services: Services) -> Callable[[], Awaitable[None]]:
        """Relay the bus's notify events to the sink; returns the stopper."""
        sub = services.bus.subscribe(kinds=("notify",))
        notifier = self.notifier

        def add(event: Event) -> None:
            notifier.add(str(event.data.get("event", "")), str(event.data.get("text", "")))

        async def relay() -> None:
            async for event in sub:
                add(event)

        task = asyncio.create_task(relay(), name="notify-relay")

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            sub.close()
            # what was published but not yet relayed goes out with the rest
            while not sub.queue.empty():
                add(sub.queue.get_nowait())
            await notifier.close()

        return stop
