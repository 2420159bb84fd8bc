"""Cleanup of temp job dirs and partial files, with controlled timestamps."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

import pytest

from mediaferry.config import Settings
from mediaferry.files.cleanup import cleanup_tmp
from mediaferry.files.storage import Storage

NOW = time.time()
HOUR = 3600


def _age(path: Path, hours: float) -> None:
    """Set the mtime of ``path`` and everything under it to ``hours`` ago."""
    stamp = NOW - hours * HOUR
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.utime(Path(root, name), (stamp, stamp))
    os.utime(path, (stamp, stamp))


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(Settings(data_dir=tmp_path))


def _job(storage: Storage, job_id: int, files: dict[str, bytes], hours: float) -> Path:
    path = storage.tmp_dir_for(job_id)
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    _age(path, hours)
    return path


def test_old_dirs_and_orphaned_partials_go_live_and_archive_stay(storage: Storage) -> None:
    old = _job(storage, 1, {"video.mp4": b"x" * 100, "sub/a.jpg": b"y" * 50}, hours=30)
    young = _job(storage, 2, {"v.mp4.part": b"p" * 10, "v.f1.ytdl": b"", "keep.mp4": b"k"}, 1)
    live_old = _job(storage, 3, {"big.iso.aria2": b"a", "big.iso": b"b" * 10}, hours=100)
    archived = storage.archive_path_for("DIRECT", "A", None, "mp4", datetime(2024, 1, 1))
    archived.write_bytes(b"archived")
    _age(archived.parent, 1000)

    report = cleanup_tmp(storage, live_job_ids={3}, max_age_hours=24, now=NOW)

    assert not old.exists()
    assert young.is_dir() and (young / "keep.mp4").exists()
    assert not (young / "v.mp4.part").exists() and not (young / "v.f1.ytdl").exists()
    assert (live_old / "big.iso.aria2").exists() and report.skipped_live == [live_old]
    assert archived.read_bytes() == b"archived"
    assert set(report.removed) == {old, young / "v.mp4.part", young / "v.f1.ytdl"}
    assert report.bytes_freed == 150 + 10


def test_a_recent_file_keeps_an_old_dir(storage: Storage) -> None:
    path = _job(storage, 5, {"a.mp4": b"a"}, hours=48)
    (path / "fresh.mp4").write_bytes(b"new")  # touched now
    report = cleanup_tmp(storage, live_job_ids=set(), max_age_hours=24, now=NOW)
    assert path.is_dir() and report.removed == []


def test_dry_run_reports_without_deleting(storage: Storage) -> None:
    path = _job(storage, 9, {"a.mp4": b"a" * 7}, hours=48)
    report = cleanup_tmp(storage, live_job_ids=set(), max_age_hours=24, now=NOW, dry_run=True)
    assert report.dry_run and report.removed == [path] and report.bytes_freed == 7
    assert (path / "a.mp4").exists()


def test_symlinks_are_removed_not_followed(storage: Storage, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_bytes(b"keep")
    storage.jobs_root.mkdir(parents=True, exist_ok=True)
    link = storage.jobs_root / "77"
    link.symlink_to(outside, target_is_directory=True)
    os.utime(link, (NOW - 100 * HOUR, NOW - 100 * HOUR), follow_symlinks=False)
    cleanup_tmp(storage, live_job_ids=set(), max_age_hours=24, now=NOW)
    assert not link.exists() and not link.is_symlink()
    assert (outside / "keep.txt").read_bytes() == b"keep"


def test_nothing_to_clean(storage: Storage) -> None:
    report = cleanup_tmp(storage, live_job_ids=set(), max_age_hours=24)
    assert report.removed == [] and report.bytes_freed == 0
