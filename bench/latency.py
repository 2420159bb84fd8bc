"""Submit → transfer-start latency with an idle worker.

Three measurements, each over N jobs submitted one at a time to an idle worker:

* engine: ``JobService.create`` returns → the runner is entered (no-op runner), in one
  process: the wake-up path alone;
* pipeline: the job's ``created_at`` → its ``DOWNLOAD_STARTED`` event, running the real
  pipeline (metadata probe, check) on small files from a local server;
* cross-process: the same, with the job added by one process and run by a separate
  ``mediaferry worker`` process (SQLite: data_version watcher; PostgreSQL: NOTIFY).

Usage:  .venv/bin/python bench/latency.py [--jobs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.db_fixtures import create_pg_database, drop_pg_database, pg_skip_reason
from tests.support.media_fixtures import generate_media
from tests.support.media_server import MediaServer

from mediaferry.app import Services
from mediaferry.config import Settings, load_settings
from mediaferry.db.engine import Database
from mediaferry.db.models import Job
from mediaferry.jobs.bus import EventBus
from mediaferry.jobs.control import JobControl, RunResult
from mediaferry.jobs.service import JobService
from mediaferry.jobs.worker import WorkerPool
from mediaferry.logging import configure_logging

MF = str(Path(sys.executable).with_name("mediaferry"))


def settings_for(url: str, tmp: Path, **extra: Any) -> Settings:
    return load_settings(
        data_dir=tmp,
        database_url=url,
        allow_private_networks=True,
        min_free_gb=0,
        poll_s=30,  # the safety poll must not be what starts jobs
        log_level="WARNING",
        max_queue_length=100_000,
        max_jobs_per_user_hour=100_000,
        **extra,
    )


class Stamp:
    def __init__(self) -> None:
        self.entered: dict[int, float] = {}
        self.event = asyncio.Event()

    async def run(self, job: Job, ctl: JobControl) -> RunResult:
        self.entered[job.id] = time.perf_counter()
        self.event.set()
        return RunResult(file_size=0)


async def engine_latency(url: str, tmp: Path, n: int) -> list[float]:
    settings = settings_for(url, tmp)
    db = Database(url)
    await db.upgrade()
    bus = EventBus()
    svc = JobService(db, settings, bus)
    stamp = Stamp()
    pool = WorkerPool(db, settings, stamp, bus, concurrency=1)
    await pool.start()
    out = []
    try:
        await asyncio.sleep(0.3)
        for i in range(n):
            stamp.event.clear()
            job = (await svc.create(f"http://127.0.0.1:9/lat/{i}.mp4")).job
            t0 = time.perf_counter()
            await asyncio.wait_for(stamp.event.wait(), 10)
            out.append(stamp.entered[job.id] - t0)
            await asyncio.sleep(0.05)  # let the worker go idle again
    finally:
        await pool.stop()
        await db.close()
    return out


async def _download_started(svc: JobService, job_id: int, timeout: float = 30) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = await svc.get(job_id)
        if job.status in ("COMPLETED", "FAILED"):
            for e in await svc.events(job_id):
                if e.event_type == "DOWNLOAD_STARTED":
                    return (e.created_at - job.created_at).total_seconds()
            raise RuntimeError(f"job {job_id}: {job.error_type} {job.error_message}")
        await asyncio.sleep(0.02)
    raise TimeoutError(f"job {job_id} did not finish")


async def pipeline_latency(url: str, tmp: Path, base: str, n: int) -> list[float]:
    services = await Services.create(settings_for(url, tmp))
    pool = services.worker_pool(concurrency=1)
    await pool.start()
    out = []
    try:
        await asyncio.sleep(0.3)
        for i in range(n):
            job = (await services.jobs.create(f"{base}/media/h264_aac.mp4?i={i}")).job
            out.append(await _download_started(services.jobs, job.id))
    finally:
        await pool.stop()
        await services.close()
    return out


async def cross_process_latency(url: str, tmp: Path, base: str, n: int) -> list[float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAFERRY_")}
    env.update(
        MEDIAFERRY_DATA_DIR=str(tmp),
        MEDIAFERRY_DATABASE_URL=url,
        MEDIAFERRY_ALLOW_PRIVATE_NETWORKS="true",
        MEDIAFERRY_MIN_FREE_GB="0",
        MEDIAFERRY_POLL_S="30",
        MEDIAFERRY_LOG_LEVEL="WARNING",
        MEDIAFERRY_MAX_PARALLEL_JOBS="1",
    )
    tmp.mkdir(parents=True, exist_ok=True)
    settings = settings_for(url, tmp)
    db = Database(url)
    await db.upgrade()
    svc = JobService(db, settings, EventBus())
    log = (tmp / "worker.log").open("wb")
    worker = await asyncio.create_subprocess_exec(
        MF, "worker", env=env, stdout=log, stderr=subprocess.STDOUT
    )
    out = []
    try:
        await asyncio.sleep(4)  # start-up
        for i in range(n):
            job = (await svc.create(f"{base}/media/audio.m4a?x={i}")).job
            out.append(await _download_started(svc, job.id))
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 30)
        log.close()
        await db.close()
    return out


def fmt(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=30)
    args = parser.parse_args()
    configure_logging("WARNING", "console", stream=sys.stderr)
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        media = tmp / "media"
        generate_media(media)
        with MediaServer(media) as server:
            dbs: list[tuple[str, str | None]] = [("sqlite", None)]
            if not pg_skip_reason():
                dbs.append(("postgres", None))
            for name, _ in dbs:
                for label, fn in (
                    ("engine (no-op runner)", "engine"),
                    ("pipeline, in process", "pipeline"),
                    ("pipeline, separate worker", "cross"),
                ):
                    work = tmp / f"{name}-{fn}"
                    url = (
                        f"sqlite+aiosqlite:///{work / 'mf.db'}"
                        if name == "sqlite"
                        else create_pg_database()
                    )
                    try:
                        if fn == "engine":
                            values = asyncio.run(engine_latency(url, work, args.jobs))
                        elif fn == "pipeline":
                            values = asyncio.run(
                                pipeline_latency(url, work, server.base_url, args.jobs)
                            )
                        else:
                            values = asyncio.run(
                                cross_process_latency(url, work, server.base_url, args.jobs)
                            )
                    finally:
                        if name == "postgres":
                            drop_pg_database(url)
                    rows.append((f"{name:<9} {label}", fmt(values)))
    print("\nsubmit → transfer start, idle worker")
    for label, figures in rows:
        print(f"{label:<40} {figures}")


if __name__ == "__main__":
    main()
