"""yt-dlp as Mediaferry runs it vs the yt-dlp CLI, same URL, same local server, same run.

    .venv/bin/python bench/ytdlp_child.py [--rounds 5]

Rows (median of the rounds, every round shown):
- metadata of a local MP4: Mediaferry's child (environment lock, JS runtime and
  extractor args in the options, extractor preloaded, ``ready`` event) vs
  ``yt-dlp --dump-json`` run as a process;
- the readiness probe behind ``doctor``/``/health`` with and without the JS
  challenge self-test (EJS solver through deno) vs ``deno --version`` alone;
- the environment lock a job start takes (shared flock acquire + release).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable

from tests.support.media_fixtures import generate_media
from tests.support.media_server import MediaServer

from mediaferry.config import Settings
from mediaferry.jobs.ytdlp_health import ytdlp_report
from mediaferry.net.ytdlp_env import env_lock, js_runtimes
from mediaferry.plan import JobRequest
from mediaferry.sources._ytdlp import extract_info


async def rounds(n: int, fn: Callable[[], Awaitable[object]]) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - start)
    return out


async def run_cmd(cmd: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    assert await proc.wait() == 0, cmd


def show(name: str, times: list[float], ref: list[float] | None = None) -> None:
    med = statistics.median(times)
    ratio = f"  x{med / statistics.median(ref):4.2f} of the reference" if ref else ""
    every = " ".join(f"{t * 1000:.0f}" for t in times)
    print(f"  {name:<44} {med * 1000:8.1f} ms{ratio}   [{every}]")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n = args.rounds
    with tempfile.TemporaryDirectory(prefix="mf-bench-") as tmp:
        media = Path(tmp) / "media"
        generate_media(media)
        settings = Settings(allow_private_networks=True, data_dir=Path(tmp) / "data")
        deno = js_runtimes(settings)["deno"]["path"]
        with MediaServer(media) as server:
            url = server.media_url("h264_aac.mp4")
            request = JobRequest(job_id=1, url=url, job_type="video", quality="best")
            cli = [sys.executable, "-m", "yt_dlp", "-q", "--dump-json", url]
            print(f"yt-dlp metadata of a local MP4 ({n} rounds, ms)")
            raw = await rounds(n, lambda: run_cmd(cli))
            ours = await rounds(n, lambda: extract_info(url, settings, request))
            show("yt-dlp --dump-json (CLI process)", raw)
            show("Mediaferry yt-dlp child (extract)", ours, raw)

        print(f"\nreadiness probe ({n} rounds, ms)")
        ref = await rounds(n, lambda: run_cmd([deno, "--version"]))
        cli_ver = await rounds(n, lambda: run_cmd([sys.executable, "-m", "yt_dlp", "--version"]))
        probe = await rounds(n, lambda: ytdlp_report(settings, fresh=True))
        selftest = await rounds(n, lambda: ytdlp_report(settings, selftest=True, fresh=True))
        show("deno --version", ref)
        show("yt-dlp --version (CLI process)", cli_ver)
        show("probe (doctor, /health)", probe, cli_ver)
        show("probe + JS challenge through EJS and deno", selftest, cli_ver)

        async def lock_once() -> None:
            async with env_lock(sys.executable, exclusive=False):
                pass

        times = await rounds(1000, lock_once)
        lock_us = statistics.median(times) * 1e6
        print(f"\nenvironment lock per job start (1000 rounds): {lock_us:.1f} µs")


if __name__ == "__main__":
    asyncio.run(main())
