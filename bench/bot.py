"""Bot benchmark with the fake Bot API and the local media server (no internet).

* message → media delivered for a ~5 MB video (p50), with the share of the time spent
  in download, post-processing and upload (from the job's stage events);
* message → re-sent from cache by file_id (p50; target ≤ 100 ms).

Usage:  .venv/bin/python bench/bot.py [--runs 5] [--cache-runs 30]
"""

from __future__ import annotations

import os
import sys

# bench/ holds a queue.py: keep this folder off sys.path so the stdlib's queue wins
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse
import asyncio
import logging
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.fake_telegram import FakeTelegram
from tests.support.media_server import MediaServer

from mediaferry.app import Services
from mediaferry.bot import runner
from mediaferry.config import load_settings

USER = 1001


def make_video(directory: Path) -> Path:
    """~5 MB H.264/AAC MP4 (lossless video, so it is large for its length)."""
    path = directory / "bench5mb.mp4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25:duration=9",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=9",
         "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path


def stage_durations(events: list[Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for e in events:
        if e.event_type.endswith("_FINISHED") and e.data and "duration_s" in e.data:
            out[e.event_type.removesuffix("_FINISHED")] = float(e.data["duration_s"])
    return out


async def wait_calls(fake: FakeTelegram, method: str, count: int, timeout: float = 120) -> Any:
    return await fake.async_wait_for(method, timeout=timeout, count=count)


async def bench(runs: int, cache_runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="mf-bench-bot-") as tmp:
        root = Path(tmp)
        media = root / "media"
        media.mkdir()
        video = make_video(media)
        with MediaServer(media) as server, FakeTelegram() as fake:
            settings = load_settings(
                data_dir=root / "data",
                database_url=f"sqlite+aiosqlite:///{root / 'bench.db'}",
                allow_private_networks=True,
                min_free_gb=0,
                poll_s=0.5,
                progress_interval_s=0.5,
                telegram_token=fake.token,
                telegram_api_url=fake.root,
                allowed_users=[USER],
                log_level="WARNING",
            )
            services = await Services.create(settings)
            stop = await runner.start(services)
            pool = services.worker_pool(concurrency=1)
            await pool.start()
            try:
                await _fresh(fake, server, services, video, runs)
                await _cached(fake, server, video, cache_runs)
            finally:
                await stop()
                await pool.stop(grace=0.5)
                await services.close()


async def _fresh(
    fake: FakeTelegram, server: MediaServer, services: Services, video: Path, runs: int
) -> None:
    totals: list[float] = []
    shares: dict[str, list[float]] = {
        "METADATA": [],
        "DOWNLOAD": [],
        "POSTPROCESS": [],
        "VALIDATE": [],
        "DELIVER": [],
    }
    size = video.stat().st_size
    for i in range(runs):
        url = f"{server.media_url(video.name)}?k={uuid.uuid4().hex[:8]}"
        start = time.time()
        fake.user_sends_text(USER, f"/video {url}")
        call = await wait_calls(fake, "sendVideo", i + 1)
        total = call.time - start
        totals.append(total)
        job = (await services.jobs.list(limit=1))[0]
        while job.status != "COMPLETED":  # DELIVER_FINISHED is written just after the send
            await asyncio.sleep(0.02)
            job = await services.jobs.get(job.id)
        durations = stage_durations(await services.jobs.events(job.id))
        for key in shares:
            shares[key].append(durations.get(key, 0.0) / total)
    print(f"fresh 5 MB video ({size / 1e6:.1f} MB), {runs} runs:")
    print(f"  message -> media p50 {statistics.median(totals) * 1000:.0f} ms"
          f" (min {min(totals) * 1000:.0f}, max {max(totals) * 1000:.0f})")  # fmt: skip
    for key, values in shares.items():
        print(f"  {key.lower():<11} {statistics.median(values) * 100:5.1f} % of the time")
    rest = 1 - sum(statistics.median(v) for v in shares.values())
    print(f"  other       {rest * 100:5.1f} % (polling, queue, claim, progress messages)")


async def _cached(fake: FakeTelegram, server: MediaServer, video: Path, runs: int) -> None:
    url = f"{server.media_url(video.name)}?k={uuid.uuid4().hex[:8]}"
    done = len([c for c in fake.calls("sendVideo") if c.ok])
    fake.user_sends_text(USER, f"/video {url}")
    done += 1
    await wait_calls(fake, "sendVideo", done)
    await asyncio.sleep(1.0)  # let the job reach COMPLETED (file_id stored)
    times: list[float] = []
    for _ in range(runs):
        start = time.time()
        fake.user_sends_text(USER, f"/video {url}")
        done += 1
        call = await wait_calls(fake, "sendVideo", done)
        assert not call.files, "a cached re-send must not upload"
        times.append(call.time - start)
    print(f"cache re-send by file_id, {runs} runs:")
    p90 = sorted(times)[max(0, int(len(times) * 0.9) - 1)]
    p50 = statistics.median(times)
    print(f"  message -> media p50 {p50 * 1000:.1f} ms (p90 {p90 * 1000:.1f} ms; target <= 100 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache-runs", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(bench(args.runs, args.cache_runs))


if __name__ == "__main__":
    main()
