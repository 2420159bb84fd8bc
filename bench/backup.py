"""Backup and restore: ``mediaferry db backup`` / ``db restore`` against the raw tools.

Fills a database with N jobs and 5 events each, then times, in this run:
SQLite — Mediaferry's backup (library call, and the whole CLI command) vs the
``sqlite3`` shell's ``.backup``; Mediaferry's restore vs ``sqlite3 .restore``.
PostgreSQL (when reachable at 127.0.0.1:5432) — Mediaferry's backup vs ``pg_dump -Fc``;
its restore (pg_restore | psql in one transaction) vs ``pg_restore -d`` into an empty
database. Usage:  .venv/bin/python bench/backup.py [--jobs 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mediaferry.db.backup import create_backup, restore_backup
from mediaferry.db.engine import Database

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MF = str(Path(sys.executable).with_name("mediaferry"))
ROUNDS = 3


async def fill(url: str, jobs: int) -> None:
    db = Database(url)
    await db.upgrade()
    job_rows = [
        (
            i,
            f"https://example.com/v/{i}.mp4",
            f"https://example.com/v/{i}.mp4",
            "DIRECT",
            "video",
            "best",
            "COMPLETED",
            1,
            4,
            f"{i:064x}",
            0,
            False,
            "cli",
            1_000_000 + i,
            False,
            f"title {i} " * 4,
        )
        for i in range(1, jobs + 1)
    ]
    event_rows = [
        (j, kind, "cli", json.dumps({"n": j, "kind": kind}))
        for j in range(1, jobs + 1)
        for kind in ("CREATED", "STATUS_CHANGED", "STAGE", "PROGRESS", "COMPLETED")
    ]
    cols = (
        "id, url, normalized_url, source_type, job_type, requested_quality, status,"
        " attempts, max_attempts, job_key, priority, archive, origin, bytes_done,"
        " cancel_requested, title, created_at, updated_at"
    )
    async with db.engine.begin() as conn:
        if db.is_postgres:
            raw = await conn.get_raw_connection()
            pg = raw.driver_connection
            await pg.executemany(
                f"INSERT INTO jobs ({cols}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,"
                "$13,$14,$15,$16,now(),now())",
                job_rows,
            )
            await pg.executemany(
                "INSERT INTO job_events (job_id, event_type, origin, data, created_at)"
                " VALUES ($1,$2,$3,$4::json,now())",
                event_rows,
            )
            await conn.exec_driver_sql(f"SELECT setval('jobs_id_seq', {jobs})")
        else:
            marks = ",".join("?" * 16)
            await conn.exec_driver_sql(
                f"INSERT INTO jobs ({cols}) VALUES ({marks}, datetime('now'), datetime('now'))",
                job_rows,
            )
            await conn.exec_driver_sql(
                "INSERT INTO job_events (job_id, event_type, origin, data, created_at)"
                " VALUES (?,?,?,?, datetime('now'))",
                event_rows,
            )
    await db.close()


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


def run(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(args, check=True, env=env, capture_output=True)


async def median(fn: Callable[[], Awaitable[object]], reset: Callable[[], None]) -> float:
    times = []
    for _ in range(ROUNDS):
        reset()
        times.append(await timed(fn))
    return statistics.median(times)


def row(name: str, seconds: float, base: float, size: int | None = None) -> None:
    extra = f"  {size / 1e6:7.1f} MB" if size is not None else ""
    print(f"  {name:<44} {seconds * 1000:8.0f} ms  x{seconds / base:5.2f}{extra}")


async def bench_sqlite(tmp: Path, jobs: int) -> None:
    src = tmp / "src.db"
    url = f"sqlite+aiosqlite:///{src}"
    await fill(url, jobs)
    out = tmp / "out.db"
    print(f"SQLite, {jobs} jobs, {jobs * 5} events, {src.stat().st_size / 1e6:.1f} MB")

    def clear() -> None:
        out.unlink(missing_ok=True)

    async def raw_backup() -> None:
        await asyncio.to_thread(run, "sqlite3", str(src), f".backup '{out}'")

    async def mf_backup() -> None:
        await create_backup(url, out)

    env = {**os.environ, "MEDIAFERRY_DATABASE_URL": url, "MEDIAFERRY_DATA_DIR": str(tmp)}

    async def cli_backup() -> None:
        await asyncio.to_thread(run, MF, "db", "backup", str(out), env=env)

    base = await median(raw_backup, clear)
    row("sqlite3 .backup (raw)", base, base, out.stat().st_size)
    row("create_backup (library call)", await median(mf_backup, clear), base, out.stat().st_size)
    row("mediaferry db backup (whole command)", await median(cli_backup, clear), base)

    target = tmp / "restored.db"
    target_url = f"sqlite+aiosqlite:///{target}"

    def fresh_target() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)

    async def raw_restore() -> None:
        await asyncio.to_thread(run, "sqlite3", str(target), f".restore '{out}'")

    async def mf_restore() -> None:
        await restore_backup(target_url, out)

    base = await median(raw_restore, fresh_target)
    row("sqlite3 .restore (raw)", base, base)
    row("restore_backup (+ schema check/upgrade)", await median(mf_restore, fresh_target), base)


async def pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def bench_postgres(tmp: Path, jobs: int) -> None:
    try:
        await asyncio.wait_for(pg_admin("SELECT 1"), 3)
    except Exception as exc:
        print(f"PostgreSQL: skipped ({type(exc).__name__})")
        return
    names = [f"mf_bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in names:
        await pg_admin(f'CREATE DATABASE "{name}"')
    src_url, dst_url = (f"postgresql+asyncpg://postgres@127.0.0.1:5432/{n}" for n in names)
    try:
        await fill(src_url, jobs)
        print(f"PostgreSQL, {jobs} jobs, {jobs * 5} events")
        out = tmp / "out.dump"
        libpq = {**os.environ, "PGHOST": "127.0.0.1", "PGUSER": "postgres"}

        def clear() -> None:
            out.unlink(missing_ok=True)

        async def raw_backup() -> None:
            await asyncio.to_thread(
                run, "pg_dump", "-Fc", f"--file={out}", f"--dbname={names[0]}", env=libpq
            )

        async def mf_backup() -> None:
            await create_backup(src_url, out)

        base = await median(raw_backup, clear)
        row("pg_dump -Fc (raw)", base, base, out.stat().st_size)
        row("create_backup (library call)", await median(mf_backup, clear), base)

        def empty_target() -> None:
            async def go() -> None:
                await pg_admin(f'DROP DATABASE IF EXISTS "{names[1]}" WITH (FORCE)')
                await pg_admin(f'CREATE DATABASE "{names[1]}"')

            asyncio.run(go())

        async def raw_restore() -> None:
            await asyncio.to_thread(
                run, "pg_restore", "--no-owner", f"--dbname={names[1]}", str(out), env=libpq
            )

        async def mf_restore() -> None:
            await restore_backup(dst_url, out)

        async def reset() -> None:
            await asyncio.to_thread(empty_target)

        times_raw, times_mf = [], []
        for _ in range(ROUNDS):
            await reset()
            times_raw.append(await timed(raw_restore))
            await reset()
            times_mf.append(await timed(mf_restore))
        base = statistics.median(times_raw)
        row("pg_restore -d (raw)", base, base)
        row("restore_backup (one transaction + upgrade)", statistics.median(times_mf), base)
    finally:
        for name in names:
            await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20000)
    args = parser.parse_args()
    if shutil.which("sqlite3") is None:
        sys.exit("needs the sqlite3 shell (apt-get install sqlite3) as the baseline")
    print(f"median of {ROUNDS} rounds; x = time / raw tool's time\n")
    with tempfile.TemporaryDirectory() as tmp:
        await bench_sqlite(Path(tmp), args.jobs)
        print()
        await bench_postgres(Path(tmp), args.jobs)


if __name__ == "__main__":
    asyncio.run(main())
