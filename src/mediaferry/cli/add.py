"""``mediaferry add``: queue links and, with ``--wait``, see them through.

Reached from :mod:`mediaferry.cli.main` without Typer (:func:`main` parses the
options), so queueing a link costs the settings, job creation in plain SQL
(:class:`~mediaferry.jobs.create.JobIntake`) and offline URL detection, nothing more:
no ORM, no yt-dlp, no HTTP client. The engine (``Services``: pipeline, transfers,
media, workers) and Rich are imported only when ``--wait`` runs the jobs here and
shows progress: those two imports sit in :func:`_open` and :func:`_watch`, and say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mediaferry._quick_settings import QuickSettings, quick_settings
from mediaferry.cli.main import resume_gc
from mediaferry.errors import ConfigError, LimitExceeded, MediaferryError, UrlRejected
from mediaferry.jobs._json import job_to_dict
from mediaferry.jobs.create import JobIntake
from mediaferry.jobs.states import FINISHED_STATUSES, JobStatus
from mediaferry.logging import configure_logging

if TYPE_CHECKING:
    from mediaferry.app import Services
    from mediaferry.config import Settings
    from mediaferry.db.models import Job
    from mediaferry.jobs.worker import WorkerPool

__all__ = ["add_jobs", "main"]

EXIT_FAILED = 1
EXIT_USAGE = 2


_FLAGS = {"--audio", "--video", "--archive", "--wait", "--json"}
_VALUES = {"--quality", "--priority", "--items"}


def _err(message: str) -> None:
    sys.stderr.write(message + "\n")


def _parse(args: Sequence[str]) -> dict[str, Any] | None:
    """The options of ``add`` as Typer takes them; None for anything else (``--help``,
    an unknown or malformed option), which the Typer command then answers."""
    opts: dict[str, Any] = {"urls": [], "quality": "best", "priority": "0", "items": None}
    it = iter(args)
    for arg in it:
        if arg == "--":
            opts["urls"].extend(it)
            break
        if not arg.startswith("-") or arg == "-":
            opts["urls"].append(arg)
            continue
        name, eq, value = arg.partition("=")
        if name in _FLAGS and not eq:
            opts[name] = True
        elif name in _VALUES:
            given = value if eq else next(it, None)
            if given is None:
                return None
            opts[name.lstrip("-")] = given
        else:
            return None
    if not opts["urls"] or (opts.get("--audio") and opts.get("--video")):
        return None
    try:
        opts["priority"] = int(opts["priority"])
    except ValueError:
        return None
    return opts


def main(args: Sequence[str]) -> int | None:
    """``mediaferry add`` without Typer; None when the Typer command should answer."""
    opts = _parse(args)
    if opts is None:
        return None
    wait = bool(opts.get("--wait"))
    settings: Settings | QuickSettings | None = None if wait else quick_settings()
    if settings is None:
        # pydantic: for --wait (the engine reads every setting), or when the quick
        # reader is unsure of a value (then this also says what is wrong with it)
        from mediaferry.config import load_settings

        try:
            settings = load_settings()
        except ConfigError as exc:
            _err(f"error: {exc.message}")
            return EXIT_USAGE
    level = "WARNING" if settings.log_level == "INFO" else settings.log_level
    configure_logging(level, settings.log_format, stream=sys.stderr)
    try:
        return asyncio.run(
            add_jobs(
                settings,
                opts["urls"],
                job_type="audio" if opts.get("--audio") else "video",
                quality=opts["quality"],
                priority=opts["priority"],
                archive=bool(opts.get("--archive")),
                items=opts["items"],
                wait=wait,
                as_json=bool(opts.get("--json")),
            )
        )
    except (UrlRejected, LimitExceeded, ConfigError) as exc:
        _err(f"error: {exc.message}")
        return EXIT_USAGE
    except MediaferryError as exc:
        _err(f"error: {exc.message}")
        return EXIT_FAILED


# (url, options) -> (the job, created?); the job a ``Job`` or a row with its attributes
_Create = Callable[..., Awaitable[tuple[Any, bool]]]


@dataclass
class _Opened:
    create: _Create
    close: Callable[[], Awaitable[Any]]
    services: Services | None = None


async def _open(settings: Settings | QuickSettings, *, wait: bool) -> _Opened:
    """Job creation alone to queue; the whole engine when this process may run the
    jobs (``--wait``): only then are the ORM, pipeline, transfers and media imported."""
    if wait:
        assert not isinstance(settings, QuickSettings), "--wait reads every setting"
        from mediaferry.app import Services  # the engine, for --wait only

        services = await Services.create(settings, start_bus=False)
        resume_gc()

        async def create_job(url: str, **options: Any) -> tuple[Any, bool]:
            result = await services.jobs.create(url, **options)
            return result.job, result.created

        return _Opened(create_job, services.close, services)
    intake = await JobIntake.open(settings)

    async def create_row(url: str, **options: Any) -> tuple[Any, bool]:
        made = await intake.create(url, **options)
        return made.job, made.created

    return _Opened(create_row, intake.close)


async def add_jobs(
    settings: Settings | QuickSettings,
    urls: list[str],
    *,
    job_type: str,
    quality: str,
    priority: int,
    archive: bool,
    wait: bool,
    items: str | None = None,
    as_json: bool,
) -> int:
    """Returns the exit code: 0 all good, 1 a job failed, 2 a link was refused."""
    opened = await _open(settings, wait=wait)
    try:
        jobs: list[Any] = []
        refused: list[dict[str, str]] = []
        for url in urls:
            try:
                job, created = await opened.create(
                    url,
                    job_type=job_type,
                    quality=quality,
                    priority=priority,
                    archive=archive,
                    playlist_items=items,
                )
            except (UrlRejected, LimitExceeded) as exc:
                refused.append({"url": url, "error": exc.message})
                if not as_json:
                    _err(f"refused: {url[:200]} — {exc.message}")
                continue
            jobs.append(job)
            if not as_json:
                note = "" if created else " (already known: same job returned)"
                print(f"job #{job.id} {job.status.lower()}{note}", flush=True)
        if wait and jobs:
            assert opened.services is not None
            jobs = await _wait(opened.services, jobs, show=not as_json)
        if as_json:
            payload: dict[str, Any] = {"jobs": [job_to_dict(j) for j in jobs], "refused": refused}
            sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n")
        elif wait:
            for j in jobs:
                _summary(j)
        if refused and not jobs:
            return 2
        if wait and any(j.status != JobStatus.COMPLETED for j in jobs):
            return 1
        return 2 if refused else 0
    finally:
        await opened.close()


def _summary(job: Job) -> None:
    from mediaferry.cli import _render as render  # Rich: only after --wait showed progress

    if job.status == JobStatus.COMPLETED:
        render.console.print(f"[green]job #{job.id} done:[/green] {job.file_path}")
    else:
        render.console.print(
            f"[red]job #{job.id} {job.status.lower()}:[/red] {job.error_type or ''} "
            f"{job.error_message or ''}"
        )


async def _wait(services: Services, jobs: list[Job], *, show: bool) -> list[Job]:
    pool = None
    if not (await services.jobs.worker_stats()).alive:
        # nobody else will run them: run them here (only these jobs)
        pool = services.worker_pool(
            concurrency=services.settings.max_parallel_jobs,
            name="cli",
            only_jobs={j.id for j in jobs},
        )
        await pool.start()
    try:
        return await _watch(services, [j.id for j in jobs], show=show, pool=pool)
    finally:
        if pool is not None:
            await pool.stop(grace=0)


def _children(job: Job) -> list[int]:
    """The jobs a playlist job created (its entries)."""
    playlist = (job.meta or {}).get("playlist") or {}
    return [int(i) for i in playlist.get("jobs", [])]


async def _watch(
    services: Services, ids: list[int], *, show: bool, pool: WorkerPool | None = None
) -> list[Job]:
    progress = None
    if show:
        from mediaferry.cli import _render as render  # Rich, for the live bars only

        progress = render.make_progress()
    tasks: dict[int, Any] = {}
    ids = list(ids)

    def track(jid: int) -> None:
        ids.append(jid)
        if progress is not None:
            tasks[jid] = progress.add_task("", total=None, job_id=jid, stage="queued")

    if progress is not None:
        progress.start()
    for jid in list(ids):
        ids.remove(jid)
        track(jid)
    # jobs run in this process announce their changes: look again at once, not later
    changes = services.bus.subscribe(maxsize=1)
    # and why a job waits ("Telegram asks to wait 30 s"), until its progress moves on
    notes: dict[int, str | None] = {}
    waits = services.bus.subscribe(maxsize=1000, kinds=["progress"]) if show else None
    try:
        while True:
            while waits is not None and not waits.queue.empty():
                event = waits.queue.get_nowait()
                if event.job_id is not None:
                    notes[event.job_id] = event.data.get("note")
            current = [await services.jobs.get(jid) for jid in ids]
            for j in list(current):
                for child in (c for c in _children(j) if c not in ids):
                    track(child)  # a playlist: follow its entries too
                    current.append(await services.jobs.get(child))
                    if pool is not None and pool.only_jobs is not None:
                        pool.only_jobs.add(child)
                        services.bus.ring()
            if progress is not None:
                for j in current:
                    stage = (
                        j.status.lower()
                        if j.status != JobStatus.RUNNING
                        else (j.stage or "").lower()
                    )
                    total = j.bytes_total or None
                    done = j.bytes_done or 0
                    if j.status == JobStatus.COMPLETED:
                        total = total or j.file_size or done or 1
                        done = total
                    if j.status == JobStatus.RUNNING and notes.get(j.id):
                        stage = f"{stage} · {notes[j.id]}"
                    progress.update(tasks[j.id], completed=done, total=total, stage=stage)
            if all(JobStatus(j.status) in FINISHED_STATUSES for j in current):
                return current
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.25):
                    await changes.get()
    finally:
        changes.close()
        if waits is not None:
            waits.close()
        if progress is not None:
            progress.stop()
