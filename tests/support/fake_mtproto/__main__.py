"""Run the fake MTProto server as a process (for bench/ and manual tries).

    python -m tests.support.fake_mtproto [--world spec.json] [--cap BYTES_PER_S]

Prints three lines: ``HOST:PORT``, the public key path, then one JSON object with what a
client needs (dc_id, bot tokens, user session strings, channel ids, document ids). Then it
reads JSON commands from stdin, one per line, and answers each with one JSON line:
``{"cmd": "stats"}``, ``{"cmd": "reset"}``, ``{"cmd": "cap", "value": 8000000}`` (null:
off), ``{"cmd": "drop_after_bytes", "value": N, "file_bytes": false, "incoming": false}``,
``{"cmd": "expire", "document": ID}``, ``{"cmd": "flood", "method": "upload.getFile",
"seconds": 3}``. EOF on stdin stops it.

World spec (all keys optional)::

    {"api_id": 1, "api_hash": "…",
     "bots": [{"username": "ferrybot", "token": "123:abc"}],
     "users": [{"first_name": "Ann", "username": "ann", "phone": "+1555", "password": null}],
     "channels": [{"title": "Lectures", "username": "lectures", "members": ["ann"],
                   "megagroup": false,
                   "messages": [{"text": "t", "repeat": 1000,
                                 "audio": {"size": 4096, "title": "T", "performer": "P"}},
                                {"video": {"size": 67108864, "w": 1280, "h": 720}},
                                {"document": {"path": "/some/file", "file_name": "f.bin"}},
                                {"voice": {"size": 900}}, {"photo": {"size": 2000}}]}]}

Media of more than 8 MiB is written as random bytes to a file under ``--storage`` (a temp
dir by default) instead of being kept in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from .server import FakeMTProtoServer
from .world import FakeDocument, FakeUser, Media, World

IN_MEMORY_MAX = 8 * 1024 * 1024


def _random_file(storage: Path, size: int) -> Path:
    storage.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=storage, prefix="doc-")
    with os.fdopen(fd, "wb") as fh:
        left = size
        block = os.urandom(min(size, 4 * 1024 * 1024)) if size else b""
        while left > 0:
            chunk = block[:left]
            fh.write(chunk)
            left -= len(chunk)
    return Path(name)


def _payload(spec: dict[str, Any], storage: Path) -> dict[str, Any]:
    if "path" in spec:
        return {"path": Path(spec["path"])}
    size = int(spec.get("size", 1024))
    if size > IN_MEMORY_MAX:
        return {"path": _random_file(storage, size)}
    return {"data": os.urandom(size)}


def _media(world: World, item: dict[str, Any], storage: Path) -> Media | None:
    if "audio" in item:
        spec = item["audio"]
        return world.add_audio(
            **_payload(spec, storage),
            title=spec.get("title"),
            performer=spec.get("performer"),
            duration=int(spec.get("duration", 60)),
            file_name=spec.get("file_name", "audio.mp3"),
        )
    if "voice" in item:
        spec = item["voice"]
        return world.add_voice(**_payload(spec, storage), duration=int(spec.get("duration", 5)))
    if "video" in item:
        spec = item["video"]
        return world.add_video(
            **_payload(spec, storage),
            duration=float(spec.get("duration", 10)),
            w=int(spec.get("w", 640)),
            h=int(spec.get("h", 360)),
            supports_streaming=bool(spec.get("supports_streaming", True)),
            file_name=spec.get("file_name", "video.mp4"),
        )
    if "document" in item:
        spec = item["document"]
        return world.add_document(
            **_payload(spec, storage),
            mime_type=spec.get("mime_type", "application/octet-stream"),
            file_name=spec.get("file_name", "file.bin"),
        )
    if "photo" in item:
        return world.add_photo(os.urandom(int(item["photo"].get("size", 2000))))
    return None


def build_world(spec: dict[str, Any], server: FakeMTProtoServer, storage: Path) -> dict[str, Any]:
    """Populate ``server.world`` from a spec; returns what clients need to know."""
    world = server.world
    world.api_id = spec.get("api_id")
    world.api_hash = spec.get("api_hash")
    people: dict[str, FakeUser] = {}
    info: dict[str, Any] = {"bots": {}, "sessions": {}, "channels": {}, "documents": {}}
    for b in spec.get("bots", []):
        bot = world.add_bot(b["username"], token=b.get("token"))
        people[b["username"]] = bot
        info["bots"][b["username"]] = bot.bot_token
    for u in spec.get("users", []):
        user = world.add_user(
            u.get("first_name", u.get("username", "User")),
            username=u.get("username"),
            phone=u.get("phone"),
            password=u.get("password"),
            login_code=u.get("login_code", "12345"),
        )
        key = u.get("username") or u.get("phone") or str(user.id)
        people[key] = user
        info["sessions"][key] = server.session_string(user)
    for c in spec.get("channels", []):
        channel = world.add_channel(
            c["title"],
            username=c.get("username"),
            megagroup=bool(c.get("megagroup", False)),
            members=[people[m] for m in c.get("members", [])],
        )
        info["channels"][c.get("username") or c["title"]] = {
            "id": channel.id,
            # each account has its own access hash for a channel
            "access_hashes": {name: channel.hash_for(p.id) for name, p in people.items()},
        }
        for item in c.get("messages", []):
            for _ in range(int(item.get("repeat", 1))):
                media = _media(world, item, storage)
                msg = world.post(channel, item.get("text", ""), media=media)
                if media is not None:
                    info["documents"][str(media.id)] = {
                        "channel": channel.id,
                        "message_id": msg.id,
                        "size": media.size if isinstance(media, FakeDocument) else len(media.data),
                    }
    return info


def _stats(server: FakeMTProtoServer) -> dict[str, Any]:
    stats = server.stats
    return {
        "requests": dict(stats.requests),
        "file_bytes_served": stats.file_bytes_served,
        "connections_serving_files": stats.connections_serving_files(),
        "max_in_flight_get_file": stats.max_in_flight_get_file,
        "connections": [
            {
                "number": c.number,
                "transport": c.transport,
                "bytes_out": c.bytes_out,
                "bytes_in": c.bytes_in,
                "file_bytes_served": c.file_bytes_served,
                "uploaded_bytes": c.uploaded_bytes,
                "dropped": c.dropped,
            }
            for c in stats.connections
        ],
    }


def _command(server: FakeMTProtoServer, line: str) -> dict[str, Any]:
    try:
        cmd = json.loads(line)
        name = cmd["cmd"]
        faults = server.faults
        if name == "stats":
            return _stats(server)
        if name == "reset":
            server.stats.reset()
        elif name == "cap":
            faults.throughput_cap = cmd.get("value")
        elif name == "drop_after_bytes":
            faults.drop_after_bytes(
                int(cmd["value"]),
                file_bytes_only=bool(cmd.get("file_bytes")),
                incoming=bool(cmd.get("incoming")),
            )
        elif name == "expire":
            faults.expire_file_reference(int(cmd["document"]))
        elif name == "flood":
            faults.flood_wait(cmd["method"], int(cmd["seconds"]))
        else:
            return {"error": f"unknown command {name!r}"}
        return {"ok": True}
    except (ValueError, KeyError, TypeError) as exc:
        return {"error": f"bad command: {exc}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.fake_mtproto")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--world", type=Path, help="JSON world spec")
    parser.add_argument("--storage", type=Path, help="where big documents and uploads go")
    parser.add_argument("--key-file", type=Path, help="where to write the public key PEM")
    parser.add_argument("--cap", type=int, help="throughput cap per connection, bytes/s")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("the fake server only listens on loopback")
    own_storage = args.storage is None
    storage = args.storage or Path(tempfile.mkdtemp(prefix="fake-mtproto-"))
    storage.mkdir(parents=True, exist_ok=True)
    spec = json.loads(args.world.read_text()) if args.world else {}
    server = FakeMTProtoServer(
        World(storage_dir=storage / "uploads"), host=args.host, port=args.port
    )
    server.faults.throughput_cap = args.cap
    server.start()
    try:
        info = build_world(spec, server, storage)
        key_file = server.write_public_key(args.key_file or storage / "public.pem")
        info.update(
            address=server.address,
            host=server.host,
            port=server.port,
            dc_id=server.dc_id,
            key_file=str(key_file),
        )
        print(server.address)
        print(key_file)
        print(json.dumps(info), flush=True)
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(_command(server, line)), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if own_storage:
            shutil.rmtree(storage, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
