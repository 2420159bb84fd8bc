"""Download backends vs the raw tools, same file, same local server, same run.

    .venv/bin/python bench/download_backends.py [--size-mb 1024]

A sparse file is served by the test media server on 127.0.0.1; each contender
downloads it into a temp folder (deleted after each run). Prints MB/s and the
ratio to the raw tool (curl for plain HTTP, yt-dlp's CLI for yt-dlp and HLS).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds modules named like stdlib ones (queue.py): run from the repo root instead
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable

from tests.support.media_fixtures import generate_media, make_sparse_file
from tests.support.media_server import MediaServer

from mediaferry.config import Settings
from mediaferry.plan import MediaPlan
from mediaferry.transfer.aria2 import Aria2Transfer
from mediaferry.transfer.http import HttpTransfer
from mediaferry.transfer.ytdlp import YtdlpTransfer

YTDLP_CLI = [sys.executable, "-m", "yt_dlp", "-q", "--no-progress", "--no-part"]


async def timed(fn: Callable[[Path], Awaitable[object]]) -> float:
    dest = Path(tempfile.mkdtemp(prefix="mf-bench-"))
    try:
        start = time.perf_counter()
        await fn(dest)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(dest, ignore_errors=True)


async def run_cmd(cmd: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.DEVNULL)
    assert await proc.wait() == 0, cmd


def report(title: str, size: int, rows: list[tuple[str, float]], base: str) -> None:
    ref = dict(rows)[base]
    print(f"\n{title} ({size / 1e6:.0f} MB)")
    for name, seconds in rows:
        print(
            f"  {name:<22} {size / 1e6 / seconds:8.1f} MB/s   {seconds:6.2f} s   "
            f"x{ref / seconds:4.2f} vs {base}"
        )


async def main(size_mb: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="mf-bench-media-"))
    generate_media(root)
    big = make_sparse_file(root / "big.mp4", size_mb * 1024 * 1024)
    settings = Settings(
        allow_private_networks=True, data_dir=root / "data", max_file_size_mb=size_mb * 2
    )
    with MediaServer(root) as srv:
        url = srv.media_url("big.mp4")
        plan = MediaPlan(url=url, protocol="http", size=big.stat().st_size)
        http, aria2, ytdlp = (
            HttpTransfer(settings),
            Aria2Transfer(settings),
            YtdlpTransfer(settings),
        )
        nop = lambda p: None  # noqa: E731
        rows = [
            ("curl", await timed(lambda d: run_cmd(["curl", "-sfo", str(d / "f"), url]))),
            ("HttpTransfer", await timed(lambda d: http.fetch(plan, d, nop))),
            ("Aria2Transfer", await timed(lambda d: aria2.fetch(plan, d, nop))),
            (
                "aria2c CLI",
                await timed(
                    lambda d: run_cmd(
                        ["aria2c", "-q", "-x4", "-s4", "--file-allocation=none", "-d", str(d), url]
                    )
                ),
            ),
            ("YtdlpTransfer", await timed(lambda d: ytdlp.fetch(plan, d, nop))),
            (
                "yt-dlp CLI",
                await timed(lambda d: run_cmd([*YTDLP_CLI, "-o", str(d / "f.%(ext)s"), url])),
            ),
        ]
        report("direct file", big.stat().st_size, rows, "curl")
        hls = srv.media_url("hls/index.m3u8")
        hls_plan = MediaPlan(url=hls, protocol="ytdlp")
        hls_size = sum(p.stat().st_size for p in (root / "hls").glob("*.ts"))
        rows = [
            (
                "yt-dlp CLI",
                await timed(lambda d: run_cmd([*YTDLP_CLI, "-o", str(d / "f.%(ext)s"), hls])),
            ),
            ("YtdlpTransfer", await timed(lambda d: ytdlp.fetch(hls_plan, d, nop))),
        ]
        report("HLS, 8 segments", hls_size, rows, "yt-dlp CLI")
        await aria2.close()
        await http.close()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    asyncio.run(main(parser.parse_args().size_mb))
