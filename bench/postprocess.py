"""Benchmark: Mediaferry's make_streamable vs raw ffmpeg remux vs a full re-encode.

Run: ``.venv/bin/python bench/postprocess.py [--runs 5] [--seconds 25]``. Generates a
compatible 1080p H.264/AAC MP4 (moov at the end) with ffmpeg, then times, in the same
run and on the same file:

- mediaferry: ``make_streamable`` (stream copy + faststart), probe given
- mediaferry+probe: ``probe`` then ``make_streamable`` (what postprocess does first)
- raw copy: ``ffmpeg -i X -c copy -movflags +faststart out.mp4``
- re-encode: ``ffmpeg -i X -c:v libx264 -preset veryfast -c:a aac out.mp4``

Target: mediaferry ≤ 1.2x raw copy.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mediaferry.media.probe import probe
from mediaferry.media.video import make_streamable

FF = ["ffmpeg", "-hide_banner", "-v", "error", "-nostdin", "-y"]


def generate(path: Path, seconds: int) -> None:
    """A 1080p30 H.264/AAC MP4 (~8 Mb/s), moov at the end as downloads often are."""
    subprocess.run(
        [*FF, "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "8M", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", "-shortest", str(path)],
        check=True,
    )  # fmt: skip


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reencode-runs", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=25)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mf-bench-") as tmp:
        work = Path(tmp)
        src = work / "source.mp4"
        print(f"generating {args.seconds}s 1080p H.264/AAC source ...", flush=True)
        generate(src, args.seconds)
        size_mb = src.stat().st_size / 2**20
        info = asyncio.run(probe(src))
        out_dir = work / "mf"

        def mediaferry() -> None:
            asyncio.run(make_streamable(src, out_dir, info))

        def mediaferry_probe() -> None:
            async def both() -> None:
                await make_streamable(src, out_dir, await probe(src))

            asyncio.run(both())

        def raw_copy() -> None:
            subprocess.run([*FF, "-i", str(src), "-c", "copy", "-movflags", "+faststart",
                            str(work / "raw.mp4")], check=True)  # fmt: skip

        def reencode() -> None:
            subprocess.run([*FF, "-i", str(src), "-c:v", "libx264", "-preset", "veryfast",
                            "-c:a", "aac", "-movflags", "+faststart", str(work / "enc.mp4")],
                           check=True)  # fmt: skip

        raw_copy()  # warm the page cache
        results = {
            "raw ffmpeg -c copy +faststart": timed(raw_copy, args.runs),
            "mediaferry make_streamable": timed(mediaferry, args.runs),
            "mediaferry probe+make_streamable": timed(mediaferry_probe, args.runs),
            "full re-encode (libx264 veryfast)": timed(reencode, args.reencode_runs),
        }
    base = statistics.median(results["raw ffmpeg -c copy +faststart"])
    print(f"\nsource: {size_mb:.1f} MB, {args.seconds} s, 1920x1080 H.264/AAC")
    print(f"{'method':<36} {'runs':>4} {'median s':>9} {'min s':>7} {'x raw copy':>10}")
    for name, times in results.items():
        med = statistics.median(times)
        print(f"{name:<36} {len(times):>4} {med:>9.3f} {min(times):>7.3f} {med / base:>10.2f}")
    ratio = statistics.median(results["mediaferry make_streamable"]) / base
    speedup = statistics.median(results["full re-encode (libx264 veryfast)"]) / statistics.median(
        results["mediaferry make_streamable"]
    )
    verdict = "OK" if ratio <= 1.2 else "OVER TARGET"
    print(f"\nmake_streamable / raw copy = {ratio:.2f} (target <= 1.2: {verdict})")
    print(f"speed-up vs full re-encode = {speedup:.1f}x")


if __name__ == "__main__":
    main()
