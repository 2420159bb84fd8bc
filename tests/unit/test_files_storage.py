"""Storage: temp dirs, archive layout, unique names, moves."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from mediaferry.config import Settings
from mediaferry.errors import MediaferryError
from mediaferry.files.storage import Storage


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(Settings(data_dir=tmp_path))


def test_tmp_dir_for_a_job_is_created_and_removed(storage: Storage, tmp_path: Path) -> None:
    path = storage.tmp_dir_for(42)
    assert path == tmp_path / "tmp" / "jobs" / "42" and path.is_dir()
    (path / "a.part").write_bytes(b"x")
    storage.remove_tmp(42)
    assert not path.exists()
    storage.remove_tmp(42)  # nothing left: no error
    with pytest.raises(ValueError):
        storage.tmp_dir_for(-1)


def test_archive_layout(storage: Storage, tmp_path: Path) -> None:
    path = storage.archive_path_for(
        "YOUTUBE", "My Video: part 1/2", "dQw4w9WgXcQ", ".mp4", datetime(2024, 3, 9)
    )
    assert path == tmp_path / "archive/youtube/2024-03/My Video_ part 1_2 [dQw4w9WgXcQ].mp4"
    assert path.parent.is_dir()


def test_archive_path_without_title_or_id(storage: Storage) -> None:
    path = storage.archive_path_for("DIRECT", None, None, "m4a", datetime(2024, 12, 1))
    assert path.name == "untitled.m4a"


def test_taken_archive_names_get_a_number(storage: Storage) -> None:
    when = datetime(2024, 1, 1)
    first = storage.archive_path_for("DIRECT", "Talk", "1", "mp3", when)
    first.write_bytes(b"a")
    second = storage.archive_path_for("DIRECT", "Talk", "1", "mp3", when)
    assert second.name == "Talk [1] (2).mp3"
    second.write_bytes(b"b")
    assert storage.archive_path_for("DIRECT", "Talk", "1", "mp3", when).name == "Talk [1] (3).mp3"


def test_move_into_archive_same_filesystem(storage: Storage, tmp_path: Path) -> None:
    src = storage.tmp_dir_for(1) / "out.mp4"
    src.write_bytes(b"video" * 1000)
    dest = storage.archive_path_for("DIRECT", "Clip", None, "mp4", datetime(2024, 1, 1))
    assert storage.move_into_archive(src, dest) == dest
    assert dest.read_bytes() == b"video" * 1000 and not src.exists()


def test_move_into_archive_across_filesystems(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs a second filesystem (/dev/shm)")
    other = shm / f"mf-{os.getpid()}-{tmp_path.name}"
    storage = Storage(Settings(data_dir=tmp_path, tmp_root=other))
    try:
        src = storage.tmp_dir_for(7) / "out.mp3"
        src.write_bytes(b"\x00audio" * 5000)
        dest = storage.archive_path_for("DIRECT", "Song", "x", "mp3", datetime(2024, 1, 1))
        storage.move_into_archive(src, dest)
        assert dest.read_bytes() == b"\x00audio" * 5000 and not src.exists()
        assert not list(dest.parent.glob(".*.part"))
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_move_outside_the_archive_is_refused(storage: Storage, tmp_path: Path) -> None:
    src = storage.tmp_dir_for(1) / "f"
    src.write_bytes(b"x")
    with pytest.raises(MediaferryError, match="outside the archive"):
        storage.move_into_archive(src, tmp_path / "archive" / ".." / "escaped")
    assert src.exists()
