"""What the connect-time URL guard costs: aria2c and curl through the guarding proxy
vs direct, in the same run.

With ``ALLOW_PRIVATE_NETWORKS=false`` (production) every aria2c connection goes through
:mod:`mediaferry.net.guard_proxy`. The guard refuses loopback, so the benchmark runs in
its own network namespace (``unshare --net``, root) where a "public" address
(93.184.216.34) exists only on lo; nginx serves a sparse file there. Rounds run each
client back to back so a busy machine slows all alike:

- curl direct, and curl through the guard proxy (the proxy's own overhead);
- Mediaferry's aria2c backend with private networks allowed (direct) and not allowed
  (through the proxy, the production path).

Usage:  .venv/bin/python bench/guard_proxy.py [--size-mb 512] [--runs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.netns import (
    PUBLIC_TEST_ADDRESS,
    add_public_test_address,
    bring_up_loopback,
)

from mediaferry.config import Settings
from mediaferry.net.guard_proxy import GuardProxy
from mediaferry.plan import MediaPlan
from mediaferry.transfer.aria2 import Aria2Transfer

ENV = "MEDIAFERRY_BENCH_NETNS"


def nginx_on(root: Path, port: int) -> subprocess.Popen[bytes]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    prefix = root / "nginx"
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "nginx.conf").write_text(
        ("user root; " if os.geteuid() == 0 else "")
        + f"""worker_processes 1; pid {prefix}/nginx.pid; error_log {prefix}/logs/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path {prefix}/tmp; proxy_temp_path {prefix}/tmp;
  fastcgi_temp_path {prefix}/tmp; uwsgi_temp_path {prefix}/tmp; scgi_temp_path {prefix}/tmp;
  server {{ listen {PUBLIC_TEST_ADDRESS}:{port}; root {root}; }} }}
"""
    )
    proc = subprocess.Popen(
        [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"]
    )
    time.sleep(0.5)
    return proc


async def curl(url: str, out: Path, proxy: str | None = None) -> float:
    args = ["curl", "-sS", "-o", str(out), url]
    if proxy:
        args[1:1] = ["-x", proxy]
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(*args)
    assert await proc.wait() == 0
    elapsed = time.perf_counter() - t0
    out.unlink()
    return elapsed


async def aria2(transfer: Aria2Transfer, url: str, dest: Path) -> float:
    t0 = time.perf_counter()
    result = await transfer.fetch(MediaPlan(url=url, protocol="aria2"), dest, lambda p: None)
    elapsed = time.perf_counter() - t0
    result.path.unlink()
    return elapsed


async def main(size_mb: int, runs: int) -> None:
    bring_up_loopback()
    add_public_test_address()
    # on tmpfs where there is one: the disk must not be what is measured
    where = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        root = Path(tmp)
        (root / "big.bin").write_bytes(b"")
        os.truncate(root / "big.bin", size_mb << 20)
        port = 8089
        server = nginx_on(root, port)
        url = f"http://{PUBLIC_TEST_ADDRESS}:{port}/big.bin"
        data = root / "data"
        direct = Aria2Transfer(Settings(data_dir=data / "d", allow_private_networks=True))
        guarded = Aria2Transfer(Settings(data_dir=data / "g", allow_private_networks=False))
        proxy = GuardProxy()
        await proxy.start()
        session = proxy.session()
        proxy_url = proxy.url.replace("http://", f"http://{session.user}:{session.password}@")
        times: dict[str, list[float]] = {
            k: [] for k in ("curl", "curl+guard", "aria2", "aria2+guard")
        }
        try:
            for _ in range(runs):
                times["curl"].append(await curl(url, root / "c.out"))
                times["curl+guard"].append(await curl(url, root / "p.out", proxy_url))
                times["aria2"].append(await aria2(direct, url, root / "a"))
                times["aria2+guard"].append(await aria2(guarded, url, root / "g"))
        finally:
            await direct.close()
            await guarded.close()
            await proxy.close()
            server.terminate()
            server.wait(10)
    rate = {k: size_mb / statistics.median(v) for k, v in times.items()}
    print(f"{size_mb} MiB from nginx on {PUBLIC_TEST_ADDRESS} (netns), median of {runs}:")
    for key, mbps in rate.items():
        print(f"  {key:12s} {mbps:8.0f} MiB/s")
    print(f"  curl through the guard / curl direct:   {rate['curl+guard'] / rate['curl']:.2f}")
    print(f"  aria2 backend guarded / aria2 direct:   {rate['aria2+guard'] / rate['aria2']:.2f}")
    print(f"  aria2 backend guarded / curl direct:    {rate['aria2+guard'] / rate['curl']:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--runs", type=int, default=2)
    ns = parser.parse_args()
    if os.environ.get(ENV) != "1":
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            raise SystemExit("needs root and unshare(1): it runs in its own network namespace")
        env = {**os.environ, ENV: "1"}
        cmd = ["unshare", "--net", sys.executable, __file__, *sys.argv[1:]]
        raise SystemExit(subprocess.run(cmd, env=env, check=False).returncode)
    asyncio.run(main(ns.size_mb, ns.runs))
