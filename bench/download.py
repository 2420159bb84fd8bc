"""Download throughput: ``mediaferry add --wait`` vs curl on the same local file.

Serves a sparse file (1 GiB by default) from a local nginx (or Python's server when
nginx is not installed) on 127.0.0.1, then in the same run times curl and
``mediaferry add --wait`` as configured by default (a big file starts on one HTTP
connection and goes on in aria2c only if that one is slow) and through aria2c alone,
reporting MB/s, the ratio to curl, the DOWNLOAD stage alone, and the RSS growth of
the Mediaferry process during the download. Each round runs curl and both backends
back to back, so a busy machine slows all of them alike; the sha256 Mediaferry
stores is checked against the file's. Each backend runs on one data folder, as an
installed Mediaferry does: a first small job (not measured; its time is printed as the
first run on a fresh data folder) creates the database and caches the table of
yt-dlp's URL patterns, then every measured run adds the big file under a new link.

Usage:  .venv/bin/python bench/download.py [--size-mb 1024] [--runs 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MF = str(Path(sys.executable).with_name("mediaferry"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def file_server(root: Path, rate_mb: int = 0) -> Iterator[tuple[str, str]]:
    port = free_port()
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if rate_mb and not nginx:
        raise SystemExit("--rate-mb needs nginx (apt-get install nginx-light)")
    limit = f"limit_rate {rate_mb}m;" if rate_mb else ""
    if nginx:
        prefix = root / "nginx"
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        conf = prefix / "nginx.conf"
        conf.write_text(
            ("user root; " if os.geteuid() == 0 else "")
            + f"""worker_processes 1; pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path {prefix}/tmp; proxy_temp_path {prefix}/tmp;
  fastcgi_temp_path {prefix}/tmp; uwsgi_temp_path {prefix}/tmp; scgi_temp_path {prefix}/tmp;
  server {{ listen 127.0.0.1:{port}; root {root}; {limit} }} }}
"""
        )
        proc = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"])
        kind = "nginx"
    else:
        proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        kind = "python http.server"
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", kind
    finally:
        proc.terminate()
        proc.wait(10)


def run_curl(url: str, out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["curl", "-sS", "-o", str(out), url], check=True)
    elapsed = time.perf_counter() - t0
    out.unlink()
    return elapsed


def _rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _env(data: Path, extra_env: dict[str, str]) -> dict[str, str]:
    # an installed copy runs from compiled bytecode: let a source checkout cache it too
    # (a shell with PYTHONDONTWRITEBYTECODE would recompile every module on every run)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MEDIAFERRY_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        MEDIAFERRY_DATA_DIR=str(data),
        MEDIAFERRY_ALLOW_PRIVATE_NETWORKS="true",
        MEDIAFERRY_MIN_FREE_GB="0",
        MEDIAFERRY_LOG_LEVEL="WARNING",
        MEDIAFERRY_MAX_FILE_SIZE_MB="1000000",  # --size-mb 4096 is over the 4000 MB default
        **extra_env,
    )
    return env


def first_run(url: str, data: Path, extra_env: dict[str, str]) -> float:
    """A small job on a fresh data folder (database created, URL table cached): its
    wall time, not part of the measured runs."""
    t0 = time.perf_counter()
    subprocess.run(
        [MF, "add", "--wait", "--json", url], env=_env(data, extra_env),
        capture_output=True, check=True,
    )  # fmt: skip
    return time.perf_counter() - t0


def run_mediaferry(url: str, data: Path, extra_env: dict[str, str], sha256: str) -> dict[str, Any]:
    env = _env(data, extra_env)
    samples: list[tuple[float, int]] = []
    started = time.time()  # wall clock, like the job's events
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [MF, "add", "--wait", "--json", url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss = _rss_kb(proc.pid)
            if rss is not None:
                samples.append((time.time(), rss))  # wall clock, like the job's events
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"mediaferry failed: {err.decode()[-2000:]}")
    job = json.loads(out)["jobs"][0]
    if job["sha256"] != sha256:
        raise RuntimeError(f"mediaferry stored sha256 {job['sha256']}, the file's is {sha256}")
    detail = json.loads(
        subprocess.run(
            [MF, "job", str(job["id"]), "--json"], env=env, capture_output=True, check=True
        ).stdout
    )
    times = {e["type"]: datetime.fromisoformat(e["at"]) for e in detail["events"]}
    downloaded = next(e for e in detail["events"] if e["type"] == "DOWNLOADED")
    dl = (times["DOWNLOAD_FINISHED"] - times["DOWNLOAD_STARTED"]).total_seconds()
    dl_start = times["DOWNLOAD_STARTED"].timestamp()
    dl_end = times["DOWNLOAD_FINISHED"].timestamp()
    before = [rss for t, rss in samples if t <= dl_start] or [samples[0][1]]
    during = [rss for t, rss in samples if dl_start < t <= dl_end] or before
    shutil.rmtree(data / "tmp" / "jobs" / str(job["id"]), ignore_errors=True)  # disk space
    return {
        "total": total,
        "download": dl,
        "before": dl_start - started,  # start-up, job creation, METADATA, CHECK
        "after": total - (dl_end - started),  # POSTPROCESS, VALIDATE, exit
        "rss_growth_mb": max(0, max(during) - before[-1]) / 1024,
        "downloader": downloaded["data"]["downloader"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument(
        "--rate-mb",
        type=int,
        default=0,
        help="cap the server at this many MiB/s per connection (nginx limit_rate), as on a"
        " real link; default: loopback at full speed",
    )
    args = parser.parse_args()
    size = args.size_mb * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        served = tmp / "www"
        served.mkdir()
        with (served / "big.bin").open("wb") as fh:
            fh.truncate(size)
        (served / "small.bin").write_bytes(os.urandom(1 << 20))
        sha256 = hashlib.sha256()
        with (served / "big.bin").open("rb") as fh:
            while block := fh.read(1 << 20):
                sha256.update(block)
        backends = {  # default: one HTTP connection, the rest to aria2c if it is slow
            "default": {},
            "aria2c": {
                "MEDIAFERRY_ARIA2_MIN_SIZE_MB": "1",
                "MEDIAFERRY_ARIA2_HANDOFF_AFTER_S": "0",
            },
        }
        with file_server(served, args.rate_mb) as (base, kind):
            url = f"{base}/big.bin"
            curl: list[float] = []
            results: dict[str, list[dict[str, Any]]] = {name: [] for name in backends}
            first = {
                name: first_run(f"{base}/small.bin", tmp / f"mf-{name}", env)
                for name, env in backends.items()
            }
            for i in range(args.runs):  # one round: curl and each backend, back to back
                curl.append(run_curl(url, tmp / "curl.out"))
                for name, env in backends.items():
                    link = f"{url}?run={i}"  # a new link: a new job, not a duplicate
                    results[name].append(
                        run_mediaferry(link, tmp / f"mf-{name}", env, sha256.hexdigest())
                    )
    mb = size / 1e6
    c = statistics.median(curl)
    link = f"capped at {args.rate_mb} MiB/s" if args.rate_mb else "on loopback"
    print(f"\n{args.size_mb} MiB from {kind} {link}, median of {args.runs} run(s)")
    print(f"{'tool':<34} {'seconds':>8} {'MB/s':>8} {'vs curl':>8} {'RSS +MB':>8}")
    print(f"{'curl':<34} {c:>8.2f} {mb / c:>8.0f} {1.0:>8.2f} {'-':>8}")
    for name, runs in results.items():
        total = statistics.median(r["total"] for r in runs)
        dl = statistics.median(r["download"] for r in runs)
        rss = max(r["rss_growth_mb"] for r in runs)
        print(
            f"{'mediaferry add --wait (' + name + ')':<34} {total:>8.2f} {mb / total:>8.0f} "
            f"{c / total:>8.2f} {rss:>8.1f}"
        )
        used = sorted({r["downloader"] for r in runs})
        print(f"{'  downloaded by':<34} {', '.join(used):>8}")
        print(
            f"{'  DOWNLOAD stage only (' + name + ')':<34} {dl:>8.2f} {mb / dl:>8.0f} "
            f"{c / dl:>8.2f} {'':>8}"
        )
        before = statistics.median(r["before"] for r in runs)
        after = statistics.median(r["after"] for r in runs)
        print(f"{'  before DOWNLOAD / after it':<34} {before:>8.2f} {after:>8.2f}")
    print(f"curl runs: {', '.join(f'{t:.2f}' for t in curl)} s")
    print(
        "first run on a fresh data folder (1 MiB job: database created, URL table cached): "
        + ", ".join(f"{name} {t:.2f} s" for name, t in first.items())
    )
    print("(total includes start-up, metadata probe, validation with sha256 of the result)")


if __name__ == "__main__":
    main()
