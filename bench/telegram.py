"""Telegram over MTProto: Mediaferry's transfers vs stock Telethon, same run, same server.

Starts the fake MTProto server (tests/support/fake_mtproto) as its own process on
127.0.0.1 with a per-connection throughput cap (8 MB/s by default, like one Telegram
connection), then measures:

- download of a 64 MB document: Mediaferry (parallel 1 MiB parts over
  TELEGRAM_CONNECTIONS connections) vs stock ``client.download_media``;
- upload of a 120 MB file: Mediaferry (512 KiB parts, several connections) vs stock
  ``client.send_file``;
- listing 1,000 small audio messages: messages/s (raw paged requests, no sleep) vs
  stock ``iter_messages``, and jobs created/s by ``tg archive``'s core;
- RSS growth of this process during a 1 GB Mediaferry download (no cap).

Each comparison runs the two sides back to back per round (``--runs``); the median is
reported with every round. Nothing leaves 127.0.0.1.

Usage:  .venv/bin/python bench/telegram.py [--cap-mb 8] [--runs 2] [--big-mb 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MB = 1024 * 1024
API_ID, API_HASH = 611335, "d524b414d21f4d37f08684c1df41ac9c"


class Server:
    """The fake MTProto server as a child process, driven over its stdin."""

    def __init__(self, spec: dict[str, Any], storage: Path, cap: int | None) -> None:
        world = storage / "world.json"
        world.write_text(json.dumps(spec))
        args = [sys.executable, "-m", "tests.support.fake_mtproto", "--world", str(world),
                "--storage", str(storage / "store")]  # fmt: skip
        if cap:
            args += ["--cap", str(cap)]
        self.proc = subprocess.Popen(
            args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().strip()
        self.key_file = self.proc.stdout.readline().strip()
        self.info: dict[str, Any] = json.loads(self.proc.stdout.readline())

    def command(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def settings_for(server: Server, data_dir: Path, session: str) -> Any:
    from mediaferry.config import load_settings

    return load_settings(
        data_dir=data_dir,
        telegram_api_id=API_ID,
        telegram_api_hash=API_HASH,
        telegram_mtproto_server=server.address,
        telegram_mtproto_public_key=Path(server.key_file),
        telegram_user_session=session,
        min_free_gb=0,
        log_level="WARNING",
    )


async def stock_client(server: Server, session: str) -> Any:
    from telethon import TelegramClient
    from telethon.crypto import rsa
    from telethon.sessions import StringSession

    rsa.add_key(Path(server.key_file).read_text(), old=False)
    client = TelegramClient(StringSession(session), API_ID, API_HASH)
    host, _, port = server.address.rpartition(":")
    client.session.set_dc(2, host, int(port))
    await client.connect()
    return client


def median_ratio(pairs: list[tuple[float, float]]) -> tuple[float, float, float]:
    stock = statistics.median(p[0] for p in pairs)
    ours = statistics.median(p[1] for p in pairs)
    return stock, ours, stock / ours


async def bench_download(server: Server, session: str, tmp: Path, runs: int, conns: int) -> None:
    from mediaferry.telegram.chats import fetch_message, media_of, resolve_chat
    from mediaferry.telegram.clients import TelegramClients
    from mediaferry.telegram.download import fetch_document
    from mediaferry.telegram.links import ChatRef

    settings = settings_for(server, tmp / "mf", session)
    clients = TelegramClients(settings)
    stock = await stock_client(server, session)
    try:
        user = await clients.user()
        chat = await resolve_chat(user, ChatRef(username="bench"))
        message = await fetch_message(user, chat, 1)
        media = media_of(message, chat.id)
        assert media is not None
        size = media.size
        stock_msg = (await stock.get_messages("bench", ids=[1]))[0]
        pairs = []
        for n in range(runs):
            a = tmp / f"stock-{n}.bin"
            started = time.perf_counter()
            await stock.download_media(stock_msg, file=str(a))
            t_stock = time.perf_counter() - started
            b = tmp / f"mf-{n}.bin"
            started = time.perf_counter()
            await fetch_document(user, media, b, connections=conns)
            t_ours = time.perf_counter() - started
            assert a.stat().st_size == b.stat().st_size == size
            a.unlink()
            b.unlink()
            pairs.append((t_stock, t_ours))
            print(f"  round {n + 1}: stock {size / MB / t_stock:6.1f} MB/s  "
                  f"mediaferry {size / MB / t_ours:6.1f} MB/s")  # fmt: skip
        s, o, r = median_ratio(pairs)
        mb = size / MB
        print(f"download {mb:.0f} MB: stock Telethon download_media {mb / s:.1f} MB/s,"
              f" Mediaferry ({conns} connections) {mb / o:.1f} MB/s -> {r:.2f}x")  # fmt: skip
    finally:
        await stock.disconnect()
        await clients.close()


async def bench_upload(
    server: Server, session: str, tmp: Path, runs: int, conns: int, size_mb: int
) -> None:
    from mediaferry.telegram.chats import resolve_chat
    from mediaferry.telegram.clients import TelegramClients
    from mediaferry.telegram.links import ChatRef
    from mediaferry.telegram.upload import new_random_id, send_file

    path = tmp / "upload.bin"
    with path.open("wb") as fh:
        block = os.urandom(4 * MB)
        for _ in range(size_mb // 4):
            fh.write(block)
    size = path.stat().st_size
    settings = settings_for(server, tmp / "mf-up", session)
    clients = TelegramClients(settings)
    stock = await stock_client(server, session)
    try:
        user = await clients.user()
        chat = await resolve_chat(user, ChatRef(username="bench"))
        pairs = []
        for n in range(runs):
            started = time.perf_counter()
            await stock.send_file("bench", str(path), force_document=True)
            t_stock = time.perf_counter() - started
            started = time.perf_counter()
            sent = await send_file(user, chat.peer, path, kind="document",
                                   random_id=new_random_id(), connections=conns)  # fmt: skip
            t_ours = time.perf_counter() - started
            assert sent is not None
            pairs.append((t_stock, t_ours))
            print(f"  round {n + 1}: stock {size / MB / t_stock:6.1f} MB/s  "
                  f"mediaferry {size / MB / t_ours:6.1f} MB/s")  # fmt: skip
        s, o, r = median_ratio(pairs)
        print(f"upload {size / MB:.0f} MB: stock Telethon send_file {size / MB / s:.1f} MB/s,"
              f" Mediaferry ({conns} connections, 512 KiB parts) {size / MB / o:.1f} MB/s"
              f" -> {r:.2f}x")  # fmt: skip
    finally:
        await stock.disconnect()
        await clients.close()
        path.unlink(missing_ok=True)


async def bench_listing(server: Server, session: str, tmp: Path, runs: int) -> None:
    from mediaferry.app import Services
    from mediaferry.jobs.tg_archive import ArchiveOptions, archive_chat
    from mediaferry.telegram.chats import iter_media, resolve_chat
    from mediaferry.telegram.links import ChatRef

    settings = settings_for(server, tmp / "mf-list", session)
    services = await Services.create(settings, start_bus=False)
    stock = await stock_client(server, session)
    try:
        user = await services.telegram.user()
        chat = await resolve_chat(user, ChatRef(username="manyaudio"))
        for n in range(runs):
            started = time.perf_counter()
            count = 0
            async for message in stock.iter_messages("manyaudio"):
                count += message.media is not None
            t_stock = time.perf_counter() - started
            started = time.perf_counter()
            ours = 0
            async for page in iter_media(user, chat, kind="audio"):
                ours += len(page)
            t_ours = time.perf_counter() - started
            print(
                f"  round {n + 1}: stock iter_messages {count / t_stock:8.0f} msg/s, "
                f"Mediaferry listing {ours / t_ours:8.0f} msg/s ({ours} audio messages)"
            )
        started = time.perf_counter()
        options = ArchiveOptions(kind="audio")
        result = await archive_chat(services.jobs, services.telegram, "@manyaudio", options)
        t_jobs = time.perf_counter() - started
        print(
            f"tg archive core: {result.listed} listed, {result.created} jobs created in "
            f"{t_jobs:.2f} s ({result.created / t_jobs:.0f} jobs/s incl. listing)"
        )
    finally:
        await stock.disconnect()
        await services.close()


async def bench_rss(server: Server, session: str, tmp: Path, conns: int) -> None:
    from mediaferry.telegram.chats import fetch_message, media_of, resolve_chat
    from mediaferry.telegram.clients import TelegramClients
    from mediaferry.telegram.download import fetch_document
    from mediaferry.telegram.links import ChatRef

    server.command(cmd="cap", value=None)
    settings = settings_for(server, tmp / "mf-big", session)
    clients = TelegramClients(settings)
    me = psutil.Process()
    try:
        user = await clients.user()
        chat = await resolve_chat(user, ChatRef(username="bigfiles"))
        media = media_of(await fetch_message(user, chat, 1), chat.id)
        assert media is not None
        before = me.memory_info().rss
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                peak[0] = max(peak[0], me.memory_info().rss)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        dest = tmp / "big.bin"
        started = time.perf_counter()
        await fetch_document(user, media, dest, connections=conns)
        took = time.perf_counter() - started
        done.set()
        sampler.join()
        assert dest.stat().st_size == media.size
        dest.unlink()
        mb = media.size / MB
        print(f"1 GB-class download ({mb:.0f} MB, no cap): {mb / took:.0f} MB/s,"
              f" RSS growth {(peak[0] - before) / MB:.1f} MB (limit 64 MB)")  # fmt: skip
    finally:
        await clients.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap-mb", type=float, default=8.0, help="per-connection cap, MB/s")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--download-mb", type=int, default=64)
    parser.add_argument("--upload-mb", type=int, default=120)
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument("--only", choices=("download", "upload", "listing", "rss"))
    args = parser.parse_args()
    cap = int(args.cap_mb * MB) if args.cap_mb else None
    tmp = Path(tempfile.mkdtemp(prefix="mf-bench-tg-"))
    spec = {
        "users": [{"first_name": "Reader", "username": "reader"}],
        "channels": [
            {"title": "Bench", "username": "bench", "members": ["reader"],
             "messages": [{"document": {"size": args.download_mb * MB, "file_name": "d.bin"}}]},
            {"title": "Many", "username": "manyaudio", "members": ["reader"],
             "messages": [{"text": "t", "repeat": 1000,
                           "audio": {"size": 4096, "title": "T", "performer": "P"}}]},
            {"title": "Big", "username": "bigfiles", "members": ["reader"],
             "messages": [{"document": {"size": args.big_mb * MB, "file_name": "big.bin"}}]},
        ],
    }  # fmt: skip
    print(f"fake MTProto server, cap {args.cap_mb} MB/s per connection; runs={args.runs}")
    server = Server(spec, tmp, cap)
    session = server.info["sessions"]["reader"]
    try:
        if args.only in (None, "download"):
            await bench_download(server, session, tmp, args.runs, args.connections)
        if args.only in (None, "upload"):
            await bench_upload(server, session, tmp, args.runs, args.connections, args.upload_mb)
        if args.only in (None, "listing"):
            await bench_listing(server, session, tmp, args.runs)
        if args.only in (None, "rss"):
            await bench_rss(server, session, tmp, args.connections)
    finally:
        server.stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
