"""Web API throughput on loopback: GET /api/jobs, POST /api/jobs (the dedup path) and
SSE fan-out (one event to 100 clients).

The server (the real app under uvicorn, no workers) runs in a child process so the
load generator (async httpx, ``--concurrency`` connections) does not share its CPU.
Every load run is bounded by ``--requests`` and ``--seconds``. SQLite always;
PostgreSQL too when reachable at 127.0.0.1:5432.

Usage:  .venv/bin/python bench/api.py [--requests 3000 --seconds 10 --clients 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mediaferry.app import Services
from mediaferry.config import load_settings
from mediaferry.web.server import WebServer, create_app

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SEED_JOBS = 200
DEDUP_URL = "http://127.0.0.1:9/bench/dedup.mp4"


# -- the server, in a child process ------------------------------------------------
def _serve(db_url: str, data_dir: str, conn: Any) -> None:
    logging.disable(logging.WARNING)

    async def main() -> None:
        settings = load_settings(
            data_dir=Path(data_dir),
            database_url=db_url,
            allow_private_networks=True,
            min_free_gb=0,
            max_queue_length=100_000,
            log_level="WARNING",
        )
        services = await Services.create(settings)
        for i in range(SEED_JOBS):
            await services.jobs.create(f"http://127.0.0.1:9/bench/{i}.mp4", origin="api")
        server = await WebServer(create_app(services), "127.0.0.1", 0).start()
        conn.send(server.port)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await server.stop()
        await services.close()

    asyncio.run(main())


# -- load -------------------------------------------------------------------------------
async def load(
    client: httpx.AsyncClient,
    request: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
    *,
    total: int,
    seconds: float,
    concurrency: int,
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + seconds
    remaining = total

    async def worker() -> None:
        nonlocal remaining, errors
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            t0 = time.perf_counter()
            r = await request(client)
            latencies.append(time.perf_counter() - t0)
            errors += r.status_code >= 400

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p95_ms": 1000 * latencies[int(len(latencies) * 0.95)],
        "errors": errors,
    }


async def sse_fanout(base: str, clients: int, rounds: int) -> dict[str, float]:
    """Open ``clients`` streams; per round, time from POST to the event at every client."""
    limits = httpx.Limits(max_connections=clients + 10)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        received: list[dict[int, float]] = [{} for _ in range(clients)]
        connected = [asyncio.Event() for _ in range(clients)]

        async def reader(i: int) -> None:
            async with client.stream("GET", "/api/events") as r:
                async for line in r.aiter_lines():
                    if line.startswith(": connected"):
                        connected[i].set()
                    elif line.startswith("data: ") and '"job_id"' in line:
                        job_id = int(line.split('"job_id": ', 1)[1].split(",", 1)[0])
                        received[i].setdefault(job_id, time.perf_counter())

        tasks = [asyncio.create_task(reader(i)) for i in range(clients)]
        t0 = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in connected)), 60)
        connect_s = time.perf_counter() - t0
        all_ms: list[float] = []
        last_ms: list[float] = []
        try:
            for _ in range(rounds):
                sent = time.perf_counter()
                url = f"http://127.0.0.1:9/bench/sse-{uuid.uuid4().hex}.mp4"
                job_id = (await client.post("/api/jobs", json={"url": url})).json()["id"]
                deadline = time.monotonic() + 30
                while not all(job_id in got for got in received):
                    if time.monotonic() > deadline:
                        raise TimeoutError("an SSE client never got the event")
                    await asyncio.sleep(0.002)
                times = [1000 * (got[job_id] - sent) for got in received]
                all_ms += times
                last_ms.append(max(times))
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                    await task
        all_ms.sort()
        return {
            "connect_s": connect_s,
            "p50_ms": all_ms[len(all_ms) // 2],
            "all_clients_median_ms": statistics.median(last_ms),
            "all_clients_max_ms": max(last_ms),
        }


async def bench(base: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        first = await client.post("/api/jobs", json={"url": DEDUP_URL})
        assert first.status_code in (200, 201), first.text
        opts = {"total": args.requests, "seconds": args.seconds, "concurrency": args.concurrency}
        await load(client, lambda c: c.get("/api/jobs"), total=50, seconds=5, concurrency=4)
        results = {
            "GET /api/jobs (50/page)": await load(client, lambda c: c.get("/api/jobs"), **opts),
            "POST /api/jobs (dedup)": await load(
                client, lambda c: c.post("/api/jobs", json={"url": DEDUP_URL}), **opts
            ),
        }
    results[f"SSE fan-out ({args.clients} clients)"] = await sse_fanout(
        base, args.clients, args.rounds
    )
    return results


def run_on(db_url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="mf-bench-api-") as tmp:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        url = db_url.replace("{tmp}", tmp)
        proc = ctx.Process(target=_serve, args=(url, tmp, child), daemon=True)
        proc.start()
        try:
            if not parent.poll(120):
                raise RuntimeError("the server did not start")
            port = parent.recv()
            return asyncio.run(bench(f"http://127.0.0.1:{port}", args))
        finally:
            parent.send("stop")
            proc.join(30)
            if proc.is_alive():
                proc.kill()


def _pg_database() -> tuple[str, Callable[[], None]] | None:
    import asyncpg

    name = f"mf_bench_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncio.wait_for(asyncpg.connect(PG_ADMIN), 3)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except Exception:
        return None
    return (
        f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
        lambda: asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')),
    )


def print_table(rows: list[tuple[str, str, dict[str, float]]]) -> None:
    print(f"{'database':<10} {'test':<28} {'result':>14}  details")
    print("-" * 96)
    for db, name, r in rows:
        if "rps" in r:
            main = f"{r['rps']:,.0f} req/s"
            rest = (
                f"n={r['requests']:.0f}  p50 {r['p50_ms']:.1f} ms  p95 {r['p95_ms']:.1f} ms"
                f"  errors {r['errors']:.0f}"
            )
        else:
            main = f"{r['all_clients_median_ms']:.1f} ms"
            rest = (
                f"event → all clients (median of rounds), max {r['all_clients_max_ms']:.1f} ms,"
                f" per-client p50 {r['p50_ms']:.1f} ms; connect all {r['connect_s']:.2f} s"
            )
        print(f"{db:<10} {name:<28} {main:>14}  {rest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="per load test, at most")
    parser.add_argument("--seconds", type=float, default=10, help="per load test, at most")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--clients", type=int, default=100, help="SSE clients")
    parser.add_argument("--rounds", type=int, default=10, help="SSE events to time")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    rows: list[tuple[str, str, dict[str, float]]] = []
    for name, result in run_on("sqlite+aiosqlite:///{tmp}/bench.db", args).items():
        rows.append(("sqlite", name, result))
    pg = None if args.no_postgres else _pg_database()
    if pg is not None:
        url, drop = pg
        try:
            for name, result in run_on(url, args).items():
                rows.append(("postgres", name, result))
        finally:
            drop()
    print_table(rows)


if __name__ == "__main__":
    main()
