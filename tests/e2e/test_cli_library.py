"""``mediaferry search`` and ``mediaferry cleanup`` through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mediaferry.db.engine import Database
from mediaferry.db.models import MediaItem
from mediaferry.jobs.service import JobService
from tests.support.db_fixtures import make_settings

MEDIAFERRY = Path(sys.executable).with_name("mediaferry")


def run_cli(data_dir: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MEDIAFERRY_DATA_DIR": str(data_dir),
        "MEDIAFERRY_DATABASE_URL": db_url,
        "MEDIAFERRY_LOG_FORMAT": "console",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [str(MEDIAFERRY), *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
async def seeded(tmp_path: Path, db_url: str, media_dir: Path) -> Path:
    """A data dir whose library holds a few items (one a real ffmpeg-made file)."""
    data = tmp_path / "data"
    settings = make_settings(tmp_path, db_url)
    db = Database(settings.database_url)
    await db.upgrade()
    real = media_dir / "audio.m4a"
    try:
        async with db.session() as session:
            session.add_all(
                [
                    MediaItem(path=str(real), title="Morning Adhkar", performer="Mishary",
                              file_format="m4a", size=real.stat().st_size, duration=5.0,
                              source_type="YOUTUBE", origin_url="https://youtu.be/x",
                              sha256="ab" * 32),
                    MediaItem(path="/a/lecture.mp4", title="Lecture on Patience",
                              performer="Omar", file_format="mp4", size=300_000_000,
                              duration=3600.0, source_type="ISLAMIC"),
                    MediaItem(path="/a/evening.mp3", title="Evening Adhkar",
                              performer="Mishary", file_format="mp3", size=12_000_000,
                              source_type="DIRECT"),
                ]
            )  # fmt: skip
    finally:
        await db.close()
    return data


def test_search_prints_a_table(seeded: Path, db_url: str) -> None:
    out = run_cli(seeded, db_url, "search", "adhkar")
    assert out.returncode == 0, out.stderr
    assert "Morning Adhkar" in out.stdout and "Evening Adhkar" in out.stdout
    assert "Patience" not in out.stdout


def test_search_json_with_filters(seeded: Path, db_url: str, media_dir: Path) -> None:
    out = run_cli(seeded, db_url, "search", "adhkar", "--format", "m4a", "--json")
    assert out.returncode == 0, out.stderr
    [item] = json.loads(out.stdout)
    assert item["title"] == "Morning Adhkar" and item["performer"] == "Mishary"
    assert item["path"] == str(media_dir / "audio.m4a") and item["format"] == "m4a"
    assert item["source_type"] == "YOUTUBE" and item["origin_url"] == "https://youtu.be/x"
    assert {"id", "album", "duration", "size", "sha256", "created_at"} <= set(item)

    out = run_cli(seeded, db_url, "search", "adhkar", "--min-size", "10MB", "--json")
    assert [i["title"] for i in json.loads(out.stdout)] == ["Evening Adhkar"]
    out = run_cli(seeded, db_url, "search", "adhkar", "--max-size", "1MiB", "--json")
    assert [i["title"] for i in json.loads(out.stdout)] == ["Morning Adhkar"]
    out = run_cli(seeded, db_url, "search", "lec", "--source", "islamic", "--json")
    assert [i["title"] for i in json.loads(out.stdout)] == ["Lecture on Patience"]


def test_fuzzy_search_finds_typos(seeded: Path, db_url: str) -> None:
    out = run_cli(seeded, db_url, "search", "lectur on patiense", "--json")
    assert out.returncode == 0 and json.loads(out.stdout) == []
    out = run_cli(seeded, db_url, "search", "lectur on patiense", "--fuzzy", "--json")
    assert [i["title"] for i in json.loads(out.stdout)][:1] == ["Lecture on Patience"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", ""], "empty"),
        (["search", "   "], "empty"),
        (["search", "x", "--min-size", "lots"], "not a size"),
        (["search", "x", "--max-size", "10XB"], "not a size"),
        (["search", "x", "--min-size", "2MB", "--max-size", "1MB"], "larger"),
    ],
)
def test_bad_search_input_is_one_clear_line_and_exit_2(
    seeded: Path, db_url: str, args: list[str], message: str
) -> None:
    out = run_cli(seeded, db_url, *args)
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in out.stderr


def test_hostile_search_queries_do_not_crash(seeded: Path, db_url: str) -> None:
    for query in ['"unbalanced', "NEAR(a b", "-adhkar", "adhkar*)", "'; DROP TABLE media_items"]:
        out = run_cli(seeded, db_url, "search", "--json", "--", query)
        assert out.returncode == 0, out.stderr
        assert isinstance(json.loads(out.stdout), list)
    out = run_cli(seeded, db_url, "search", "adhkar", "--json")
    assert len(json.loads(out.stdout)) == 2


async def test_cleanup_dry_run_then_for_real(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url)
    db = Database(settings.database_url)
    await db.upgrade()
    try:
        live = (await JobService(db, settings).create("http://127.0.0.1:9/live.mp4")).job
    finally:
        await db.close()
    jobs = settings.tmp_dir / "jobs"
    old, fresh, live_dir = jobs / "90001", jobs / "90002", jobs / str(live.id)
    for folder in (old, fresh, live_dir):
        folder.mkdir(parents=True)
    (old / "video.mp4").write_bytes(b"x" * 5000)
    (fresh / "video.mp4.part").write_bytes(b"y" * 700)
    (fresh / "keep.mp4").write_bytes(b"z" * 10)
    (live_dir / "video.mp4.part").write_bytes(b"w" * 100)
    archived = settings.archive_dir / "direct" / "2020-01" / "old.mp4"
    archived.parent.mkdir(parents=True)
    archived.write_bytes(b"a" * 100)
    long_ago = time.time() - 48 * 3600
    for path in (old, old / "video.mp4", live_dir, live_dir / "video.mp4.part", archived):
        os.utime(path, (long_ago, long_ago))

    dry = run_cli(settings.data_dir, db_url, "cleanup", "--dry-run", "--max-age-hours", "24")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove {old}" in dry.stdout and "would free" in dry.stdout
    assert "5700 bytes" in dry.stdout
    assert (old / "video.mp4").exists() and (fresh / "video.mp4.part").exists()

    real = run_cli(settings.data_dir, db_url, "cleanup", "--max-age-hours", "24")
    assert real.returncode == 0, real.stderr
    assert f"removed {old}" in real.stdout and "freed" in real.stdout
    assert not old.exists() and not (fresh / "video.mp4.part").exists()
    assert (fresh / "keep.mp4").exists()
    assert (live_dir / "video.mp4.part").exists() and archived.exists()

    again = run_cli(settings.data_dir, db_url, "cleanup", "--json")
    report = json.loads(again.stdout)
    assert report["removed"] == [] and report["bytes_freed"] == 0
    assert report["skipped_live"] == [str(live_dir)]
