"""Follows: a playlist, channel, feed or Telegram chat watched for new entries, each new
entry turned into an ordinary job through the job service (DESIGN.md §13).

A check lists entries newest first and walks them until it meets a run of entries it
has already seen (not "the newest one only"), so ten uploads between two checks are
ten jobs; the follow's seen-set and the engine's own dedup keep a re-appearing entry
from being fetched twice. A check queues at most ``MAX_PLAYLIST_ITEMS`` jobs (oldest
of the new first, at low priority) and leaves the rest for the next check.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from mediaferry.config import Settings
from mediaferry.db.engine import Database
from mediaferry.db.models import Follow, FollowSeen, Job, JobEvent, MediaItem, utcnow
from mediaferry.errors import (
    JobError,
    JobNotFound,
    LimitExceeded,
    MediaferryError,
    RateLimited,
    UrlRejected,
)
from mediaferry.follows.rules import compile_filter, parse_date, parse_every, title_matches
from mediaferry.jobs.service import JobService
from mediaferry.jobs.states import JobType
from mediaferry.jobs.transition import add_event
from mediaferry.net.feed import FeedEntry, FeedListing
from mediaferry.sources.listing import Detected, detect_kind, list_entries
from mediaferry.telegram.clients import TelegramClients
from mediaferry.telegram.links import KINDS, message_url, parse_chat
from mediaferry.urls import check_url

if TYPE_CHECKING:
    from mediaferry.telegram.chats import Chat

__all__ = ["CheckResult", "FollowNotFound", "FollowService", "follow_to_dict"]

log = logging.getLogger(__name__)

_TELEGRAM_REF = re.compile(r"^(?:@|-?\d{1,19}$|(?:https?://)?(?:t\.me|telegram\.me)/)")
STOP_RUN = 3  # this many already-seen entries in a row end a check's walk
FOLLOW_PRIORITY = -10  # follow jobs give way to what people ask for directly
LIST_WINDOW = 100  # entries read per check (the newest)

Lister = Callable[..., Awaitable[FeedListing]]
Detector = Callable[[str, Settings], Awaitable[Detected]]
Notify = Callable[[str, str], None]


class FollowNotFound(JobNotFound):
    """No such follow."""


@dataclass(slots=True)
class CheckResult:
    follow_id: int
    new: int = 0  # jobs queued by this check
    duplicates: int = 0  # new entries the engine already had as jobs
    skipped: int = 0  # filtered out or refused
    remaining: int = 0  # new entries left for the next check (over the per-check cap)
    not_modified: bool = False
    error: str | None = None
    job_ids: list[int] = field(default_factory=list)


def follow_to_dict(follow: Follow) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": follow.id,
        "url": follow.url,
        "kind": follow.kind,
        "title": follow.title,
        "job_type": follow.job_type,
        "quality": follow.quality,
        "tg_kind": follow.tg_kind,
        "include": follow.include_re,
        "exclude": follow.exclude_re,
        "min_duration_s": follow.min_duration_s,
        "max_duration_s": follow.max_duration_s,
        "published_after": iso(follow.published_after),
        "chat_id": follow.chat_id,
        "user_id": follow.user_id,
        "archive": follow.archive,
        "every_s": follow.every_s,
        "paused": follow.paused,
        "keep_last": follow.keep_last,
        "keep_days": follow.keep_days,
        "next_check_at": iso(follow.next_check_at),
        "last_check_at": iso(follow.last_check_at),
        "last_ok_at": iso(follow.last_ok_at),
        "last_error": follow.last_error,
        "failures": follow.failures,
        "items_queued": follow.items_queued,
        "last_new": follow.last_new,
        "created_at": iso(follow.created_at),
    }


class FollowService:
    """Create, list, change and check follows. Interfaces (bot, CLI, web) call this."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        jobs: JobService,
        *,
        lister: Lister = list_entries,
        detector: Detector = detect_kind,
        notify: Notify | None = None,
        rng: random.Random | None = None,
        telegram: TelegramClients | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.jobs = jobs
        self.telegram = telegram
        self.lister = lister
        self.detector = detector
        self.notify = notify
        self.rng = rng or random.Random()
        self.on_added: Callable[[], None] | None = None  # wakes this process's scheduler

    # -- create and change ------------------------------------------------------
    async def add(
        self,
        url: str,
        *,
        job_type: str = "video",
        quality: str = "best",
        every: str | int | None = None,
        start: str = "now",
        backfill: int = 0,
        since: str | None = None,
        include: str | None = None,
        exclude: str | None = None,
        min_duration_s: float | None = None,
        max_duration_s: float | None = None,
        published_after: str | None = None,
        chat_id: int | None = None,
        user_id: int | None = None,
        archive: bool = False,
        keep_last: int | None = None,
        keep_days: int | None = None,
        tg_kind: str | None = None,
    ) -> Follow:
        """Validate, find out what ``url`` is (one request) and store the follow; its
        first check is due at once. Raises UrlRejected / LimitExceeded / JobError."""
        url = url.strip()
        if job_type not in (JobType.VIDEO.value, JobType.AUDIO.value):
            raise UrlRejected(f"unknown job type {job_type!r}; use video or audio")
        every_s = parse_every(
            every if every is not None else self.settings.follow_default_every_s,
            self.settings.follow_min_every_s,
        )
        compile_filter(include, "include")
        compile_filter(exclude, "exclude")
        for name, value in (("backfill", backfill), ("keep_last", keep_last)):
            if value is not None and not 0 <= value <= 10_000:
                raise UrlRejected(f"{name} must be between 0 and 10000")
        if keep_days is not None and not 1 <= keep_days <= 36_500:
            raise UrlRejected("keep_days must be between 1 and 36500")
        if start not in ("now", "backfill", "since"):
            raise UrlRejected("start must be now, backfill or since")
        since_at = parse_date(since) if since else None
        if start == "since" and since_at is None:
            raise UrlRejected("--since needs a date (YYYY-MM-DD)")
        if since_at is not None:
            start = "since"
        after_at = parse_date(published_after) if published_after else None
        if (
            min_duration_s is not None
            and max_duration_s is not None
            and (min_duration_s > max_duration_s)
        ):
            raise UrlRejected("the minimum duration is longer than the maximum")
        if not _TELEGRAM_REF.match(url):
            url = check_url(
                url,
                allow_private=self.settings.allow_private_networks,
                max_length=self.settings.max_url_length,
            ).url
        if user_id is not None:
            async with self.db.session() as session:
                count = await session.scalar(
                    select(func.count()).select_from(Follow).where(Follow.user_id == user_id)
                )
            if (count or 0) >= self.settings.max_follows_per_user:
                raise LimitExceeded(
                    f"you already follow {count} sources (the limit is "
                    f"{self.settings.max_follows_per_user}); remove one first"
                )
        if tg_kind is not None and tg_kind not in KINDS:
            raise UrlRejected(f"unknown kind {tg_kind!r}; use {', '.join(KINDS)}")
        detected = await self.detector(url, self.settings)
        if detected.kind == "telegram":
            detected = await self._detect_telegram(url, chat_id)
        now = utcnow()
        follow = Follow(
            url=detected.url,
            kind=detected.kind,
            title=detected.title,
            job_type=job_type,
            quality="audio" if job_type == "audio" and quality == "best" else quality,
            tg_kind=tg_kind,
            include_re=include or None,
            exclude_re=exclude or None,
            min_duration_s=min_duration_s,
            max_duration_s=max_duration_s,
            published_after=since_at if start == "since" else after_at,
            user_id=user_id,
            chat_id=chat_id,
            archive=archive,
            every_s=every_s,
            next_check_at=now,
            failures=0,
            paused=False,
            keep_last=keep_last,
            keep_days=keep_days,
            primed=False,
            backfill=backfill if start == "backfill" else 0,
            items_queued=0,
            last_new=0,
            created_at=now,
            updated_at=now,
        )
        if start == "since":
            follow.backfill = -1  # first check: everything published since the date
        async with self.db.session() as session:
            session.add(follow)
        log.info("follow added", extra={"follow_id": follow.id, "kind": follow.kind})
        if self.on_added is not None:
            self.on_added()
        return follow

    async def _telegram_chat(self, text: str) -> Chat:
        if self.telegram is None or not self.telegram.enabled:
            raise UrlRejected(
                "following a Telegram chat needs MEDIAFERRY_TELEGRAM_API_ID/_API_HASH and a "
                "logged-in account (mediaferry tg login)"
            )
        # Telethon is loaded only by what reads Telegram (not by every process that
        # builds the services: `add --wait` of a web link starts ~0.1 s sooner)
        from mediaferry.telegram.chats import resolve_chat

        client = await self.telegram.user()
        return await resolve_chat(client, parse_chat(text))

    async def _detect_telegram(self, url: str, chat_id: int | None) -> Detected:
        chat = await self._telegram_chat(url)
        # the Bot API names a channel -100<id>, a basic group -<id>
        if chat_id is not None and chat_id in (chat.id, -chat.id, -(10**12 + chat.id)):
            raise UrlRejected("a follow cannot watch the chat it delivers into")
        ref = f"@{chat.username}" if chat.username else f"-100{chat.id}"
        return Detected("telegram", ref, chat.title)

    async def _list_telegram(self, follow: Follow) -> FeedListing:
        """A chat's media messages newer than the follow's high-water mark (one
        ``messages.getHistory``/``search`` page when nothing is new)."""
        from mediaferry.jobs.tg_archive import job_args_for
        from mediaferry.telegram.chats import iter_media

        chat = await self._telegram_chat(follow.url)
        client = await self.telegram.user()  # type: ignore[union-attr]
        entries: list[FeedEntry] = []
        cursor = follow.high_water or 0
        async for page in iter_media(
            client,
            chat,
            kind=follow.tg_kind or "all",  # type: ignore[arg-type]
            min_id=follow.high_water or 0,
            limit=LIST_WINDOW,
        ):
            for media in page:
                cursor = max(cursor, media.message_id)
                args = job_args_for(chat, media)
                entries.append(
                    FeedEntry(
                        id=f"tg:{chat.id}:{media.message_id}",
                        url=message_url(
                            chat.ref, media.message_id, single=media.grouped_id is not None
                        ),  # an album's item alone
                        title=args["title"] or media.file_name or media.caption[:200] or None,
                        published=media.date,
                        duration=media.duration,
                        job_args=args,
                    )
                )
        return FeedListing(title=chat.title, entries=entries, cursor=cursor)

    async def get(self, follow_id: int, *, user_id: int | None = None) -> Follow:
        async with self.db.session() as session:
            follow = await session.get(Follow, follow_id)
        if follow is None or (user_id is not None and follow.user_id != user_id):
            raise FollowNotFound(f"no follow #{follow_id}")
        return follow

    async def list_follows(self, *, user_id: int | None = None) -> Sequence[Follow]:
        query = select(Follow).order_by(Follow.id)
        if user_id is not None:
            query = query.where(Follow.user_id == user_id)
        async with self.db.session() as session:
            return (await session.execute(query)).scalars().all()

    async def update(self, follow_id: int, *, user_id: int | None = None, **changes: Any) -> Follow:
        """Change settings of a follow (``paused``, ``every``, filters, retention...)."""
        allowed = {
            "paused",
            "every",
            "include",
            "exclude",
            "min_duration_s",
            "max_duration_s",
            "archive",
            "keep_last",
            "keep_days",
            "quality",
            "job_type",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise UrlRejected(f"cannot change {sorted(unknown)[0]!r} of a follow")
        columns: dict[str, Any] = {}
        for key, value in changes.items():
            if value is None and key in ("paused", "every", "archive", "quality", "job_type"):
                raise UrlRejected(f"{key} cannot be empty")
            if key == "every":
                columns["every_s"] = parse_every(value, self.settings.follow_min_every_s)
            elif key in ("include", "exclude"):
                compile_filter(value, key)
                columns[f"{key}_re"] = value or None
            elif key == "job_type" and value not in ("video", "audio"):
                raise UrlRejected("job_type must be video or audio")
            else:
                columns[key] = value
        async with self.db.session() as session:
            follow = await session.get(Follow, follow_id)
            if follow is None or (user_id is not None and follow.user_id != user_id):
                raise FollowNotFound(f"no follow #{follow_id}")
            for key, value in columns.items():
                setattr(follow, key, value)
            low, high = follow.min_duration_s, follow.max_duration_s
            if low is not None and high is not None and low > high:
                raise UrlRejected("the minimum duration is longer than the maximum")
            if columns.get("paused") is False:
                follow.next_check_at = min(follow.next_check_at, utcnow())
            follow.updated_at = utcnow()
        return follow

    async def set_paused(
        self, follow_id: int, paused: bool, *, user_id: int | None = None
    ) -> Follow:
        return await self.update(follow_id, user_id=user_id, paused=paused)

    async def remove(self, follow_id: int, *, user_id: int | None = None) -> None:
        async with self.db.session() as session:
            follow = await session.get(Follow, follow_id)
            if follow is None or (user_id is not None and follow.user_id != user_id):
                raise FollowNotFound(f"no follow #{follow_id}")
            await session.execute(delete(FollowSeen).where(FollowSeen.follow_id == follow_id))
            await session.delete(follow)

    # -- scheduling ----------------------------------------------------------------
    async def claim_due(self, worker_id: str, lease_s: float = 600.0) -> int | None:
        """Take one due follow for this process (others skip it until the lease ends)."""
        now = utcnow()
        lock = " FOR UPDATE SKIP LOCKED" if self.db.is_postgres else ""
        async with self.db.tx() as tx:
            row = await tx.one(
                "UPDATE follows SET claimed_by = :me, claimed_until = :until"
                " WHERE id = (SELECT id FROM follows WHERE paused = :no"
                " AND next_check_at <= :now AND (claimed_until IS NULL OR claimed_until < :now)"
                f" ORDER BY next_check_at LIMIT 1{lock}) RETURNING id",
                {
                    "me": worker_id,
                    "until": now + timedelta(seconds=lease_s),
                    "now": now,
                    "no": False,
                },
            )
        return int(row[0]) if row else None

    async def seconds_until_due(self) -> float | None:
        async with self.db.tx() as tx:
            row = await tx.one(
                "SELECT min(next_check_at) FROM follows WHERE paused = :no", {"no": False}
            )
        if row is None or row[0] is None:
            return None
        nxt = row[0]
        if isinstance(nxt, str):
            nxt = datetime.fromisoformat(nxt)
        if nxt.tzinfo is None:
            nxt = nxt.replace(tzinfo=utcnow().tzinfo)
        wait: float = max(0.0, (nxt - utcnow()).total_seconds())
        return wait

    def _next_check(self, every_s: float) -> datetime:
        """The next check, spread by ±10 % so many follows do not fire at once."""
        spread = every_s * 0.1
        return utcnow() + timedelta(seconds=every_s + self.rng.uniform(-spread, spread))

    # -- one check ---------------------------------------------------------------------
    async def check(self, follow_id: int) -> CheckResult:
        """Look for new entries now and queue them; failures are kept on the follow."""
        follow = await self.get(follow_id)
        result = CheckResult(follow_id)
        try:
            if follow.kind == "telegram":
                listing = await self._list_telegram(follow)
            else:
                listing = await self.lister(
                    follow.kind,
                    follow.url,
                    self.settings,
                    limit=LIST_WINDOW,
                    etag=follow.etag,
                    last_modified=follow.last_modified,
                )
        except MediaferryError as exc:
            return await self._failed(follow, result, exc)
        if listing.not_modified:
            result.not_modified = True
        else:
            await self._take(follow, listing.entries, result)
        now = utcnow()
        values: dict[str, Any] = {
            "id": follow.id,
            "now": now,
            "new": result.new,
            "title": listing.title,
            "next": now + timedelta(seconds=5)
            if result.remaining
            else self._next_check(follow.every_s),
        }
        cache = ""
        if listing.cursor is not None and not result.remaining:
            cache += ", high_water = :cursor"
            values["cursor"] = listing.cursor
        if result.remaining:  # more to take from this very document next time
            cache += ", etag = NULL, last_modified = NULL"
        elif not listing.not_modified:
            cache += ", etag = :etag, last_modified = :modified"
            values.update(etag=listing.etag, modified=listing.last_modified)
        # one statement: a check with nothing new costs three short transactions in all
        async with self.db.tx() as tx:
            await tx.run(
                "UPDATE follows SET last_check_at = :now, last_ok_at = :now, failures = 0,"
                " last_error = NULL, primed = :yes, last_new = :new,"
                " items_queued = items_queued + :new, title = COALESCE(title, :title),"
                " next_check_at = :next, claimed_by = NULL, claimed_until = NULL,"
                f" updated_at = :now{cache} WHERE id = :id",
                {**values, "yes": True},
            )
        if result.new and self.notify is not None:
            name = follow.title or listing.title or follow.url
            self.notify("follow_new", f"Follow #{follow.id} ({name}): {result.new} new item(s)")
        if follow.keep_last or follow.keep_days:
            await self.apply_retention(follow.id)
        log.info(
            "follow checked",
            extra={"follow_id": follow.id, "new": result.new, "remaining": result.remaining},
        )
        return result

    async def _failed(
        self, follow: Follow, result: CheckResult, exc: MediaferryError
    ) -> CheckResult:
        result.error = exc.message
        failures = follow.failures + 1
        if isinstance(exc, RateLimited) and exc.retry_after:
            delay = exc.retry_after
        else:  # back off: 1, 2, 4 ... minutes, never later than the usual interval
            delay = min(float(follow.every_s), 60.0 * 2 ** min(failures - 1, 16))
        async with self.db.session() as session:
            row = await session.get(Follow, follow.id)
            if row is not None:
                row.failures = failures
                row.last_error = exc.message[:500]
                row.last_check_at = utcnow()
                row.next_check_at = utcnow() + timedelta(seconds=delay)
                row.claimed_by = row.claimed_until = None
        log.warning("follow check failed: %s", exc.message, extra={"follow_id": follow.id})
        if failures == 3 and self.notify is not None:
            self.notify(
                "follow_failing",
                f"Follow #{follow.id} ({follow.title or follow.url}) failed 3 times: {exc.message}",
            )
        return result

    async def _take(self, follow: Follow, entries: list[FeedEntry], result: CheckResult) -> None:
        ids = [e.id for e in entries]
        async with self.db.session() as session:
            seen = set(
                (
                    await session.execute(
                        select(FollowSeen.entry_id).where(
                            FollowSeen.follow_id == follow.id, FollowSeen.entry_id.in_(ids)
                        )
                    )
                ).scalars()
            )
        fresh: list[FeedEntry] = []
        run = 0
        walked: set[str] = set()
        for entry in entries:  # newest first
            if entry.id in walked:
                continue
            walked.add(entry.id)
            if entry.id in seen:
                run += 1
                if run >= STOP_RUN:
                    break
                continue
            run = 0
            fresh.append(entry)
        wanted, ignore = self._first_check_split(follow, fresh)
        include = compile_filter(follow.include_re, "include")
        exclude = compile_filter(follow.exclude_re, "exclude")
        take: list[FeedEntry] = []
        for entry in wanted:
            if self._filtered(follow, entry, include, exclude):
                ignore.append(entry)
            else:
                take.append(entry)
        result.skipped = len(ignore)
        cap = self.settings.max_playlist_items
        take.reverse()  # oldest first: the newest wait for the next check if over the cap
        result.remaining = max(0, len(take) - cap)
        take = take[:cap]
        marks: list[tuple[str, int | None]] = [(e.id, None) for e in ignore]
        for entry in take:
            job_id = await self._queue(follow, entry, result)
            marks.append((entry.id, job_id))
        await self._mark_seen(follow.id, marks)

    def _first_check_split(
        self, follow: Follow, fresh: list[FeedEntry]
    ) -> tuple[list[FeedEntry], list[FeedEntry]]:
        """On the first check, what to fetch (--backfill N / --since) and what only to
        remember as seen (--from now: everything there already)."""
        if follow.primed:
            return fresh, []
        if follow.backfill == -1 and follow.published_after is not None:
            after = follow.published_after
            wanted = [e for e in fresh if e.published is not None and e.published >= after]
            return wanted, [e for e in fresh if e not in wanted]
        return fresh[: follow.backfill], fresh[follow.backfill :]

    def _filtered(self, follow: Follow, entry: FeedEntry, include: Any, exclude: Any) -> bool:
        if not title_matches(entry.title, include, exclude):
            return True
        if entry.duration is not None:
            if follow.min_duration_s is not None and entry.duration < follow.min_duration_s:
                return True
            if follow.max_duration_s is not None and entry.duration > follow.max_duration_s:
                return True
        after = follow.published_after
        return after is not None and entry.published is not None and entry.published < after

    async def _queue(self, follow: Follow, entry: FeedEntry, result: CheckResult) -> int | None:
        args: dict[str, Any] = {
            "job_type": follow.job_type,
            "quality": follow.quality,
            "title": entry.title,
            **entry.job_args,
        }
        try:
            created = await self.jobs.create(
                entry.url,
                user_id=follow.user_id,
                chat_id=follow.chat_id,
                priority=FOLLOW_PRIORITY,
                archive=follow.archive or follow.chat_id is None,
                origin="follow",
                enforce_limits=False,
                **args,
            )
        except (UrlRejected, LimitExceeded, JobError) as exc:
            log.info("follow entry refused: %s", exc.message, extra={"follow_id": follow.id})
            result.skipped += 1
            return None
        if created.created:
            result.new += 1
            result.job_ids.append(created.job.id)
        else:
            result.duplicates += 1
        return created.job.id

    async def _mark_seen(self, follow_id: int, marks: list[tuple[str, int | None]]) -> None:
        if not marks:
            return
        now = utcnow()
        async with self.db.tx() as tx:
            await tx.many(
                "INSERT INTO follow_seen (follow_id, entry_id, job_id, seen_at)"
                " VALUES (:follow_id, :entry_id, :job_id, :seen_at)"
                " ON CONFLICT (follow_id, entry_id) DO NOTHING",
                [
                    {"follow_id": follow_id, "entry_id": e, "job_id": j, "seen_at": now}
                    for e, j in marks
                ],
            )
            # a bounded seen-set: the oldest ids beyond the newest N are forgotten
            await tx.run(
                "DELETE FROM follow_seen WHERE follow_id = :f AND id NOT IN"
                " (SELECT id FROM follow_seen WHERE follow_id = :f ORDER BY id DESC LIMIT :keep)",
                {"f": follow_id, "keep": self.settings.follow_seen_keep},
            )

    # -- retention -------------------------------------------------------------------
    async def apply_retention(self, follow_id: int) -> list[int]:
        """Delete archived files of this follow beyond ``keep_last`` / older than
        ``keep_days``. Never a file another follow or a user's own job still uses (a job
        someone else asked for too carries a DEDUP event). Returns the job ids whose
        files were removed."""
        follow = await self.get(follow_id)
        async with self.db.session() as session:
            jobs = (
                (
                    await session.execute(
                        select(Job)
                        .join(FollowSeen, FollowSeen.job_id == Job.id)
                        .where(
                            FollowSeen.follow_id == follow_id,
                            Job.origin == "follow",
                            Job.status == "COMPLETED",
                            Job.file_path.is_not(None),
                        )
                        .order_by(Job.finished_at.desc(), Job.id.desc())
                    )
                )
                .scalars()
                .all()
            )
            doomed: list[Job] = []
            cutoff = utcnow() - timedelta(days=follow.keep_days) if follow.keep_days else None
            for n, job in enumerate(jobs):
                too_many = follow.keep_last is not None and n >= follow.keep_last
                too_old = (
                    cutoff is not None
                    and job.finished_at is not None
                    and (job.finished_at < cutoff)
                )
                if too_many or too_old:
                    doomed.append(job)
            removed: list[int] = []
            archive_root = self.settings.archive_dir.resolve()
            for job in doomed:
                shared = await session.scalar(
                    select(func.count())
                    .select_from(FollowSeen)
                    .where(FollowSeen.job_id == job.id, FollowSeen.follow_id != follow_id)
                )
                wanted = await session.scalar(
                    select(func.count())
                    .select_from(JobEvent)
                    .where(JobEvent.job_id == job.id, JobEvent.event_type == "DEDUP")
                )
                if shared or wanted:
                    continue
                items = (
                    (await session.execute(select(MediaItem).where(MediaItem.job_id == job.id)))
                    .scalars()
                    .all()
                )
                paths = {Path(i.path) for i in items}
                if job.file_path:
                    paths.add(Path(job.file_path))
                for path in paths:
                    resolved = path.resolve()
                    # only files inside the archive: temp results are cleanup's business
                    if resolved.is_relative_to(archive_root) and resolved.is_file():
                        resolved.unlink()
                        thumb = resolved.with_suffix(".jpg")
                        if thumb != resolved and thumb.is_file():
                            thumb.unlink()
                for item in items:
                    await session.delete(item)
                await add_event(session, job.id, "RETENTION_DELETED", {"follow_id": follow_id})
                removed.append(job.id)
        if removed:
            log.info(
                "follow retention removed %d file(s)", len(removed), extra={"follow_id": follow_id}
            )
        return removed
