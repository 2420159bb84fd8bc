"""The aria2c transfer backend (protocols "aria2" and "torrent").

Downloads are added to the supervised daemon (:mod:`aria2_daemon`) with their own
``dir``; progress comes from ``tellStatus``. Cancel = ``forceRemove`` and removing
the file and its ``.aria2`` control file. A download whose daemon died fails with a
retryable NetworkError (the daemon is restarted). A torrent that receives nothing
within ``torrent_timeout_s`` fails with TIMEOUT.

URL policy: aria2c cannot use our SSRF-safe client, so before adding an HTTP(S)
download its host is resolved and checked, and the redirect chain is followed with
the safe client (a HEAD); aria2c is handed the final URL. Torrent web seeds and HTTP
trackers are checked too (:func:`aria2_torrent.check_torrent_urls`); DHT/LPD/PEX
are off by default. Then aria2c itself connects only through the guarding proxy
(:mod:`mediaferry.net.guard_proxy`, ``all-proxy`` with per-download credentials), which
resolves and checks every host it is asked for (redirects, web seeds, HTTP trackers)
and connects to the checked address. BitTorrent peer connections do not go through
it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from mediaferry.errors import (
    JobError,
    NetworkError,
    SizeLimitExceeded,
    StageTimeout,
    UnsupportedSource,
    UrlRejected,
)
from mediaferry.net.classify import classify_aria2
from mediaferry.net.guard_proxy import GuardProxy, ProxySession
from mediaferry.net.http import HTTPX_ERRORS, make_client, map_httpx_error
from mediaferry.net.torrent import check_torrent_urls, magnet_info
from mediaferry.transfer.aria2_daemon import Aria2Daemon, Aria2RpcError
from mediaferry.transfer.base import Progress, ProgressSink, Transfer, TransferResult
from mediaferry.urls import check_url, resolve_public

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.plan import MediaPlan

__all__ = ["Aria2Transfer"]

_KEYS = [
    "gid", "status", "totalLength", "completedLength", "downloadSpeed", "errorCode",
    "errorMessage", "followedBy", "files", "dir", "numSeeders", "connections",
]  # fmt: skip
POLL_S = 0.25


class Aria2Transfer(Transfer):
    """Large direct files and torrents through the supervised aria2c daemon."""

    name = "aria2"
    protocols = ("aria2", "torrent")

    def __init__(self, settings: Settings, daemon: Aria2Daemon | None = None) -> None:
        self.settings = settings
        self.daemon = daemon or Aria2Daemon(settings)
        self._guard: GuardProxy | None = None

    async def close(self) -> None:
        await self.daemon.close()
        if self._guard is not None:
            await self._guard.close()
            self._guard = None

    async def _proxy_session(self) -> ProxySession | None:
        """Unless private networks are allowed, aria2c connects through the guarding
        proxy, so redirects, web seeds and trackers are checked at connect time."""
        if self._allow_private:
            return None
        if self._guard is None:
            self._guard = GuardProxy(connect_timeout=self.settings.http_connect_timeout_s)
        await self._guard.start()
        return self._guard.session()

    async def fetch(
        self,
        plan: MediaPlan,
        dest_dir: Path,
        progress: ProgressSink,
        *,
        part: Path | None = None,
    ) -> TransferResult:
        """Fetch ``plan``; with ``part`` (a file in ``dest_dir`` holding the first bytes
        of a direct file, or aria2c's own unfinished download), go on from it."""
        session = await self._proxy_session()
        try:
            return await self._fetch(plan, dest_dir, progress, session, part)
        except JobError as exc:
            if session is None or not session.refused or isinstance(exc, UnsupportedSource):
                raise
            reason = session.refused[0]
            raise UnsupportedSource(
                f"a connection was refused by the URL policy ({reason})"
            ) from exc
        finally:
            if session is not None and self._guard is not None:
                self._guard.end(session)

    async def _fetch(
        self,
        plan: MediaPlan,
        dest_dir: Path,
        progress: ProgressSink,
        session: ProxySession | None,
        part: Path | None,
    ) -> TransferResult:
        dest_dir.mkdir(parents=True, exist_ok=True)
        before = set(dest_dir.iterdir())
        gids: list[str] = []
        try:
            gid, generation = await self._add(plan, dest_dir, session, part)
            gids.append(gid)
            return await self._follow(plan, gids, generation, progress)
        except asyncio.CancelledError:
            await self._discard(gids, dest_dir, before)
            raise
        except StageTimeout:
            await self._discard(gids, dest_dir, before)
            raise

    # adding ------------------------------------------------------------------
    def _options(self, plan: MediaPlan, dest_dir: Path, part: Path | None) -> dict[str, Any]:
        n = str(self.settings.aria2_connections)
        opts: dict[str, Any] = {
            "dir": str(dest_dir.resolve()),
            "max-connection-per-server": n,
            "split": n,
            "min-split-size": "1M",
            "max-tries": "3",
            "retry-wait": "1",
            "connect-timeout": str(int(self.settings.http_connect_timeout_s)),
            "timeout": str(int(self.settings.http_read_timeout_s)),
            "header": [f"{k}: {v}" for k, v in plan.headers.items()],
            "seed-time": "0",
        }
        if plan.cookie_file is not None:
            opts["load-cookies"] = str(plan.cookie_file)
        if part is not None:  # the bytes on disk are the file's first: fetch the rest
            opts["out"] = part.name
            opts["continue"] = "true"
        return opts

    async def _add(
        self,
        plan: MediaPlan,
        dest_dir: Path,
        session: ProxySession | None = None,
        part: Path | None = None,
    ) -> tuple[str, int]:
        opts = self._options(plan, dest_dir, part)
        if session is not None and self._guard is not None:
            opts["all-proxy"] = self._guard.url
            opts["all-proxy-user"] = session.user
            opts["all-proxy-passwd"] = session.password
        torrent_b64 = plan.extra.get("torrent_b64")
        if plan.protocol == "torrent" and torrent_b64:
            method, params = "aria2.addTorrent", [torrent_b64, [], opts]
        elif plan.url.lower().startswith("magnet:"):
            check_torrent_urls(magnet_info(plan.url), allow_private=self._allow_private)
            method, params = "aria2.addUri", [[plan.url], opts]
        else:
            url = await self._checked_url(plan.url)
            method, params = "aria2.addUri", [[url], opts]
        await self.daemon.ensure()
        generation = self.daemon.generation
        try:
            gid = await self.daemon.call(method, *params)
        except Aria2RpcError as exc:
            raise UnsupportedSource(f"aria2c refused the download: {exc.message}") from exc
        return str(gid), generation

    @property
    def _allow_private(self) -> bool:
        return self.settings.allow_private_networks

    async def _checked_url(self, url: str) -> str:
        """The URL after redirects, each hop checked by the URL policy."""
        try:
            checked = check_url(url, allow_private=self._allow_private)
            if self._allow_private:
                return url
            port = urlsplit(url).port or (443 if checked.scheme == "https" else 80)
            await resolve_public(checked.host, port, allow_private=False)
        except UrlRejected as exc:
            raise UnsupportedSource(exc.message) from exc
        try:
            async with make_client(self.settings) as client:
                response = await client.head(url)
                return str(response.url)
        except httpx.InvalidURL as exc:
            raise map_httpx_error(exc) from exc
        except HTTPX_ERRORS as exc:
            if "UrlRejected" in str(exc):
                raise UnsupportedSource("a redirect leads to a private address") from exc
            return url  # HEAD unsupported or flaky: aria2c reports real failures

    # following ---------------------------------------------------------------
    async def _status(self, gid: str, generation: int) -> dict[str, Any]:
        if generation != self.daemon.generation or not self.daemon.alive:
            raise NetworkError("the aria2c daemon stopped; the download will be retried")
        try:
            status: dict[str, Any] = await self.daemon.call("aria2.tellStatus", gid, _KEYS)
        except Aria2RpcError as exc:  # unknown gid: the daemon restarted under us
            raise NetworkError(f"aria2c lost the download ({exc.message})") from exc
        return status

    async def _follow(
        self, plan: MediaPlan, gids: list[str], generation: int, progress: ProgressSink
    ) -> TransferResult:
        started = time.monotonic()
        limit = self.settings.max_file_size_bytes
        while True:
            st = await self._status(gids[-1], generation)
            total, done = int(st.get("totalLength") or 0), int(st.get("completedLength") or 0)
            if total > limit:
                await self._remove(gids[-1])
                raise SizeLimitExceeded(f"the download is {total / 1e6:.0f} MB, over the limit")
            state = st.get("status")
            if state == "complete" and st.get("followedBy"):
                gids.append(str(st["followedBy"][0]))  # magnet metadata → the real torrent
                continue
            if state == "complete":
                return self._result(st, progress)
            if state in ("error", "removed"):
                await self._forget(gids[-1])
                raise _error(st)
            self._check_torrent_timeout(plan, started, done)
            speed = float(st.get("downloadSpeed") or 0)
            eta = (total - done) / speed if speed and total else None
            progress(Progress(bytes_done=done, bytes_total=total or None, speed=speed, eta=eta))
            await asyncio.sleep(POLL_S)

    def _check_torrent_timeout(self, plan: MediaPlan, started: float, done: int) -> None:
        timeout = self.settings.torrent_timeout_s
        if plan.protocol == "torrent" and done == 0 and time.monotonic() - started > timeout:
            raise StageTimeout(
                f"no peers or web seeds sent any data within {timeout:.0f} s; the torrent "
                "may have no reachable peers"
            )

    def _result(self, st: dict[str, Any], progress: ProgressSink) -> TransferResult:
        paths = [Path(f["path"]) for f in st.get("files") or [] if f.get("path")]
        paths = [p for p in paths if p.is_file()]
        if not paths:
            raise NetworkError("aria2c reported completion but wrote no file")
        paths.sort(key=lambda p: p.stat().st_size, reverse=True)
        size = paths[0].stat().st_size
        progress(Progress(bytes_done=size, bytes_total=size, speed=None, eta=0))
        return TransferResult(
            path=paths[0], size=size, downloader=self.name, extra_files=tuple(paths[1:])
        )

    # cleaning up -------------------------------------------------------------
    async def _remove(self, gid: str) -> None:
        with contextlib.suppress(Aria2RpcError, NetworkError):
            await self.daemon.call("aria2.forceRemove", gid)
        for _ in range(40):  # wait until aria2c let go of the file
            try:
                st = await self.daemon.call("aria2.tellStatus", gid, ["status"])
            except (Aria2RpcError, NetworkError):
                break
            if st.get("status") in ("removed", "complete", "error"):
                break
            await asyncio.sleep(0.05)
        await self._forget(gid)

    async def _forget(self, gid: str) -> None:
        with contextlib.suppress(Aria2RpcError, NetworkError):
            await self.daemon.call("aria2.removeDownloadResult", gid)

    async def _discard(self, gids: list[str], dest_dir: Path, before: set[Path]) -> None:
        """Stop the downloads and remove every file (and .aria2 control file) they made."""
        for gid in gids:
            await asyncio.shield(self._remove(gid))
        if not dest_dir.exists():
            return
        for path in sorted(dest_dir.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path in before or any(path.is_relative_to(b) for b in before if b.is_dir()):
                continue
            with contextlib.suppress(OSError):
                path.rmdir() if path.is_dir() else path.unlink()


def _error(st: dict[str, Any]) -> JobError:
    return classify_aria2(st.get("errorCode"), str(st.get("errorMessage") or ""))
