"""Remove stale temp work: old job dirs and orphaned partial downloads.

Only ``TMP_ROOT/jobs/*`` is ever touched, never the archive, never a live job.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from mediaferry.files.storage import Storage

__all__ = ["PARTIAL_SUFFIXES", "CleanupReport", "cleanup_tmp"]

log = logging.getLogger(__name__)

PARTIAL_SUFFIXES = (".part", ".aria2", ".ytdl")


@dataclass(slots=True)
class CleanupReport:
    """What was (or, in a dry run, would have been) removed."""

    removed: list[Path] = field(default_factory=list)
    bytes_freed: int = 0
    skipped_live: list[Path] = field(default_factory=list)
    dry_run: bool = False


def _tree_stats(path: Path) -> tuple[float, int]:
    """Newest mtime and total size under ``path`` (symlinks not followed)."""
    stat = path.lstat()
    if path.is_symlink() or not path.is_dir():
        return stat.st_mtime, stat.st_size
    newest, total = stat.st_mtime, 0
    for root, dirs, files in os.walk(path, followlinks=False):
        for name in dirs + files:
            try:
                stat = Path(root, name).lstat()
            except FileNotFoundError:
                continue
            newest = max(newest, stat.st_mtime)
            if name in files:
                total += stat.st_size
    return newest, total


def _job_id(path: Path) -> int | None:
    return int(path.name) if path.name.isdigit() else None


def _remove(path: Path, size: int, report: CleanupReport) -> None:
    report.removed.append(path)
    report.bytes_freed += size
    if report.dry_run:
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    log.info("cleanup removed %s (%d bytes)", path, size)


def _partials(job_dir: Path) -> list[Path]:
    found: list[Path] = []
    for root, _dirs, files in os.walk(job_dir, followlinks=False):
        found += [Path(root, n) for n in files if n.endswith(PARTIAL_SUFFIXES)]
    return found


def cleanup_tmp(
    storage: Storage,
    *,
    live_job_ids: set[int],
    max_age_hours: float,
    now: float | None = None,
    dry_run: bool = False,
) -> CleanupReport:
    """Delete job temp dirs untouched for ``max_age_hours`` and partial files
    (``*.part``, ``*.aria2``, ``*.ytdl``) of jobs that are not live.

    Dirs of ``live_job_ids`` are never touched, nor anything outside
    ``TMP_ROOT/jobs`` (so never the archive). ``now`` is a Unix timestamp.
    """
    report = CleanupReport(dry_run=dry_run)
    jobs_root = storage.jobs_root
    if not jobs_root.is_dir():
        return report
    cutoff = (time.time() if now is None else now) - max_age_hours * 3600
    archive = storage.archive_root.resolve()
    for entry in sorted(jobs_root.iterdir()):
        if _job_id(entry) in live_job_ids:
            report.skipped_live.append(entry)
            continue
        if not entry.is_symlink() and archive.is_relative_to(entry.resolve()):
            continue  # an archive configured inside the temp tree is never deleted
        newest, size = _tree_stats(entry)
        if newest < cutoff:
            _remove(entry, size, report)
        elif entry.is_dir() and not entry.is_symlink():
            for partial in _partials(entry):
                _remove(partial, partial.lstat().st_size, report)
    return report
