"""TORRENT: magnet links and .torrent URLs, fetched by aria2c (protocol "torrent").

A .torrent is downloaded (size-capped, SSRF-safe) and parsed at describe time, so
its name, size and info hash are known and its web seeds are policed; the plan
carries the metainfo base64-encoded in ``extra["torrent_b64"]``.
"""

from __future__ import annotations

import base64
from typing import ClassVar

from mediaferry.errors import SizeLimitExceeded
from mediaferry.net.page import fetch_bytes
from mediaferry.net.torrent import check_torrent_urls, magnet_info, parse_torrent
from mediaferry.plan import JobRequest, MediaPlan, SourceType
from mediaferry.sources.base import Source

__all__ = ["TorrentSource"]

MAX_TORRENT_BYTES = 10 * 1024 * 1024


class TorrentSource(Source):
    """BitTorrent: magnet links and .torrent files."""

    name: ClassVar[SourceType] = SourceType.TORRENT
    example: ClassVar[str] = (
        "magnet:?xt=urn:btih:c9e15763f722f23e98a29decdfae341b98d53056&dn=Lecture+Series"
    )

    async def describe(self, request: JobRequest) -> MediaPlan:
        allow = self.settings.allow_private_networks
        if request.url.lower().startswith("magnet:"):
            meta = magnet_info(request.url)
            check_torrent_urls(meta, allow_private=allow)
            return MediaPlan(
                url=request.url,
                protocol="torrent",
                title=meta.name,
                size=meta.size,
                media_id=meta.info_hash,
            )
        data = await self._fetch(request.url)
        meta = parse_torrent(data)
        check_torrent_urls(meta, allow_private=allow)
        if meta.size is not None and meta.size > self.settings.max_file_size_bytes:
            raise SizeLimitExceeded(f"the torrent holds {meta.size / 1e6:.0f} MB, over the limit")
        return MediaPlan(
            url=request.url,
            protocol="torrent",
            title=meta.name,
            size=meta.size,
            media_id=meta.info_hash,
            extra={"torrent_b64": base64.b64encode(data).decode(), "web_seeds": meta.web_seeds},
        )

    async def _fetch(self, url: str) -> bytes:
        return await fetch_bytes(url, self.settings, MAX_TORRENT_BYTES, ".torrent file")
