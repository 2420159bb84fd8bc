"""The yt-dlp child process: ``python -m mediaferry.net.ytdlp_child``.

Reads one JSON request line on stdin::

    {"mode": "extract" | "download" | "probe", "url": ..., "opts": {...yt-dlp params...},
     "allow_private": false, "proxy": "http://user:password@127.0.0.1:port"}

and writes JSON lines on stdout: first ``{"event": "ready", "version": ...}`` once
yt-dlp and the extractor for the URL are imported (the parent then lets an upgrade
of the environment proceed: nothing is imported from it lazily after that point
that the job needs), then ``{"event": "progress", ...}``, then one of
``{"event": "info", "info": {...}}`` (extract, and probe: see :mod:`_ytdlp_probe`),
``{"event": "done", "path": ...}`` (download) or ``{"event": "error", "failure": {...}}``.
Everything yt-dlp prints goes to stderr, so stdout carries only the protocol.

URL policy: yt-dlp cannot use Mediaferry's httpx client, so unless
``allow_private`` is set the parent starts a guarding proxy
(:mod:`mediaferry.net.guard_proxy`) for this child and passes its URL, with per-child
credentials, as ``"proxy"``; the child sets it as yt-dlp's ``proxy`` option, so every
request handler (urllib, requests, websockets where it can, curl_cffi) reaches the
network only through it. The proxy resolves and checks every host (redirect targets
and each HLS/DASH fragment host included) and connects to the very address it checked
(CONNECT for HTTPS, absolute-form for plain HTTP), so curl_cffi, which resolves in C,
is safe to keep: browser impersonation works with private networks off. As a second
layer, :func:`install_url_guard` wraps ``socket.getaddrinfo`` in this process: a host
resolving to a loopback, private, link-local or multicast address (other than the
proxy itself) fails before any connection is made, for whatever Python-level code would
connect around the proxy. Without a proxy (an older parent) handlers that resolve in C
are unregistered instead. External downloaders are not used, and yt-dlp's ``file://``
handler stays off (its default).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from typing import IO, Any
from urllib.parse import urlsplit

from mediaferry.errors import UrlRejected
from mediaferry.net.classify import URL_POLICY_MARK, describe_exception
from mediaferry.urls import check_address

_DROP_KEYS = ("automatic_captions", "subtitles", "heatmap", "thumbnails", "requested_subtitles")


def install_url_guard(proxy: str | None = None) -> None:
    """Refuse, in this process, every resolution that yields a non-public address,
    except the guarding ``proxy``'s own (``http://user:pass@127.0.0.1:port``); without a
    proxy, also unregister the request handlers that resolve in C."""
    real = socket.getaddrinfo
    exempt = _proxy_address(proxy)

    def guarded(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        infos = real(host, port, *args, **kwargs)
        if exempt is not None and (str(host), str(port)) == exempt:
            return infos
        for info in infos:
            try:
                check_address(str(info[4][0]), allow_private=False)
            except UrlRejected as exc:
                raise OSError(f"{URL_POLICY_MARK}: {host} is a private or local address") from exc
        return infos

    socket.getaddrinfo = guarded  # type: ignore[assignment]
    if exempt is None:
        _drop_native_resolvers()


def _proxy_address(proxy: str | None) -> tuple[str, str] | None:
    if not proxy:
        return None
    parts = urlsplit(proxy)
    if parts.hostname is None or parts.port is None:
        raise ValueError("the guarding proxy's URL needs a host and a port")
    return parts.hostname, str(parts.port)


def network_opts(request: dict[str, Any]) -> dict[str, Any]:
    """Apply the request's URL policy to this process and return the yt-dlp options
    that go with it (every job's child, and the readiness probe, go through here)."""
    proxy = str(request.get("proxy") or "")
    if request.get("allow_private"):
        return {"proxy": ""}
    install_url_guard(proxy or None)
    return {"proxy": proxy}


def _drop_native_resolvers() -> None:
    """Request handlers that resolve in C (curl_cffi's libcurl, when installed) would
    bypass the guard: unregister them, so yt-dlp falls back to the Python ones."""
    try:
        from yt_dlp.networking.common import _REQUEST_HANDLERS
    except ImportError:  # an older or newer yt-dlp: nothing to unregister
        return
    for key in [k for k in _REQUEST_HANDLERS if "curl" in str(k).lower()]:
        _REQUEST_HANDLERS.pop(key, None)


def route_through_guard(ydl: Any, proxy: str) -> None:
    """Send http(s) through the guarding proxy, and WebSockets direct: yt-dlp's
    websockets handler takes no HTTP proxy (it would refuse every WebSocket request)
    and connects with yt-dlp's ``create_connection``, through the guarded
    ``getaddrinfo``. Per-scheme proxies instead of yt-dlp's ``{"all": proxy}``; should a
    later yt-dlp ignore this, ``all`` stays in force and WebSockets are refused."""
    if not proxy:
        return
    ydl.__dict__["proxies"] = {"http": proxy, "https": proxy}
    if "_request_director" in ydl.__dict__:  # built early (an impersonate target): rebuild
        ydl._request_director.close()
        del ydl._request_director


class _Logger:
    """yt-dlp's messages go to stderr (the parent keeps the tail for diagnostics)."""

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        print(f"WARNING: {msg}", file=sys.stderr)

    def error(self, msg: str) -> None:
        print(msg, file=sys.stderr)


class _Emitter:
    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.last = 0.0
        self.finished_bytes = 0

    def emit(self, event: str, **data: Any) -> None:
        self.out.write(json.dumps({"event": event, **data}, default=str) + "\n")
        self.out.flush()

    def hook(self, d: dict[str, Any]) -> None:
        status = d.get("status")
        now = time.monotonic()
        done = int(d.get("downloaded_bytes") or 0)
        total = d.get("total_bytes") or d.get("total_bytes_estimate")
        if status == "finished":
            self.finished_bytes += int(d.get("total_bytes") or done)
            self.emit(
                "progress",
                downloaded=self.finished_bytes,
                total=None,
                speed=None,
                eta=None,
                part_finished=True,
            )
            return
        if status != "downloading" or now - self.last < 0.2:
            return
        self.last = now
        self.emit(
            "progress",
            downloaded=self.finished_bytes + done,
            total=self.finished_bytes + int(total) if total else None,
            speed=d.get("speed"),
            eta=d.get("eta"),
            fragment_index=d.get("fragment_index"),
            fragment_count=d.get("fragment_count"),
        )


def _slim(info: dict[str, Any]) -> dict[str, Any]:
    for key in _DROP_KEYS:
        info.pop(key, None)
    for fmt in info.get("formats") or []:
        fmt.pop("fragments", None)
    for entry in info.get("entries") or []:
        if isinstance(entry, dict):
            _slim(entry)
    return info


def _final_path(info: dict[str, Any]) -> str | None:
    for item in info.get("requested_downloads") or []:
        path = item.get("filepath") or item.get("_filename")
        if path:
            return str(path)
    return info.get("filepath") or info.get("_filename")


def _preload(ydl: Any, url: str) -> None:
    """Import the real extractor for ``url`` now (yt-dlp loads them lazily)."""
    from yt_dlp.extractor import gen_extractor_classes

    for ie in gen_extractor_classes():
        if ie.suitable(url):
            ydl.get_info_extractor(ie.ie_key())
            return


def run(request: dict[str, Any], emitter: _Emitter) -> int:
    """Serve one request; return the exit code."""
    import yt_dlp
    from yt_dlp.version import __version__

    net = network_opts(request)
    if request["mode"] == "probe":
        from mediaferry.net._ytdlp_probe import probe

        emitter.emit("ready", version=__version__)
        try:
            opts = {**(request.get("opts") or {}), **net}
            report = probe(opts, selftest=bool(request.get("selftest")))
        except BaseException as exc:
            emitter.emit("error", failure=describe_exception(exc).to_json())
            return 1
        emitter.emit("info", info=report)
        return 0
    opts = dict(request.get("opts") or {})
    opts.update(quiet=True, no_warnings=False, noprogress=True, logger=_Logger(), **net)
    if request["mode"] == "download":
        opts["progress_hooks"] = [emitter.hook]
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            route_through_guard(ydl, net["proxy"])
            download = request["mode"] == "download"
            given = request.get("info") if download else None
            if given:
                # described before (the parent kept the info): download without extracting
                emitter.emit("ready", version=__version__, extracting=False)
                info = ydl.process_ie_result(ydl.sanitize_info(given), download=True)
            else:
                _preload(ydl, request["url"])
                emitter.emit("ready", version=__version__, extracting=True)
                info = ydl.extract_info(request["url"], download=download)
            info = ydl.sanitize_info(info)
            if download:
                emitter.emit("done", path=_final_path(info), title=info.get("title"))
            else:
                emitter.emit("info", info=_slim(info))
    except BaseException as exc:  # everything crosses the boundary as data
        emitter.emit("error", failure=describe_exception(exc).to_json())
        return 1
    return 0


def main() -> int:
    # The protocol gets the real stdout; anything else printing to fd 1 lands on stderr.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    request = json.loads(sys.stdin.readline())
    return run(request, _Emitter(out))


if __name__ == "__main__":
    sys.exit(main())
