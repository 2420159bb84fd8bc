"""CLI start-up: wall time of light ``mediaferry`` commands vs ``python3 -c pass``.

Every command runs as a real process (the installed ``mediaferry`` script of this
venv) against a SQLite database in a temp folder, interleaved round by round with
``python -c pass`` so a busy machine slows all of them alike. Reports the median and
best per command, the ratio to the bare interpreter, and the targets of issue 12
(``--help`` and ``jobs --json`` ≤ 150 ms, ``add URL --json`` ≤ 300 ms). Also prints
which heavy packages each command imported (``-X importtime``), to see where the
time goes.

Usage:  .venv/bin/python bench/cli.py [--runs 15] [--jobs 200]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MF = str(Path(sys.executable).with_name("mediaferry"))
HEAVY = [
    "typer", "click", "rich", "pydantic", "sqlalchemy", "alembic", "httpx", "yt_dlp",
    "fastapi", "telegram", "playwright", "mutagen", "asyncio",
]  # fmt: skip
TARGETS_MS = {"--help": 150.0, "jobs --json": 150.0, "add URL --json": 300.0}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; CPU time is what a loaded machine does
    not inflate, wall time is what a user waits."""
    cpu, start = _cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode()[-500:]}")
    return took, _cpu() - cpu


def heavy_imports(args: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mediaferry", *args],
        env=env, cwd=cwd, capture_output=True, text=True, check=False,
    )  # fmt: skip
    tops = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return [h for h in HEAVY if h in tops]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--jobs", type=int, default=200, help="jobs in the database")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mf-bench-cli-"))
    # an installed copy runs from compiled bytecode: let a source checkout cache it too
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("MEDIAFERRY_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(MEDIAFERRY_DATA_DIR=str(work / "data"), MEDIAFERRY_ALLOW_PRIVATE_NETWORKS="true")
    # a database at head with some jobs (the first command makes and migrates it)
    urls = [f"http://127.0.0.1:9/seed/{i}.mp4" for i in range(args.jobs)]
    subprocess.run([MF, "add", *urls, "--json"], env=env, cwd=work, capture_output=True,
                   check=True)  # fmt: skip
    counter = iter(range(10**9))
    commands: dict[str, list[str] | None] = {
        "python3 -c pass": [sys.executable, "-c", "pass"],
        "--help": [MF, "--help"],
        "jobs --json": [MF, "jobs", "--json"],
        "job ID --json": [MF, "job", "1", "--json"],
        "add URL --json": None,  # a new URL each time (a duplicate is cheaper)
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            if cmd is None:
                cmd = [MF, "add", f"http://127.0.0.1:9/bench/{next(counter)}.mp4", "--json"]
            wall, cpu = timed(cmd, env, work)
            times[name].append(wall)
            cpus[name].append(cpu)
    base = statistics.median(times["python3 -c pass"])
    base_cpu = statistics.median(cpus["python3 -c pass"])
    print(f"CLI start-up, {args.runs} rounds, {args.jobs} jobs in SQLite, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(
        f"{'command':<18}{'median ms':>10}{'best ms':>9}{'x python':>10}{'target':>9}"
        f"{'CPU ms':>8}{'x python':>10}  heavy imports"
    )
    samples = {
        "--help": ["--help"],
        "jobs --json": ["jobs", "--json"],
        "job ID --json": ["job", "1", "--json"],
        "add URL --json": ["add", "http://127.0.0.1:9/bench/imports.mp4", "--json"],
    }
    for name, values in times.items():
        med, best = statistics.median(values) * 1000, min(values) * 1000
        target = TARGETS_MS.get(name)
        mark = "" if target is None else (f"{'ok' if med <= target else 'OVER'} {target:.0f}")
        heavy = ", ".join(heavy_imports(samples[name], env, work)) if name in samples else ""
        cpu = statistics.median(cpus[name])
        print(
            f"{name:<18}{med:>10.1f}{best:>9.1f}{med / 1000 / base:>10.2f}{mark:>9}"
            f"{cpu * 1000:>8.1f}{cpu / base_cpu:>10.2f}  {heavy}"
        )


if __name__ == "__main__":
    main()
