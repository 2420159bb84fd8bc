"""``mediaferry db backup`` / ``db restore`` driven from outside, on real SQLite and
PostgreSQL, with a real worker process writing while the backup is taken."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mediaferry.config import load_settings
from mediaferry.db.engine import Database
from mediaferry.db.migrate import _head, alembic_config
from mediaferry.jobs.service import JobService
from tests.e2e.test_cli import MF, cli_env, mf, spawn_worker
from tests.support.db_fixtures import create_pg_database, drop_pg_database
from tests.support.media_server import MediaServer
from tests.support.tmpfs import small_tmpfs

SMALL = "backup-small.bin"


@pytest.fixture(scope="module")
def small_file(media_dir: Path) -> Path:
    path = media_dir / SMALL
    if not path.exists():
        path.write_bytes(os.urandom(64 * 1024))
    return path


def _internal(name: str) -> bool:
    return name == "alembic_version" or "_fts" in name


def _snapshot_sync(connection: Any) -> dict[str, list[tuple[Any, ...]]]:
    meta = sa.MetaData()
    meta.reflect(connection)
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in meta.sorted_tables:
        if _internal(table.name):
            continue
        rows = connection.execute(sa.select(table)).all()
        out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every Mediaferry table."""
    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            data = await conn.run_sync(_snapshot_sync)
            await conn.rollback()
        return data
    finally:
        await db.close()


async def run_mf(env: dict[str, str], *args: str, timeout: float = 120) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        MF,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def fresh_database(db_url: str, tmp_path: Path, name: str) -> AsyncIterator[str]:
    """Another empty database of the same engine."""
    if db_url.startswith("postgresql"):
        url = await asyncio.to_thread(create_pg_database)
        try:
            yield url
        finally:
            await asyncio.to_thread(drop_pg_database, url)
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / name}"


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def worker_procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.terminate()
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def test_backup_while_a_worker_writes_then_restore_compares_equal(
    db_url: str,
    tmp_path: Path,
    media_server: MediaServer,
    small_file: Path,
    worker_procs: list[subprocess.Popen[bytes]],
) -> None:
    env = cli_env(tmp_path / "data", MEDIAFERRY_DATABASE_URL=db_url)
    settings = load_settings(
        data_dir=tmp_path / "data", database_url=db_url, allow_private_networks=True
    )
    db = Database(db_url)
    await db.upgrade()
    jobs = JobService(db, settings)
    worker_procs.append(spawn_worker(env, tmp_path / "worker.log"))
    created: list[int] = []
    stop = asyncio.Event()

    async def writer() -> None:
        n = 0
        while not stop.is_set():
            url = media_server.url(f"/media/{SMALL}?n={n}")
            result = await jobs.create(url, job_type="video", enforce_limits=False)
            created.append(result.job.id)
            n += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(writer())
    try:
        while len(created) < 30:
            await asyncio.sleep(0.02)
        before = len(created)
        online = tmp_path / "online.backup"
        code, out, err = await run_mf(env, "db", "backup", str(online))
        assert code == 0, err
        assert "backup written" in out
        while len(created) < before + 30:  # the writer went on after the backup
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
    worker_procs[0].terminate()
    worker_procs[0].wait(30)
    await db.close()
    assert online.is_file()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]

    # the online backup is one consistent snapshot: jobs 1..k with no gap, k between
    # what existed when it started and what exists now, every event's job present,
    # and each job's events a prefix of what the source has now
    source = await snapshot(db_url)
    async with fresh_database(db_url, tmp_path, "restored-online.db") as restored_url:
        code, _, err = await run_mf(
            cli_env(tmp_path / "r1", MEDIAFERRY_DATABASE_URL=restored_url),
            "db",
            "restore",
            str(online),
        )
        assert code == 0, err
        restored = await snapshot(restored_url)
    job_ids = sorted(r[0] for r in restored["jobs"])
    assert job_ids == list(range(job_ids[0], job_ids[0] + len(job_ids)))
    assert before <= len(job_ids) < len(created)
    events = {r[0]: r for r in source["job_events"]}
    for event in restored["job_events"]:
        assert event[1] in job_ids
        assert events[event[0]] == event  # the same event, unchanged

    # quiet now: a second backup restores to exactly the source's rows
    quiet = tmp_path / "quiet.backup"
    code, _, err = await run_mf(env, "db", "backup", str(quiet))
    assert code == 0, err
    async with fresh_database(db_url, tmp_path, "restored-quiet.db") as restored_url:
        env2 = cli_env(tmp_path / "r2", MEDIAFERRY_DATABASE_URL=restored_url)
        code, _, err = await run_mf(env2, "db", "restore", str(quiet))
        assert code == 0, err
        assert await snapshot(restored_url) == source
        assert sum(len(rows) for rows in source.values()) > 60
        # the restored database now holds data: a second restore needs --force
        code, _, err = await run_mf(env2, "db", "restore", str(online))
        assert code == 2
        assert "--force" in one_error_line(err)
        assert await snapshot(restored_url) == source
        code, _, err = await run_mf(env2, "db", "restore", "--force", str(online))
        assert code == 0, err
        assert await snapshot(restored_url) == restored


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    env = cli_env(tmp_path / "data")
    out = mf(env, "db", "upgrade")
    assert out.returncode == 0, out.stderr
    return env


def db_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "mediaferry.db"


def add_job(env: dict[str, str], media_server: MediaServer) -> None:
    out = mf(env, "add", "--json", media_server.url(f"/media/{SMALL}?x=1"))
    assert out.returncode == 0, out.stderr


def test_backup_inside_the_archive_or_temp_folder_is_refused(
    tmp_path: Path, sqlite_env: dict[str, str]
) -> None:
    for inside in ("archive/backup.db", "archive/new/deeper.db", "tmp/backup.db"):
        target = tmp_path / "data" / inside
        target.parent.mkdir(parents=True, exist_ok=True)
        out = mf(sqlite_env, "db", "backup", str(target))
        assert out.returncode == 2
        assert "inside the" in one_error_line(out.stderr)
        assert not target.exists()
    # the archive folder given as the backup folder, through a symlink
    (tmp_path / "link").symlink_to(tmp_path / "data" / "archive")
    out = mf(sqlite_env, "db", "backup", str(tmp_path / "link"))
    assert out.returncode == 2
    assert list((tmp_path / "data" / "archive").rglob("*.db")) == []


def test_backup_over_an_existing_file_needs_force(
    tmp_path: Path, sqlite_env: dict[str, str]
) -> None:
    target = tmp_path / "keep.db"
    target.write_bytes(b"precious")
    out = mf(sqlite_env, "db", "backup", str(target))
    assert out.returncode == 2
    assert "--force" in one_error_line(out.stderr)
    assert target.read_bytes() == b"precious"
    out = mf(sqlite_env, "db", "backup", "--force", str(target))
    assert out.returncode == 0, out.stderr
    assert target.read_bytes().startswith(b"SQLite format 3\x00")
    out = mf(sqlite_env, "db", "backup", str(db_file(tmp_path)))
    assert out.returncode == 2
    assert "database itself" in one_error_line(out.stderr)


@pytest.fixture
def tiny_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A real file system of one 4 KiB page (tmpfs), too small for any backup."""
    with small_tmpfs(tmp_path / "tiny", "4k") as mount:
        yield mount


async def test_backup_without_space_is_refused_and_leaves_nothing(
    db_url: str, tmp_path: Path, tiny_filesystem: Path
) -> None:
    env = cli_env(tmp_path / "data", MEDIAFERRY_DATABASE_URL=db_url)
    code, _, err = await run_mf(env, "db", "upgrade")
    assert code == 0, err
    before = await snapshot(db_url)
    # SQLite: refused up front (its size is known); PostgreSQL: pg_dump hits the full
    # disk, and the partial file is removed
    code, _, err = await run_mf(env, "db", "backup", str(tiny_filesystem / "backup.db"))
    assert code == 2
    assert "not enough space" in one_error_line(err)
    assert list(tiny_filesystem.iterdir()) == []
    assert await snapshot(db_url) == before


def test_restore_refuses_files_that_are_not_backups(
    tmp_path: Path, sqlite_env: dict[str, str], media_server: MediaServer, small_file: Path
) -> None:
    add_job(sqlite_env, media_server)
    before = db_file(tmp_path).read_bytes()
    text = tmp_path / "notes.txt"
    text.write_text("not a backup\n")
    other_db = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(other_db)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    fake_dump = tmp_path / "fake.dump"
    fake_dump.write_bytes(b"PGDMP" + os.urandom(200))
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    cases = [text, small_file, other_db, fake_dump, empty, tmp_path / "missing.db"]
    for bad, force in [(bad, []) for bad in cases] + [(text, ["--force"])]:
        out = mf(sqlite_env, "db", "restore", *force, str(bad))
        assert out.returncode == 2, (bad, out.stdout)
        assert str(bad.name) in one_error_line(out.stderr)
    assert db_file(tmp_path).read_bytes() == before


def test_restore_refuses_a_backup_of_another_engine_or_a_newer_schema(
    tmp_path: Path, sqlite_env: dict[str, str]
) -> None:
    backup = tmp_path / "b.db"
    assert mf(sqlite_env, "db", "backup", str(backup)).returncode == 0
    newer = tmp_path / "newer.db"
    shutil.copy(backup, newer)
    with contextlib.closing(sqlite3.connect(newer)) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
        conn.commit()
    fresh = cli_env(tmp_path / "fresh")
    out = mf(fresh, "db", "restore", str(newer))
    assert out.returncode == 2
    assert "9999" in one_error_line(out.stderr)
    pg = cli_env(
        tmp_path / "pg", MEDIAFERRY_DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:9/none"
    )
    out = mf(pg, "db", "restore", str(backup))
    assert out.returncode == 2
    assert "sqlite backup" in one_error_line(out.stderr)
    assert not (tmp_path / "fresh" / "mediaferry.db").exists()


def _at_revision_with_a_job(connection: Any, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)
    connection.exec_driver_sql(
        "INSERT INTO jobs (id, url, normalized_url, source_type, job_type, requested_quality,"
        " status, attempts, max_attempts, job_key, priority, archive, origin, bytes_done,"
        " cancel_requested, created_at, updated_at) VALUES (7, 'https://example.com/a.mp4',"
        " 'https://example.com/a.mp4', 'DIRECT', 'video', 'best', 'COMPLETED', 0, 4, 'k7',"
        " 0, 0, 'cli', 10, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
    )


async def test_restore_of_an_old_backup_upgrades_it(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    db = Database(f"sqlite+aiosqlite:///{old}")
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(_at_revision_with_a_job, "0001")
            await conn.commit()
    finally:
        await db.close()
    env = cli_env(tmp_path / "data")
    code, out, err = await run_mf(env, "db", "restore", str(old))
    assert code == 0, err
    assert "0001" in out
    code, out, err = await run_mf(env, "job", "7", "--json")
    assert code == 0, err
    assert '"status": "COMPLETED"' in out
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "mediaferry.db")) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == _head()
