"""``jobs --json`` and ``job ID --json`` with the standard library alone.

They only read: where the database is (two settings), and rows of an existing SQLite
database at head (:mod:`mediaferry.jobs.readonly`), found as
:mod:`mediaferry._quick_settings` reads the settings, printed in the one job JSON shape
(:mod:`mediaferry.jobs._json`). Each handler returns ``None`` when it cannot answer
on its own (an option it does not know, PostgreSQL, a database still to be made or
migrated, a ``.env`` it cannot read exactly as pydantic-settings would); the full
Typer command then runs instead, so nothing behaves differently, only faster.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from mediaferry._quick_settings import database_url_from_env
from mediaferry.jobs._json import job_to_dict
from mediaferry.jobs.readonly import ReadOnlyDb, open_sqlite_at_head

__all__ = ["database_url_from_env", "job_json", "jobs_json"]

_STATUSES = frozenset({"PENDING", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"})


@contextmanager
def _reader() -> Iterator[ReadOnlyDb | None]:
    url = database_url_from_env()
    db = open_sqlite_at_head(url) if url else None
    try:
        yield db
    finally:
        if db is not None:
            db.close()


def _print(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _options(args: Sequence[str], known: dict[str, bool]) -> tuple[dict[str, str], list[str]]:
    """``--name value`` / ``--name=value`` / ``--flag`` → (options, positionals).
    ``known`` maps option names to whether they take a value. KeyError if unknown."""
    opts: dict[str, str] = {}
    rest: list[str] = []
    it = iter(args)
    for arg in it:
        if not arg.startswith("-") or arg == "-":
            rest.append(arg)
            continue
        name, eq, value = arg.partition("=")
        takes = known[name]
        if takes and not eq:
            value = next(it)
        elif not takes and eq:
            raise KeyError(name)
        opts[name] = value if takes else "1"
    return opts, rest


def jobs_json(args: Sequence[str]) -> int | None:
    """``mediaferry jobs [--status S] [--limit N] --json``."""
    try:
        opts, rest = _options(args, {"--json": False, "--status": True, "--limit": True})
        limit = int(opts.get("--limit", "50"))
    except (KeyError, StopIteration, ValueError):
        return None
    status = opts.get("--status")
    if rest or "--json" not in opts or not 1 <= limit <= 1000:
        return None
    if status is not None and status.upper() not in _STATUSES:
        return None  # the full command says which statuses exist
    with _reader() as db:
        if db is None:
            return None
        rows = [job_to_dict(j) for j in db.jobs(status=status, limit=limit)]
    _print(rows)
    return 0


def job_json(args: Sequence[str]) -> int | None:
    """``mediaferry job ID --json``."""
    try:
        opts, rest = _options(args, {"--json": False})
    except (KeyError, StopIteration):
        return None
    if "--json" not in opts or len(rest) != 1 or not rest[0].isdigit():
        return None
    job_id = int(rest[0])
    with _reader() as db:
        if db is None:
            return None
        job = db.job(job_id)
        if job is None:
            return None  # the full command's "no job #N" error
        data = job_to_dict(job, db.events(job_id))
    _print(data)
    return 0
