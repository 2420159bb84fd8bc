"""How fast the fake MTProto server is, so bench/telegram.py measures the client, not it.

Starts ``python -m tests.support.fake_mtproto`` as its own process (as bench/telegram.py
does) and drives it with stock Telethon in the same run:

- one connection, uncapped: MiB/s of ``download_media`` (what the fake can feed one client);
- one connection at ``--cap``: achieved rate / cap (how exactly the cap is kept);
- ``--connections`` clients at once at ``--cap``: aggregate / (connections x cap), i.e.
  whether the fake keeps up with a parallel downloader (a ratio near 1 means the ratios in
  bench/telegram.py are limited by the client, not by the fake);
- listing a 1,000-message channel with ``iter_messages(wait_time=0)``: messages/s.

Usage:  .venv/bin/python bench/fake_mtproto.py [--size-mb 32] [--cap-mb 8] [--connections 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def start_server(
    spec: dict[str, Any], storage: Path
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    (storage / "world.json").write_text(json.dumps(spec))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.fake_mtproto",
            "--world",
            str(storage / "world.json"),
            "--storage",
            str(storage),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # host:port
    proc.stdout.readline()  # key path
    return proc, json.loads(proc.stdout.readline())


def command(proc: subprocess.Popen[str], **cmd: Any) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(cmd) + "\n")
    proc.stdin.flush()
    answer: dict[str, Any] = json.loads(proc.stdout.readline())
    return answer


async def download_rate(info: dict[str, Any], count: int) -> float:
    """MiB/s of ``count`` stock clients each downloading one document at the same time."""
    from telethon import TelegramClient
    from telethon.sessions import StringSession

    clients = [
        TelegramClient(StringSession(info["sessions"]["reader"]), 1, "x", receive_updates=False)
        for _ in range(count)
    ]
    await asyncio.gather(*(c.connect() for c in clients))
    try:
        msgs = await clients[0].get_messages("files", limit=count)
        sizes = sum(m.file.size for m in msgs)
        start = time.perf_counter()
        await asyncio.gather(
            *(c.download_media(m, file=bytes) for c, m in zip(clients, msgs, strict=True))
        )
        return sizes / MiB / (time.perf_counter() - start)
    finally:
        await asyncio.gather(*(c.disconnect() for c in clients))


async def listing_rate(info: dict[str, Any]) -> float:
    from telethon import TelegramClient
    from telethon.sessions import StringSession

    session = StringSession(info["sessions"]["reader"])
    async with TelegramClient(session, 1, "x", receive_updates=False) as client:
        await client.get_entity("audio")
        start = time.perf_counter()
        n = len([m async for m in client.iter_messages("audio", wait_time=0)])
        return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=32)
    parser.add_argument("--cap-mb", type=float, default=8.0, help="MB/s (10^6) per connection")
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    from telethon.crypto import rsa

    spec = {
        "users": [{"username": "reader"}],
        "channels": [
            {
                "title": "Files",
                "username": "files",
                "members": ["reader"],
                "messages": [
                    {"document": {"size": args.size_mb * MiB}, "repeat": args.connections}
                ],
            },
            {
                "title": "Audio",
                "username": "audio",
                "messages": [{"text": "t", "repeat": 1000, "audio": {"size": 64}}],
            },
        ],
    }
    cap = int(args.cap_mb * 1_000_000)
    with tempfile.TemporaryDirectory(prefix="bench-fake-mtproto-") as tmp:
        proc, info = start_server(spec, Path(tmp))
        try:
            rsa.add_key(Path(info["key_file"]).read_text(), old=False)
            uncapped = asyncio.run(download_rate(info, 1))
            command(proc, cmd="cap", value=cap)
            one = asyncio.run(download_rate(info, 1))
            many = asyncio.run(download_rate(info, args.connections))
            command(proc, cmd="cap", value=None)
            listing = asyncio.run(listing_rate(info))
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(30)
    cap_mib = cap / MiB
    print(f"fake MTProto server, stock Telethon, {args.size_mb} MiB documents")
    n = args.connections
    rows = [
        ("1 connection, uncapped", f"{uncapped:8.1f} MiB/s"),
        (
            f"1 connection, cap {args.cap_mb:g} MB/s",
            f"{one:8.1f} MiB/s  = {one / cap_mib:.2f} x cap",
        ),
        (
            f"{n} connections, cap {args.cap_mb:g} MB/s",
            f"{many:8.1f} MiB/s  = {many / (n * cap_mib):.2f} x ({n} x cap)"
            f"  = {many / one:.2f} x one connection",
        ),
        ("listing 1,000 messages", f"{listing:8.0f} messages/s"),
    ]
    for label, value in rows:
        print(f"  {label:<30}{value}")


if __name__ == "__main__":
    main()
