""".torrent metainfo and magnet links: just enough to describe and police them.

:func:`parse_torrent` reads name, size, info hash, trackers and BEP 19 web seeds
(``url-list``); :func:`check_torrent_urls` applies the URL policy to the web seeds
and trackers, so a torrent cannot make aria2c fetch from a private address.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from mediaferry.errors import ParserError, UnsupportedSource, UrlRejected
from mediaferry.urls import check_url

__all__ = [
    "TorrentMeta",
    "bdecode",
    "check_torrent_urls",
    "magnet_info",
    "parse_torrent",
]

Value = int | bytes | list["Value"] | dict[bytes, "Value"]


def _decode(data: bytes, i: int, depth: int = 0) -> tuple[Value, int]:
    if depth > 64:
        raise ValueError("nesting too deep")
    c = data[i : i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1 : end]), end + 1
    if c == b"l":
        i += 1
        items: list[Value] = []
        while data[i : i + 1] != b"e":
            item, i = _decode(data, i, depth + 1)
            items.append(item)
        return items, i + 1
    if c == b"d":
        i += 1
        out: dict[bytes, Value] = {}
        while data[i : i + 1] != b"e":
            key, i = _decode(data, i, depth + 1)
            if not isinstance(key, bytes):
                raise ValueError("dictionary key is not a string")
            out[key], i = _decode(data, i, depth + 1)
        return out, i + 1
    if c.isdigit():
        colon = data.index(b":", i)
        n = int(data[i:colon])
        if colon + 1 + n > len(data):
            raise ValueError("string runs past the end")
        return data[colon + 1 : colon + 1 + n], colon + 1 + n
    raise ValueError(f"invalid bencode at offset {i}")


def bdecode(data: bytes) -> Value:
    """Decode bencoded bytes (strings stay ``bytes``); ValueError when malformed."""
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError("trailing data")
    return value


def _info_span(data: bytes) -> bytes:
    """The raw bencoded ``info`` value (the info hash is over the exact bytes)."""
    marker = data.find(b"4:infod")
    if marker < 0:
        raise ValueError("no info dictionary")
    start = marker + len(b"4:info")
    _, end = _decode(data, start)
    return data[start:end]


@dataclass(slots=True)
class TorrentMeta:
    """What a .torrent or magnet link says about itself."""

    info_hash: str
    name: str | None = None
    size: int | None = None
    web_seeds: list[str] = field(default_factory=list)
    trackers: list[str] = field(default_factory=list)


def _text(value: Value | None) -> str | None:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else None


def _strings(value: Value | None) -> list[str]:
    if isinstance(value, bytes):
        return [value.decode("utf-8", "replace")]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def parse_torrent(data: bytes) -> TorrentMeta:
    """Parse a .torrent file; :class:`ParserError` if it is not one."""
    try:
        meta = bdecode(data)
        if not isinstance(meta, dict) or not isinstance(meta.get(b"info"), dict):
            raise ValueError("no info dictionary")
        info = meta[b"info"]
        assert isinstance(info, dict)
        digest = hashlib.sha1(_info_span(data)).hexdigest()
    except (ValueError, IndexError, AssertionError) as exc:
        raise ParserError(f"not a valid .torrent file ({exc})") from exc
    files = info.get(b"files")
    size: int | None = None
    if isinstance(files, list):
        lengths = [f.get(b"length") for f in files if isinstance(f, dict)]
        size = sum(n for n in lengths if isinstance(n, int))
    else:
        length = info.get(b"length")
        size = length if isinstance(length, int) else None
    return TorrentMeta(
        info_hash=digest,
        name=_text(info.get(b"name")),
        size=size,
        web_seeds=_strings(meta.get(b"url-list")),
        trackers=_strings(meta.get(b"announce")) + _strings(meta.get(b"announce-list")),
    )


def magnet_info(url: str) -> TorrentMeta:
    """Info hash, display name, trackers and web seeds of a magnet link."""
    params = parse_qs(urlsplit(url).query)
    hashes = [x.rsplit(":", 1)[-1].lower() for x in params.get("xt", []) if "btih:" in x.lower()]
    if not hashes:
        raise UnsupportedSource("the magnet link has no BitTorrent info hash")
    return TorrentMeta(
        info_hash=hashes[0],
        name=params["dn"][0] if params.get("dn") else None,
        size=_size(params.get("xl", [""])[0]),
        web_seeds=params.get("ws", []),
        trackers=params.get("tr", []),
    )


def _size(value: str) -> int | None:
    """``xl=`` as a byte count; None unless plain ASCII digits (``²`` is a digit to
    ``str.isdigit`` but not to ``int``)."""
    return int(value) if value.isascii() and value.isdigit() else None


def check_torrent_urls(meta: TorrentMeta, *, allow_private: bool) -> None:
    """Refuse web seeds (and HTTP trackers) that point at private or local addresses."""
    for url in [*meta.web_seeds, *meta.trackers]:
        if not url.lower().startswith(("http://", "https://")):
            continue  # udp:// trackers: aria2c's own resolution; DHT is off by default
        try:
            check_url(url, allow_private=allow_private)
        except UrlRejected as exc:
            raise UnsupportedSource(
                f"the torrent points at a private or local address ({exc.message})"
            ) from exc
