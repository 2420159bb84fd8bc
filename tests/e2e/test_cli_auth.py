"""``mediaferry auth …`` driven from outside, as a subprocess, on a fresh data dir."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

MF = str(Path(sys.executable).with_name("mediaferry"))
SECRET = "cli-cookie-value-0c9f7d1e"


def mf(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAFERRY_")}
    env["MEDIAFERRY_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [MF, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def listing(data_dir: Path) -> list[dict[str, Any]]:
    out = mf(data_dir, "auth", "list", "--json")
    assert out.returncode == 0, out.stderr
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    return rows


@pytest.fixture
def cookies(tmp_path: Path) -> Path:
    path = tmp_path / "cookies.txt"
    path.write_text(
        "# Netscape HTTP Cookie File\n"
        f".youtube.com\tTRUE\t/\tTRUE\t0\tSID\t{SECRET}\n"
        "#HttpOnly_.youtube.com\tTRUE\t/\tTRUE\t0\tHSID\tanother-value-1234\n"
    )
    return path


def test_add_list_disable_enable_remove(tmp_path: Path, cookies: Path) -> None:
    data = tmp_path / "data"
    out = mf(data, "auth", "add", "yt_main", "--source", "youtube", "--cookies", str(cookies))
    assert out.returncode == 0, out.stderr
    assert "yt_main" in out.stdout
    out = mf(data, "auth", "add", "yt_2", "--source", "YOUTUBE", "--cookies", str(cookies),
             "--priority", "5")  # fmt: skip
    assert out.returncode == 0, out.stderr

    copy = data / "cookies" / "yt_main.txt"
    assert copy.read_text() == cookies.read_text()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600

    rows = listing(data)
    assert [(r["id"], r["source"], r["status"], r["failures"]) for r in rows] == [
        ("yt_2", "YOUTUBE", "ACTIVE", 0),
        ("yt_main", "YOUTUBE", "ACTIVE", 0),
    ]
    assert rows[0]["last_success_at"] is None and rows[0]["last_failure_at"] is None
    table = mf(data, "auth", "list")
    assert table.returncode == 0 and "yt_main" in table.stdout and "active" in table.stdout
    for text in (table.stdout, table.stderr, json.dumps(rows)):
        assert SECRET not in text and "another-value-1234" not in text

    out = mf(data, "auth", "disable", "yt_main")
    assert out.returncode == 0 and "disabled" in out.stdout
    assert {r["id"]: r["status"] for r in listing(data)}["yt_main"] == "DISABLED"
    out = mf(data, "auth", "enable", "yt_main")
    assert out.returncode == 0 and "active" in out.stdout
    assert {r["id"]: r["status"] for r in listing(data)}["yt_main"] == "ACTIVE"

    out = mf(data, "auth", "remove", "yt_main")
    assert out.returncode == 0, out.stderr
    assert [r["id"] for r in listing(data)] == ["yt_2"]
    assert not copy.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "yt", "--source", "myspace"], "unknown source"),
        (["add", "Not OK", "--source", "youtube"], "bad profile id"),
        (["add", "yt", "--source", "youtube", "--cookies", "/nonexistent/c.txt"], "not found"),
        (["add", "yt", "--source", "youtube", "--cookies", "GARBAGE"], "Netscape"),
        (["add", "dup", "--source", "youtube"], "already exists"),
        (["disable", "ghost"], "no auth profile"),
        (["enable", "ghost"], "no auth profile"),
        (["remove", "ghost"], "no auth profile"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(
    tmp_path: Path, cookies: Path, args: list[str], message: str
) -> None:
    data = tmp_path / "data"
    garbage = tmp_path / "garbage.txt"
    garbage.write_text(f"session {SECRET} is not how a cookie file looks\n")
    if "dup" in args:
        assert mf(data, "auth", "add", "dup", "--source", "youtube", "--cookies",
                  str(cookies)).returncode == 0  # fmt: skip
    if "--cookies" not in args and args[0] == "add":
        args = [*args, "--cookies", str(cookies)]
    args = [str(garbage) if a == "GARBAGE" else a for a in args]

    out = mf(data, "auth", *args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr and SECRET not in out.stderr + out.stdout
