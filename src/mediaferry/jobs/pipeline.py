"""The stage runner (DESIGN.md §5).

METADATA → CHECK → DOWNLOAD → POSTPROCESS → VALIDATE → DELIVER, each with its own
timeout and ``<STAGE>_STARTED`` / ``_FINISHED`` / ``_FAILED`` events. What a later
stage needs is persisted on the job (``meta``), so a retry after a delivery failure
starts from DELIVER with the files already on disk: nothing is downloaded twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TypeVar

from mediaferry.config import Settings
from mediaferry.db.models import Job
from mediaferry.delivery.base import Deliverer
from mediaferry.errors import JobError, SizeLimitExceeded, StageTimeout, UnsupportedSource
from mediaferry.files.disk import DiskGuard
from mediaferry.files.storage import Storage
from mediaferry.jobs.auth import AuthProfiles, JobAuth  # auth profiles
from mediaferry.jobs.control import JobControl, RunResult
from mediaferry.jobs.earlier import Reused
from mediaferry.jobs.estimate import DESCRIBED_KEY, kept_plan
from mediaferry.jobs.states import Stage
from mediaferry.media.collection import postprocess_download
from mediaferry.media.postprocess import validate
from mediaferry.media.result import Processed, processed_from_meta, processed_to_meta
from mediaferry.plan import BOT_FILE_KEY, JobRequest, MediaPlan, SourceType, bot_file_from_dict
from mediaferry.sources.base import Source
from mediaferry.sources.registry import replan
from mediaferry.transfer.base import Transfer

__all__ = ["Pipeline"]

log = logging.getLogger(__name__)
T = TypeVar("T")


SourceResolver = Callable[[SourceType], Source]


class TransferPicker(Protocol):
    def for_plan(self, plan: MediaPlan) -> Transfer: ...


PlaylistHandler = Callable[[Job, MediaPlan], Awaitable[dict[str, Any]]]
# archive re-use (issue 4): an already archived result for this job, or None
ReuseHook = Callable[[Job], Awaitable[Processed | None]]
# before METADATA: a completed job's files for the same media (jobs/earlier.py)
EarlierHook = Callable[[Job], Awaitable[Reused | None]]
# after METADATA: the library's copy of what the plan describes, or another job's file
# (a Telegram document met before, issue 10), or None to download
DescribedHook = Callable[[Job, MediaPlan, JobControl], Awaitable[Reused | None]]


def plan_to_meta(plan: MediaPlan) -> dict[str, Any]:
    keep = ("url", "protocol", "title", "ext", "size", "media_id", "duration", "uploader")
    return {k: getattr(plan, k) for k in keep}


class Pipeline:
    """Runs one job attempt through the stages (a :class:`JobRunner`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        sources: SourceResolver,
        transfers: TransferPicker,
        storage: Storage | None = None,
        deliverers: list[Deliverer] | None = None,
        on_playlist: PlaylistHandler | None = None,
        disk_guard: DiskGuard | None = None,
    ) -> None:
        self.settings = settings
        self.sources = sources
        self.transfers = transfers
        self.storage = storage or Storage(settings)
        self.deliverers = list(deliverers or [])
        self.on_playlist = on_playlist
        self.disk_guard = disk_guard or DiskGuard(settings)
        self.reuse: ReuseHook | None = None  # archive re-use (issue 4, delivery/archive.py)
        self.earlier: EarlierHook | None = None  # another job's file (jobs/earlier.py)
        self.described: DescribedHook | None = None  # Telegram documents (jobs/tg_documents.py)
        self.auth: AuthProfiles | None = None  # auth profiles (jobs/auth.py)

    async def _stage(self, ctl: JobControl, stage: Stage, work: Callable[[], Awaitable[T]]) -> T:
        await ctl.set_stage(stage)
        started = time.monotonic()
        limit = self.settings.stage_timeout(stage.value)
        try:
            async with asyncio.timeout(limit):
                result = await work()
        except TimeoutError:
            error = StageTimeout(f"{stage.value.lower()} took longer than {limit:.0f}s")
            await ctl.event(f"{stage.value}_FAILED", {"error_type": "TIMEOUT"})
            raise error from None
        except JobError as exc:
            await ctl.event(
                f"{stage.value}_FAILED",
                {"error_type": exc.error_type.value, "message": exc.message},
            )
            raise
        await ctl.event(
            f"{stage.value}_FINISHED", {"duration_s": round(time.monotonic() - started, 3)}
        )
        return result

    def _for_job(self, job: Job) -> Settings:
        """Telegram's upload limit applies only to jobs delivered to Telegram (2000 MB
        when the bot sends big files whole over MTProto, issue 10)."""
        if job.chat_id is not None:
            if self.settings.mtproto_enabled and self.settings.telegram_token is not None:
                return self.settings.model_copy(update={"telegram_upload_limit_mb": 2000})
            return self.settings
        return self.settings.model_copy(
            update={"telegram_upload_limit_mb": self.settings.max_file_size_mb}
        )

    def _format_budget(self, job: Job, settings: Settings) -> int | None:
        """With ``oversize_policy=smaller``, Telegram jobs choose formats that fit the
        upload limit before downloading (instead of splitting afterwards)."""
        if job.chat_id is None or settings.oversize_policy != "smaller":
            return None
        return min(settings.upload_limit_bytes, settings.max_file_size_bytes)

    async def run(self, job: Job, ctl: JobControl) -> RunResult:
        meta: dict[str, Any] = dict(job.meta or {})
        processed = processed_from_meta(meta["processed"]) if "processed" in meta else None
        if processed is None and (reused := await self._reused(job, ctl, meta)) is not None:
            processed = reused  # archive re-use (issue 4): no METADATA…VALIDATE
        elif processed is None:
            acquired = await self._acquire(job, ctl, meta)
            if isinstance(acquired, RunResult):
                return acquired  # a playlist: its entries became jobs of their own
            processed = acquired  # with the sizes, hashes and probes VALIDATE measured
        else:
            await ctl.event("RESUMED", {"from_stage": Stage.DELIVER.value})
        # deliverers with a higher ``order`` run later (the archiver moves files: last)
        wanted = sorted((d for d in self.deliverers if d.wants(job)), key=lambda d: d.order)
        columns: dict[str, Any] = {}
        if wanted:

            async def deliver() -> None:
                for deliverer in wanted:
                    done = await deliverer.deliver(job, processed, ctl)
                    if done.event is not None:
                        await ctl.event(done.event, done.data)
                    columns.update(done.columns)
                    if done.moved:  # saved at once: a retry from DELIVER finds the files
                        meta["processed"] = processed_to_meta(processed)
                        await ctl.save(meta=meta)

            await self._stage(ctl, Stage.DELIVER, deliver)
        # the one place the result's file columns are decided (the final transition writes them)
        first = processed.parts[0]
        return RunResult(
            file_path=str(first.path),
            file_size=sum(p.size for p in processed.parts),
            final_title=processed.title,
            sha256=first.sha256 or meta.get("sha256"),
            **columns,
        )

    async def _reused(self, job: Job, ctl: JobControl, meta: dict[str, Any]) -> Processed | None:
        """Archive re-use (issue 4): the archived result of the same media, if any; else
        a completed job's files for it (e.g. ``add URL`` before ``add URL --archive``)."""
        if self.reuse is not None and (processed := await self.reuse(job)) is not None:
            return await self._kept(ctl, meta, Reused(processed))
        if self.earlier is not None and (reused := await self.earlier(job)) is not None:
            return await self._kept(ctl, meta, reused)
        return None

    @staticmethod
    async def _kept(ctl: JobControl, meta: dict[str, Any], reused: Reused) -> Processed:
        """The job's result is the library's file or another job's: nothing is downloaded."""
        processed = reused.processed
        meta["processed"] = processed_to_meta(processed)
        path = str(processed.parts[0].path)
        if reused.from_job is None:
            meta["reused_archive"] = True
            await ctl.save(meta=meta, final_title=processed.title)
            await ctl.event("REUSED_ARCHIVE", {"path": path})
            return processed
        if reused.telegram:  # the message the file came from, for the library
            meta["telegram"] = {**reused.telegram, **(meta.get("telegram") or {})}
        meta["reused_from"] = reused.from_job
        await ctl.save(meta=meta, final_title=processed.title)
        await ctl.event("REUSED_FILE", {"job": reused.from_job, "path": path})
        return processed

    async def _acquire(
        self, job: Job, ctl: JobControl, meta: dict[str, Any]
    ) -> RunResult | Processed:
        """METADATA … VALIDATE; stores the result in ``meta`` and returns it, or a
        RunResult for jobs that end early (playlists)."""
        settings = self._for_job(job)
        source = self.sources(SourceType(job.source_type))
        request = JobRequest(
            job.id,
            job.url,
            job.job_type,
            job.requested_quality,
            playlist_items=meta.get("playlist_items"),
            max_bytes=self._format_budget(job, settings),
            bot_file=bot_file_from_dict(meta.get(BOT_FILE_KEY)),  # a file sent to the bot
        )
        # auth profiles: the best untried cookie profile; AuthError → retry with the next
        auth = await JobAuth.start(self.auth, job, ctl, meta, request)
        described = meta.pop(DESCRIBED_KEY, None)  # the keyboard's description, if any
        plan = await self._stage(
            ctl,
            Stage.METADATA,
            auth.guard(lambda: self._describe(job, ctl, source, request, described, settings)),
        )
        if plan.entries is not None:
            if self.on_playlist is None:
                raise UnsupportedSource("playlists are not supported here")
            return RunResult(await self.on_playlist(job, plan))
        auth.apply(plan)  # auth profiles: cookies for plain HTTP downloads too
        if job.title:  # a title known before (e.g. from a playlist entry) beats a file name
            plan.title = job.title
        meta["plan"] = plan_to_meta(plan)
        if isinstance(plan.extra.get("telegram"), dict):  # issue 10: the file's chat/message
            meta["telegram"] = {**plan.extra["telegram"], **(meta.get("telegram") or {})}
            plan.extra["telegram"] = meta["telegram"]  # the job's own args too (--parallel)
        await ctl.save(
            title=plan.title or job.title,
            media_id=job.media_id or plan.media_id,
            bytes_total=plan.size,
            meta=meta,
        )
        if self.described is not None:  # e.g. a Telegram document the library has
            in_library = await self.described(job, plan, ctl)
            if in_library is not None:
                return await self._kept(ctl, meta, in_library)
        await self._stage(ctl, Stage.CHECK, lambda: self._check(plan, settings))
        work = self.storage.tmp_dir_for(job.id)
        transfer = self.transfers.for_plan(plan)
        await ctl.save(meta={**meta, "downloader": transfer.name})
        fetched = await self._stage(
            ctl,
            Stage.DOWNLOAD,
            auth.guard(lambda: transfer.fetch(plan, work / "download", ctl.progress)),
        )
        await auth.succeeded()  # auth profiles
        downloaded: dict[str, object] = {"bytes": fetched.size, "downloader": fetched.downloader}
        if fetched.tool_version:
            downloaded["version"] = fetched.tool_version
        await ctl.event("DOWNLOADED", downloaded)
        job_type: Literal["video", "audio"] = "audio" if job.job_type == "audio" else "video"
        processed = await self._stage(
            ctl,
            Stage.POSTPROCESS,
            lambda: postprocess_download(  # one file, or each media file of a torrent
                fetched.path,
                fetched.extra_files,
                job_type=job_type,
                plan=plan,
                work_dir=work,
                settings=settings,
            ),
        )
        checked = await self._stage(
            ctl,
            Stage.VALIDATE,
            lambda: validate(
                processed,
                expected_duration=plan.duration,
                settings=settings,
                digest=fetched.digest,  # hashed while downloading: re-used if unchanged
            ),
        )
        for part, valid in zip(processed.parts, checked, strict=True):
            # measured once here; deliverers and the archive use these
            part.size, part.sha256 = valid.size, valid.sha256
            part.probe = valid.probe or part.probe
        meta["processed"] = processed_to_meta(processed)
        meta["sha256"] = checked[0].sha256
        kept = {p.path for p in processed.parts} | set(processed.extras)
        if fetched.path.exists() and fetched.path not in kept:
            fetched.path.unlink(missing_ok=True)
        # file_path/file_size/sha256 are written once, by the final transition
        await ctl.save(meta=meta, final_title=processed.title)
        return processed

    async def _describe(
        self,
        job: Job,
        ctl: JobControl,
        source: Source,
        request: JobRequest,
        described: Any,
        settings: Settings,
    ) -> MediaPlan:
        """The plan kept from the keyboard's estimate when it is fresh and fits this
        request (no second extraction), else the source's description."""
        kept = kept_plan(described, job.id, job.url, settings.plan_max_age_s)
        if kept is not None and request.cookie_file is None:
            plan, described_for, age = kept
            fitted = replan(plan, described_for, request, settings)
            if fitted is not None:
                await ctl.event("PLAN_REUSED", {"age_s": round(age, 1)})
                return fitted
        return await source.describe(request)

    async def _check(self, plan: MediaPlan, settings: Settings) -> None:
        await asyncio.to_thread(self.disk_guard.ensure_space)
        limit = settings.max_file_size_bytes
        if plan.size is not None and plan.size > limit:
            raise SizeLimitExceeded(
                f"the file is about {plan.size / 1e6:.0f} MB, over the {limit / 1e6:.0f} MB limit"
            )

    async def cleanup(self, job: Job) -> None:
        """Remove a cancelled or failed job's temp files."""
        await asyncio.to_thread(self.storage.remove_tmp, job.id)
