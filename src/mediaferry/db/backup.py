"""Database backups: ``mediaferry db backup PATH`` and ``mediaferry db restore PATH``.

SQLite: the online backup API copies one consistent snapshot while the service keeps
writing (in WAL mode a reader never blocks the writers); the copy is a plain
single-file database. PostgreSQL: ``pg_dump --format=custom`` (a snapshot too);
a restore runs ``pg_restore``'s script through ``psql`` in one transaction.

A backup is written beside its destination under a temporary name and renamed at the
end, so a failure (a full disk, a tool error) leaves nothing behind and never
half-replaces a file. A restore first checks the file (an SQLite database or a pg_dump
archive with Mediaferry's schema at a revision this version knows) and refuses to
replace a database that holds data unless forced; then the schema is upgraded to head.
The archive folder is the other half of a backup: copy it with any file tool.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from sqlalchemy.engine import make_url

from mediaferry.db.migrate import known_revisions
from mediaferry.errors import BackupFailed, BackupRefused

__all__ = ["BackupInfo", "create_backup", "inspect_backup", "restore_backup"]

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
Engine = Literal["sqlite", "postgresql"]
_TOOL_TIMEOUT_S = 6 * 3600.0


@dataclass(frozen=True)
class BackupInfo:
    """What a backup file holds."""

    path: Path
    engine: Engine
    revision: str
    size: int
    jobs: int | None = None


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _engine_of(database_url: str) -> Engine:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


def _sqlite_path(database_url: str) -> Path:
    name = make_url(database_url).database
    if not name or name == ":memory:":
        raise BackupRefused("an in-memory database cannot be backed up or restored")
    return Path(name).expanduser().absolute()


def _ro_uri(path: Path) -> str:
    # immutable: a backup file is only read, never locked or journaled
    return f"file:{quote(str(path))}?mode=ro&immutable=1"


# --------------------------------------------------------------------------- checks


def _destination(dest: Path, engine: Engine) -> Path:
    dest = dest.expanduser().absolute()
    if dest.is_dir():
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        dest = dest / f"mediaferry-{stamp}.{'db' if engine == 'sqlite' else 'dump'}"
    return dest


def _check_destination(
    dest: Path, *, keep_out: Mapping[str, Path], database: Path | None, force: bool
) -> None:
    real = dest.resolve()
    for label, root in keep_out.items():
        if real.is_relative_to(root.expanduser().resolve()):
            raise BackupRefused(f"{dest} is inside the {label} ({root}); keep backups outside it")
    if database is not None:
        base = database.resolve()
        if real in {base, *(Path(f"{base}{s}") for s in ("-wal", "-shm", "-journal"))}:
            raise BackupRefused(f"{dest} is the database itself; choose another path")
    if not dest.parent.is_dir():
        raise BackupRefused(f"folder {dest.parent} does not exist")
    if dest.exists() and not force:
        raise BackupRefused(f"{dest} already exists; pass --force to replace it")
    if dest.exists() and not dest.is_file():
        raise BackupRefused(f"{dest} is not a regular file")


def _check_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise BackupRefused(
            f"not enough space in {folder}: the backup needs {_mb(needed)}, {_mb(free)} free"
        )


def _no_space(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    text = str(exc).lower()
    return "disk is full" in text or "no space left" in text


def _temp_beside(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.partial-{os.getpid()}")


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_revision(path: Path, revision: str | None) -> str:
    if not revision:
        raise BackupRefused(f"{path} is not a Mediaferry backup (no schema revision in it)")
    if revision not in known_revisions():
        raise BackupRefused(
            f"{path} has schema revision {revision}, which this version of Mediaferry "
            "does not know (made by a newer version?)"
        )
    return revision


# --------------------------------------------------------------------------- SQLite


def _sqlite_revision(conn: sqlite3.Connection) -> tuple[str | None, int]:
    rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    jobs = conn.execute("SELECT count(*) FROM jobs").fetchone()
    return (str(rows[0][0]) if len(rows) == 1 else None), int(jobs[0])


def _sqlite_backup(database: Path, tmp: Path, folder: Path) -> tuple[str, int]:
    src = sqlite3.connect(database, timeout=30)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        page_size = src.execute("PRAGMA page_size").fetchone()[0]
        used = src.execute("PRAGMA page_count").fetchone()[0]
        free = src.execute("PRAGMA freelist_count").fetchone()[0]
        _check_space(folder, int(page_size) * (int(used) - int(free)))
        dst = sqlite3.connect(tmp)
        try:
            # pages=-1: the whole database in one step, i.e. one read snapshot
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            if dst.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise BackupFailed("the copy did not pass SQLite's integrity check")
            revision, jobs = _sqlite_revision(dst)
        finally:
            dst.close()
    finally:
        src.close()
    if revision is None:
        raise BackupRefused(f"{database} is not a Mediaferry database (no schema revision)")
    return revision, jobs


def _inspect_sqlite(path: Path) -> BackupInfo:
    try:
        conn = sqlite3.connect(_ro_uri(path), uri=True)
        try:
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise BackupRefused(f"{path} is a damaged SQLite database")
            revision, jobs = _sqlite_revision(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        raise BackupRefused(
            f"{path} is not a Mediaferry backup (an SQLite file without its tables)"
        ) from None
    return BackupInfo(path, "sqlite", _check_revision(path, revision), path.stat().st_size, jobs)


def _sqlite_holds_data(target: Path) -> int | None:
    """The number of jobs when ``target`` is a Mediaferry database, else None."""
    if not target.exists() or target.stat().st_size == 0:
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(str(target))}?mode=ro", uri=True, timeout=30)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "jobs" not in tables and "alembic_version" not in tables:
                return None
            return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return 0


def _sqlite_restore(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(_ro_uri(source), uri=True)
    try:
        dst = sqlite3.connect(target, timeout=30)
        try:
            dst.execute("PRAGMA busy_timeout=30000")
            # one write transaction on the target: other connections see the old or
            # the new database, never a mix
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    finally:
        src.close()


# --------------------------------------------------------------------------- PostgreSQL


def _pg_env(database_url: str) -> dict[str, str]:
    """libpq settings for pg_dump/pg_restore/psql: the password goes in the environment,
    never on a command line."""
    url = make_url(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    for key, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value is not None:
            env[key] = str(value)
    ssl = url.query.get("sslmode") or url.query.get("ssl")
    if isinstance(ssl, str):
        env["PGSSLMODE"] = {"true": "require", "false": "disable"}.get(ssl.lower(), ssl)
    return env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupFailed(
            f"{name} is not installed (Debian/Ubuntu: apt-get install postgresql-client)"
        )
    return found


def _last_line(data: bytes) -> str:
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


async def _run(
    args: list[str], env: dict[str, str] | None = None, timeout: float = _TOOL_TIMEOUT_S
) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise BackupFailed(f"{Path(args[0]).name} failed: {_last_line(err)}")
    return out


async def _pg_dump_revision(path: Path) -> str | None:
    """The alembic revision stored in a pg_dump archive (read with pg_restore)."""
    out = await _run(
        [_tool("pg_restore"), "--data-only", "--table=alembic_version", "--file=-", str(path)],
        timeout=120,
    )
    lines = out.decode("utf-8", "replace").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("COPY ") and "alembic_version" in line:
            values = [v for v in lines[i + 1 :] if v != "\\."][:1]
            return values[0].strip() if values else None
    return None


async def _inspect_pg(path: Path) -> BackupInfo:
    try:
        listing = await _run([_tool("pg_restore"), "--list", str(path)], timeout=120)
        revision = await _pg_dump_revision(path)
    except BackupFailed as exc:
        raise BackupRefused(f"{path} is not a readable PostgreSQL backup ({exc.message})") from None
    if b"TABLE public jobs" not in listing and b"TABLE jobs" not in listing:
        raise BackupRefused(f"{path} is not a Mediaferry backup (no jobs table in it)")
    return BackupInfo(path, "postgresql", _check_revision(path, revision), path.stat().st_size)


async def _pg_tables(database_url: str) -> tuple[set[str], int | None]:
    """Mediaferry's tables in the target database, and its job count (None: no jobs table)."""
    import asyncpg

    dsn = make_url(database_url).set(drivername="postgresql")
    try:
        conn = await asyncpg.connect(dsn.render_as_string(hide_password=False), timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackupFailed(f"cannot connect to the database: {type(exc).__name__}") from None
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        tables = {str(r[0]) for r in rows}
        jobs = int(await conn.fetchval("SELECT count(*) FROM jobs")) if "jobs" in tables else None
    finally:
        await conn.close()
    return tables, jobs


async def _pg_restore(source: Path, database_url: str, drop: set[str]) -> None:
    env = _pg_env(database_url)
    restore_args = [_tool("pg_restore"), "--clean", "--if-exists", "--no-owner"]
    restore_args += ["--no-privileges", "--file=-", str(source)]
    psql_args = [_tool("psql"), "--no-psqlrc", "--quiet", "--single-transaction"]
    psql_args += ["-v", "ON_ERROR_STOP=1", "--output=/dev/null"]
    if drop:
        # tables the backup may not have (added by a later migration) go too, in the
        # same transaction, so the upgrade afterwards can create them again
        names = ", ".join(f'"{t}"' for t in sorted(drop))
        psql_args += ["-c", f"DROP TABLE IF EXISTS {names} CASCADE"]
    psql_args += ["-f", "-"]
    read_fd, write_fd = os.pipe()
    try:
        producer = await asyncio.create_subprocess_exec(
            *restore_args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_fd,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        os.close(write_fd)
    try:
        consumer = await asyncio.create_subprocess_exec(
            *psql_args,
            env=env,
            stdin=read_fd,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        os.close(read_fd)
    try:
        (_, err_in), (_, err_out) = await asyncio.wait_for(
            asyncio.gather(producer.communicate(), consumer.communicate()), _TOOL_TIMEOUT_S
        )
    except BaseException:
        for proc in (producer, consumer):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        raise
    if consumer.returncode != 0:
        raise BackupFailed(f"psql failed, the database is unchanged: {_last_line(err_out)}")
    if producer.returncode != 0:
        raise BackupFailed(f"pg_restore failed: {_last_line(err_in)}")


# --------------------------------------------------------------------------- public


async def inspect_backup(path: Path) -> BackupInfo:
    """What ``path`` holds; :class:`BackupRefused` when it is not a Mediaferry backup."""
    path = path.expanduser().absolute()
    if not path.is_file():
        raise BackupRefused(f"{path} does not exist or is not a file")
    with path.open("rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head == SQLITE_MAGIC:
        return await asyncio.to_thread(_inspect_sqlite, path)
    if head.startswith(PGDUMP_MAGIC):
        return await _inspect_pg(path)
    raise BackupRefused(
        f"{path} is not a Mediaferry backup (neither an SQLite database nor a pg_dump archive)"
    )


async def create_backup(
    database_url: str,
    dest: Path,
    *,
    keep_out: Mapping[str, Path] | None = None,
    force: bool = False,
) -> BackupInfo:
    """Write a backup of the database to ``dest`` (a file, or a folder to put one in),
    while the service may keep running. ``keep_out`` names folders a backup must not go
    into (the archive, the temp folder)."""
    engine = _engine_of(database_url)
    database = _sqlite_path(database_url) if engine == "sqlite" else None
    if database is not None and not database.is_file():
        raise BackupRefused(f"there is no database at {database}")
    dest = _destination(dest, engine)
    _check_destination(dest, keep_out=keep_out or {}, database=database, force=force)
    tmp = _temp_beside(dest)
    try:
        if database is not None:
            revision, jobs = await asyncio.to_thread(_sqlite_backup, database, tmp, dest.parent)
        else:
            env = _pg_env(database_url)
            await _run([_tool("pg_dump"), "--format=custom", f"--file={tmp}"], env=env)
            revision = _check_revision(dest, await _pg_dump_revision(tmp))
            jobs = None
        await asyncio.to_thread(_fsync, tmp)
        os.replace(tmp, dest)
    except BaseException as exc:
        _remove(tmp, Path(f"{tmp}-journal"))
        if _no_space(exc):
            raise BackupRefused(
                f"not enough space in {dest.parent} for the backup; nothing was written"
            ) from None
        if isinstance(exc, sqlite3.Error):
            raise BackupFailed(f"the backup failed: {exc}") from None
        if isinstance(exc, OSError):
            raise BackupFailed(f"cannot write {dest}: {exc.strerror or exc}") from None
        raise
    return BackupInfo(dest, engine, revision, dest.stat().st_size, jobs)


async def restore_backup(database_url: str, source: Path, *, force: bool = False) -> BackupInfo:
    """Replace the configured database with the backup at ``source``, then upgrade its
    schema to head. Refuses (changing nothing) when ``source`` is not a backup, is for the
    other database engine, or the database holds data and ``force`` is not set."""
    info = await inspect_backup(source)
    engine = _engine_of(database_url)
    if info.engine != engine:
        raise BackupRefused(
            f"{info.path} is a {info.engine} backup but the configured database is {engine}"
        )
    if engine == "sqlite":
        target = _sqlite_path(database_url)
        if target.resolve() == info.path.resolve():
            raise BackupRefused(f"{info.path} is the configured database itself")
        jobs = await asyncio.to_thread(_sqlite_holds_data, target)
        if jobs is not None and not force:
            raise BackupRefused(
                f"the database {target} already holds data ({jobs} jobs); "
                "pass --force to replace it with the backup"
            )
        try:
            await asyncio.to_thread(_sqlite_restore, info.path, target)
        except sqlite3.Error as exc:
            raise BackupFailed(f"the restore failed, the database is unchanged: {exc}") from None
    else:
        tables, jobs = await _pg_tables(database_url)
        if jobs is not None and not force:
            raise BackupRefused(
                f"the database already holds data ({jobs} jobs); "
                "pass --force to replace it with the backup"
            )
        from mediaferry.db.models import Base

        ours = set(Base.metadata.tables) | {"alembic_version"}
        await _pg_restore(info.path, database_url, tables & ours)

    from mediaferry.db.engine import Database

    db = Database(database_url, pool_size=1)
    try:
        await db.upgrade()
    finally:
        await db.close()
    return info
