"""``mediaferry add``: queue links and, with ``--wait``, see them through."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from mediaferry.app import Services
from mediaferry.cli import _render as render
from mediaferry.cli.app import resume_gc
from mediaferry.config import Settings
from mediaferry.db.models import Job
from mediaferry.errors import LimitExceeded, UrlRejected
from mediaferry.jobs.service import job_to_dict
from mediaferry.jobs.states import FINISHED_STATUSES, JobStatus
from mediaferry.jobs.worker import WorkerPool

__all__ = ["add_jobs"]


async def add_jobs(
    settings: Settings,
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
    services = await Services.create(settings, start_bus=False)
    resume_gc()
    try:
        jobs: list[Job] = []
        refused: list[dict[str, str]] = []
        for url in urls:
            try:
                result = await services.jobs.create(
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
                    render.err_console.print(f"[red]refused:[/red] {url[:200]} — {exc.message}")
                continue
            jobs.append(result.job)
            if not as_json:
                note = " (already known: same job returned)" if result.deduplicated else ""
                render.console.print(f"job #{result.job.id} {result.job.status.lower()}{note}")
        if wait and jobs:
            jobs = await _wait(services, jobs, show=not as_json)
        if as_json:
            payload: dict[str, Any] = {"jobs": [job_to_dict(j) for j in jobs], "refused": refused}
            render.print_json(payload)
        elif wait:
            for j in jobs:
                _summary(j)
        if refused and not jobs:
            return 2
        if wait and any(j.status != JobStatus.COMPLETED for j in jobs):
            return 1
        return 2 if refused else 0
    finally:
        await services.close()


def _summary(job: Job) -> None:
    if job.status == JobStatus.COMPLETED:
        render.console.print(f"[green]job #{job.id} done:[/green] {job.file_path}")
    else:
        render.console.print(
            f"[red]job #{job.id} {job.status.lower()}:[/red] {job.error_type or ''} "
            f"{job.error_message or ''}"
        )


async def _wait(services: Services, jobs: list[Job], *, show: bool) -> list[Job]:
    from mediaferry.cli.app import live_workers

    pool = None
    if not await live_workers(services.db, services.settings.heartbeat_s):
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
    progress = render.make_progress() if show else None
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
    try:
        while True:
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
                    progress.update(tasks[j.id], completed=done, total=total, stage=stage)
            if all(JobStatus(j.status) in FINISHED_STATUSES for j in current):
                return current
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.25):
                    await changes.get()
    finally:
        changes.close()
        if progress is not None:
            progress.stop()
