"""Tiny bencoder and .torrent maker for web-seeded (BEP 19) single- and multi-file torrents.

A torrent made by ``make_torrent(file, web_seed_url)`` carries no tracker; aria2c
downloads it from the ``url-list`` web seed alone, so no peers and no internet are needed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

__all__ = ["bdecode", "bencode", "info_hash", "magnet_for", "make_multi_torrent", "make_torrent"]

Bencodable = int | bytes | str | list["Bencodable"] | dict[str | bytes, "Bencodable"]

DEFAULT_PIECE_LENGTH = 256 * 1024


def bencode(value: Bencodable) -> bytes:
    """Bencode ``value`` (dict keys sorted as raw bytes, as the spec requires)."""
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        items = sorted(((k.encode() if isinstance(k, str) else k), v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(f"cannot bencode {type(value).__name__}")


def _decode(data: bytes, i: int) -> tuple[Bencodable, int]:
    c = data[i : i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1 : end]), end + 1
    if c == b"l":
        i += 1
        out: list[Bencodable] = []
        while data[i : i + 1] != b"e":
            item, i = _decode(data, i)
            out.append(item)
        return out, i + 1
    if c == b"d":
        i += 1
        d: dict[str | bytes, Bencodable] = {}
        while data[i : i + 1] != b"e":
            key, i = _decode(data, i)
            val, i = _decode(data, i)
            assert isinstance(key, bytes)
            d[key] = val
        return d, i + 1
    if c.isdigit():
        colon = data.index(b":", i)
        n = int(data[i:colon])
        return data[colon + 1 : colon + 1 + n], colon + 1 + n
    raise ValueError(f"invalid bencode at offset {i}")


def bdecode(data: bytes) -> Bencodable:
    """Decode bencoded ``data`` (strings come back as ``bytes``, dict keys too)."""
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError("trailing data after bencoded value")
    return value


def make_torrent(
    file: Path,
    web_seed_url: str | list[str],
    *,
    name: str | None = None,
    piece_length: int = DEFAULT_PIECE_LENGTH,
    announce: str | None = None,
) -> bytes:
    """A valid single-file .torrent for ``file`` whose ``url-list`` is ``web_seed_url``."""
    file = Path(file)
    pieces = bytearray()
    length = 0
    with file.open("rb") as f:
        while chunk := f.read(piece_length):
            pieces += hashlib.sha1(chunk).digest()
            length += len(chunk)
    info: dict[str | bytes, Bencodable] = {
        "length": length,
        "name": name or file.name,
        "piece length": piece_length,
        "pieces": bytes(pieces),
    }
    seeds = [web_seed_url] if isinstance(web_seed_url, str) else list(web_seed_url)
    meta: dict[str | bytes, Bencodable] = {
        "info": info,
        "url-list": list[Bencodable](seeds),
        "created by": "mediaferry tests",
        "creation date": 1_700_000_000,
    }
    if announce:
        meta["announce"] = announce
    return bencode(meta)


def make_multi_torrent(
    folder: Path,
    web_seed_url: str,
    *,
    piece_length: int = DEFAULT_PIECE_LENGTH,
) -> bytes:
    """A valid multi-file .torrent of every file under ``folder`` (sorted by path).

    Its name is the folder's name; BEP 19 web seeds fetch ``<web_seed_url><name>/<path>``,
    so serve ``folder``'s parent under ``web_seed_url`` (which must end with ``/``).
    """
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    pieces = bytearray()
    pending = b""
    entries: list[Bencodable] = []
    for path in files:
        data = path.read_bytes()
        rel = path.relative_to(folder).parts
        entries.append({"length": len(data), "path": list[Bencodable](rel)})
        pending += data
        while len(pending) >= piece_length:
            pieces += hashlib.sha1(pending[:piece_length]).digest()
            pending = pending[piece_length:]
    if pending:
        pieces += hashlib.sha1(pending).digest()
    info: dict[str | bytes, Bencodable] = {
        "files": entries,
        "name": folder.name,
        "piece length": piece_length,
        "pieces": bytes(pieces),
    }
    meta: dict[str | bytes, Bencodable] = {
        "info": info,
        "url-list": [web_seed_url],
        "created by": "mediaferry tests",
        "creation date": 1_700_000_000,
    }
    return bencode(meta)


def info_hash(torrent: bytes) -> str:
    """Hex SHA-1 info-hash of a .torrent."""
    meta = bdecode(torrent)
    assert isinstance(meta, dict)
    return hashlib.sha1(bencode(meta[b"info"])).hexdigest()


def magnet_for(torrent: bytes, *, with_web_seed: bool = False) -> str:
    """``magnet:?xt=urn:btih:…&dn=…`` for a .torrent (optionally with ``ws=`` web seeds)."""
    meta = bdecode(torrent)
    assert isinstance(meta, dict)
    info = meta[b"info"]
    assert isinstance(info, dict)
    name = info[b"name"]
    assert isinstance(name, bytes)
    link = f"magnet:?xt=urn:btih:{info_hash(torrent)}&dn={quote(name.decode())}"
    if with_web_seed:
        seeds = meta.get(b"url-list", [])
        for seed in seeds if isinstance(seeds, list) else [seeds]:
            assert isinstance(seed, bytes)
            link += f"&ws={quote(seed.decode(), safe='')}"
    return link
