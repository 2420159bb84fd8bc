"""Disk guard: the free-space floor comes from the settings, the disk is never filled."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mediaferry.config import Settings
from mediaferry.errors import DiskFull, ErrorType
from mediaferry.files.disk import GB, DiskGuard, free_bytes


def test_free_bytes_of_a_path_that_does_not_exist_yet(tmp_path: Path) -> None:
    free = free_bytes(tmp_path / "not" / "yet")
    assert free == pytest.approx(shutil.disk_usage(tmp_path).free, rel=0.01)


def test_floor_above_free_space_is_low(tmp_path: Path) -> None:
    free_gb = free_bytes(tmp_path) / GB
    guard = DiskGuard(Settings(data_dir=tmp_path, min_free_gb=free_gb + 100))
    assert guard.is_low()
    with pytest.raises(DiskFull, match="GB free") as info:
        guard.ensure_space()
    assert info.value.error_type is ErrorType.DISK_FULL and info.value.is_retryable


def test_floor_below_free_space_is_fine(tmp_path: Path) -> None:
    guard = DiskGuard(Settings(data_dir=tmp_path, min_free_gb=0.001))
    assert not guard.is_low()
    guard.ensure_space()
    status = guard.status()
    assert status.free_bytes > status.floor_bytes == int(0.001 * GB)
