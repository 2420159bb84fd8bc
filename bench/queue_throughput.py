"""Queue throughput: jobs/s through create → claim → complete with a no-op source.

Runs on SQLite (always) and PostgreSQL (when reachable at 127.0.0.1:5432), with 1
and 4 workers, and the same writes done with raw SQL as the baseline, all in this
run. Usage:  .venv/bin/python bench/queue_throughput.py [--jobs 2000]
(Not ``bench/queue.py``: a script of that name would shadow the standard library's
``queue`` module for every other script run from ``bench/``.)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mediaferry.config import load_settings
from mediaferry.db.engine import Database
from mediaferry.db.models import Job
from mediaferry.jobs.bus import EventBus
from mediaferry.jobs.control import JobControl, RunResult
from mediaferry.jobs.service import JobService
from mediaferry.jobs.worker import WorkerPool
from mediaferry.logging import configure_logging


class NoopRunner:
    async def run(self, job: Job, ctl: JobControl) -> RunResult:
        return RunResult(file_size=0)


async def engine_run(url: str, tmp: Path, jobs: int, workers: int) -> tuple[float, float]:
    settings = load_settings(
        data_dir=tmp,
        database_url=url,
        allow_private_networks=True,
        max_queue_length=jobs + 10,
        max_active_per_user=jobs + 10,
        poll_s=0.5,
        min_free_gb=0,
    )
    db = Database(url)
    await db.upgrade()
    bus = EventBus()
    svc = JobService(db, settings, bus)
    t0 = time.perf_counter()
    for i in range(jobs):
        await svc.create(f"http://127.0.0.1:9/bench/{i}.mp4")
    created = time.perf_counter() - t0
    pools = [WorkerPool(db, settings, NoopRunner(), bus, concurrency=1) for _ in range(workers)]
    # count completions from the pools' own status events (polling the table would
    # cost the run more than it measures)
    statuses = bus.subscribe(maxsize=jobs * 4)
    t1 = time.perf_counter()
    for pool in pools:
        await pool.start()
    done = 0
    while done < jobs:
        event = await statuses.get()
        if event.kind == "status" and event.data.get("status") == "COMPLETED":
            done += 1
    processed = time.perf_counter() - t1
    statuses.close()
    assert (await svc.counts())["COMPLETED"] == jobs
    for pool in pools:
        await pool.stop()
    await db.close()
    return created, processed


def raw_sqlite(path: Path, jobs: int) -> float:
    """The same rows and events written with sqlite3 directly, one job at a time."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, url TEXT, job_key TEXT, status TEXT,"
        " worker_id TEXT, updated_at TEXT)"
    )
    conn.execute("CREATE INDEX ix_st ON jobs(status, id)")
    conn.execute("CREATE INDEX ix_key ON jobs(job_key)")
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, job_id INT, type TEXT, data TEXT)")
    t0 = time.perf_counter()
    for i in range(jobs):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT id FROM jobs WHERE job_key=? AND status!='FAILED'", (f"k{i}",))
        cur = conn.execute(
            "INSERT INTO jobs(url, job_key, status, updated_at) VALUES (?,?,?,datetime())",
            (f"http://x/{i}", f"k{i}", "PENDING"),
        )
        conn.execute("INSERT INTO events(job_id, type) VALUES (?, 'CREATED')", (cur.lastrowid,))
        conn.execute("COMMIT")
    while True:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(
            "UPDATE jobs SET status='QUEUED' WHERE id=(SELECT id FROM jobs WHERE status='PENDING'"
            " ORDER BY id LIMIT 1) RETURNING id"
        ).fetchone()
        if row is None:
            conn.execute("COMMIT")
            break
        conn.execute("INSERT INTO events(job_id, type) VALUES (?, 'QUEUED')", row)
        conn.execute(
            "UPDATE jobs SET status='RUNNING', worker_id='w' WHERE id=? AND status='QUEUED'", row
        )
        conn.execute("INSERT INTO events(job_id, type) VALUES (?, 'RUNNING')", row)
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE jobs SET status='COMPLETED' WHERE id=? AND status='RUNNING'", row)
        conn.execute("INSERT INTO events(job_id, type) VALUES (?, 'COMPLETED')", row)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


async def raw_postgres(dsn: str, jobs: int) -> float:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    await conn.execute(
        "CREATE TABLE rjobs (id BIGSERIAL PRIMARY KEY, url TEXT, job_key TEXT, status TEXT,"
        " worker_id TEXT, updated_at timestamptz)"
    )
    await conn.execute("CREATE INDEX ON rjobs(status, id)")
    await conn.execute("CREATE TABLE revents (id BIGSERIAL PRIMARY KEY, job_id BIGINT, type TEXT)")
    t0 = time.perf_counter()
    for i in range(jobs):
        async with conn.transaction():
            jid = await conn.fetchval(
                "INSERT INTO rjobs(url, job_key, status, updated_at) VALUES ($1,$2,'PENDING',now())"
                " RETURNING id",
                f"http://x/{i}",
                f"k{i}",
            )
            await conn.execute("INSERT INTO revents(job_id, type) VALUES ($1, 'CREATED')", jid)
    while True:
        async with conn.transaction():
            jid = await conn.fetchval(
                "UPDATE rjobs SET status='RUNNING' WHERE id=(SELECT id FROM rjobs WHERE"
                " status='PENDING' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"
            )
            if jid is None:
                break
            await conn.execute("INSERT INTO revents(job_id, type) VALUES ($1, 'RUNNING')", jid)
        async with conn.transaction():
            await conn.execute("UPDATE rjobs SET status='COMPLETED' WHERE id=$1", jid)
            await conn.execute("INSERT INTO revents(job_id, type) VALUES ($1, 'COMPLETED')", jid)
    elapsed = time.perf_counter() - t0
    await conn.close()
    return elapsed


def pg_database() -> str | None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support.db_fixtures import create_pg_database, pg_skip_reason

    if pg_skip_reason():
        return None
    return create_pg_database()


Row = tuple[str, str, float, float, list[float]]  # db, run, create s, process s, rates


def _row(db: str, run: str, n: int, timings: list[tuple[float, float]]) -> Row:
    """The median round (by jobs/s) and every round's rate."""
    rates = [n / (c + p) for c, p in timings]
    created, processed = sorted(timings, key=lambda t: n / (t[0] + t[1]))[len(timings) // 2]
    return db, run, created, processed, rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="runs per row; the median is shown")
    args = parser.parse_args()
    configure_logging("WARNING", "console", stream=sys.stderr)
    logging.getLogger("mediaferry").setLevel(logging.WARNING)
    n, rounds = args.jobs, range(args.rounds)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        raw = [(0.0, raw_sqlite(tmp / f"raw{r}.db", n)) for r in rounds]
        rows.append(_row("sqlite", "raw SQL (sqlite3)", n, raw))
        for workers in (1, 4):
            timings = [
                asyncio.run(
                    engine_run(f"sqlite+aiosqlite:///{tmp / f'e{workers}-{r}.db'}", tmp, n, workers)
                )
                for r in rounds
            ]
            rows.append(_row("sqlite", f"mediaferry, {workers} worker(s)", n, timings))
        from tests.support.db_fixtures import drop_pg_database

        for label in ("raw", 1, 4):
            timings = []
            for _ in rounds:
                url = pg_database()
                if url is None:
                    break
                try:
                    if label == "raw":
                        dsn = url.replace("+asyncpg", "")
                        timings.append((0.0, asyncio.run(raw_postgres(dsn, n))))
                    else:
                        timings.append(asyncio.run(engine_run(url, tmp, n, int(label))))
                finally:
                    drop_pg_database(url)
            if not timings:
                print("PostgreSQL not reachable: skipped")
                break
            run = "raw SQL (asyncpg)" if label == "raw" else f"mediaferry, {label} worker(s)"
            rows.append(_row("postgres", run, n, timings))
    print(
        f"\nqueue throughput, {n} jobs (create → claim → complete, no-op source),"
        f" median of {args.rounds} round(s)"
    )
    print(f"{'db':<9} {'run':<28} {'create s':>9} {'process s':>10} {'jobs/s':>8}  rounds")
    for db, run, created, processed, rates in rows:
        rate = n / (created + processed)
        each = ", ".join(f"{r:.0f}" for r in rates)
        print(f"{db:<9} {run:<28} {created:>9.2f} {processed:>10.2f} {rate:>8.0f}  {each}")
    for db in ("sqlite", "postgres"):
        raw_row = next((r for r in rows if r[0] == db and r[1].startswith("raw")), None)
        if raw_row is None:
            continue
        raw_rate = n / (raw_row[2] + raw_row[3])
        for r in rows:
            if r[0] == db and not r[1].startswith("raw"):
                print(f"{db}: {r[1]} at {n / (r[2] + r[3]) / raw_rate:.2f}× the raw-SQL rate")


if __name__ == "__main__":
    main()
