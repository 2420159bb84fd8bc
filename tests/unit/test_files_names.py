"""Property tests: sanitize_filename and archive_path_for never produce an unsafe path."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediaferry.config import Settings
from mediaferry.files.names import sanitize_filename
from mediaferry.files.storage import Storage

HOSTILE = [
    "../../etc/passwd",
    "/etc/shadow",
    "a/../../b",
    "..",
    ".",
    "...",
    "." * 300,
    "nul\x00byte",
    "\u202egpj.exe",
    "evil\u202ecod.mp4",
    "😀" * 1000,
    "CON",
    "con.txt",
    " . . ",
    "\\\\server\\share",
    "tab\there\nnewline\r",
    "",
    "\x7f\x1b[31m",
]

names = st.one_of(st.text(), st.sampled_from(HOSTILE), st.text(alphabet="./\\\x00 .é😀\u202e"))


def _is_safe_component(name: str, max_bytes: int) -> None:
    assert name and name not in {".", ".."}
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert not any(ord(c) < 32 or ord(c) == 0x7F for c in name)
    assert not any("\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069" for c in name)
    assert len(name.encode("utf-8")) <= max_bytes
    assert name == name.strip() and not name.endswith(".")


@given(name=names, max_bytes=st.integers(min_value=8, max_value=255))
@settings(max_examples=400)
def test_sanitize_filename_is_a_safe_single_component(name: str, max_bytes: int) -> None:
    _is_safe_component(sanitize_filename(name, max_bytes=max_bytes), max_bytes)


@given(name=names, max_bytes=st.integers(min_value=8, max_value=255))
@settings(max_examples=400)
def test_sanitize_filename_is_idempotent(name: str, max_bytes: int) -> None:
    once = sanitize_filename(name, max_bytes=max_bytes)
    assert sanitize_filename(once, max_bytes=max_bytes) == once


@pytest.mark.parametrize("title", HOSTILE)
def test_hostile_titles_stay_inside_the_archive(title: str, tmp_path: Path) -> None:
    storage = Storage(Settings(data_dir=tmp_path))
    path = storage.archive_path_for("YOUTUBE", title, "abc", "mp4", datetime(2024, 5, 1))
    assert path.parent == (tmp_path / "archive" / "youtube" / "2024-05")
    assert path.resolve().is_relative_to((tmp_path / "archive").resolve())
    assert path.name.endswith(" [abc].mp4") and len(path.name.encode()) <= 255


@given(
    title=st.one_of(st.none(), names),
    media_id=st.one_of(st.none(), names),
    source=st.one_of(st.sampled_from(["YOUTUBE", "DIRECT", "../x", ""]), st.text(max_size=20)),
    ext=st.one_of(st.sampled_from(["mp4", ".m4a", "../../sh", ""]), st.text(max_size=20)),
)
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_archive_path_never_escapes(
    title: str | None, media_id: str | None, source: str, ext: str, tmp_path: Path
) -> None:
    storage = Storage(Settings(data_dir=tmp_path))
    path = storage.archive_path_for(source, title, media_id, ext, datetime(2024, 1, 31))
    root = (tmp_path / "archive").resolve()
    assert path.resolve().is_relative_to(root)
    assert path.resolve().parent.parent.parent == root  # <source>/<yyyy-mm>/<name>
    assert len(path.name.encode()) <= 255
    _is_safe_component(path.name, 255)
