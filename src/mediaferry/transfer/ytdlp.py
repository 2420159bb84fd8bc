"""The yt-dlp transfer backend (protocols "ytdlp" and "hls").

Each download runs yt-dlp in its own child process and process group
(:mod:`ytdlp_process`); progress hooks arrive as JSON messages and become
:class:`Progress`. On cancellation the group is terminated (SIGKILL after
``ytdlp_kill_grace_s``) and every file the download created (``.part``, ``.ytdl``,
fragments, unmerged formats) is removed. The URL policy is enforced inside the child
(see :mod:`ytdlp_child`).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediaferry.errors import ExtractorError, UnsupportedSource, UrlRejected
from mediaferry.net.ytdlp_env import base_opts, ytdlp_python
from mediaferry.net.ytdlp_process import run_ytdlp_child
from mediaferry.plan import YTDLP_INFO
from mediaferry.transfer.base import Progress, ProgressSink, Transfer, TransferResult
from mediaferry.urls import check_url

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.plan import MediaPlan

__all__ = ["YtdlpTransfer", "download_opts"]

_PARTIAL_SUFFIXES = (".part", ".ytdl", ".temp", ".frag", ".aria2")


def download_opts(plan: MediaPlan, dest_dir: Path, settings: Settings) -> dict[str, Any]:
    """yt-dlp parameters for downloading ``plan`` into ``dest_dir``."""
    opts: dict[str, Any] = {
        **base_opts(settings),
        "format": plan.format_spec or "bv*+ba/b",
        "outtmpl": {"default": "%(id).60B.%(ext)s"},
        "paths": {"home": str(dest_dir), "temp": str(dest_dir)},
        "noplaylist": True,
        "merge_output_format": "mp4/mkv",
        "concurrent_fragment_downloads": settings.ytdlp_concurrent_fragments,
        "max_filesize": settings.max_file_size_bytes,
        "socket_timeout": settings.http_read_timeout_s,
        "retries": 3,
        "fragment_retries": 3,
        "continuedl": True,
        "http_chunk_size": 0,
        "http_headers": {"User-Agent": settings.user_agent, **plan.headers},
        "windowsfilenames": True,
    }
    if plan.cookie_file is not None:
        opts["cookiefile"] = str(plan.cookie_file)
    return opts


def _remove_new_files(dest_dir: Path, before: set[Path]) -> None:
    """Remove everything this download created in ``dest_dir``."""
    if not dest_dir.exists():
        return
    for path in dest_dir.iterdir():
        if path in before:
            continue
        with contextlib.suppress(OSError):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


class YtdlpTransfer(Transfer):
    """Downloads with yt-dlp in an isolated, killable child process."""

    name = "ytdlp"
    protocols = ("ytdlp", "hls")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def fetch(
        self, plan: MediaPlan, dest_dir: Path, progress: ProgressSink
    ) -> TransferResult:
        try:
            check_url(plan.url, allow_private=self.settings.allow_private_networks)
        except UrlRejected as exc:
            raise UnsupportedSource(exc.message) from exc
        dest_dir.mkdir(parents=True, exist_ok=True)
        before = set(dest_dir.iterdir())
        request = {
            "mode": "download",
            "url": plan.url,
            "opts": download_opts(plan, dest_dir, self.settings),
            "allow_private": self.settings.allow_private_networks,
        }
        info = plan.extra.get(YTDLP_INFO)
        if isinstance(info, dict):
            request["info"] = info  # described already: the child downloads without extracting

        version: list[str] = []

        def on_event(event: dict[str, Any]) -> None:
            if event.get("event") == "progress":
                progress(_progress(event, plan))
            elif event.get("event") == "ready":
                version.append(str(event.get("version")))

        try:
            final = await run_ytdlp_child(
                request,
                on_event,
                grace=self.settings.ytdlp_kill_grace_s,
                connect_timeout=self.settings.http_connect_timeout_s,
                python=ytdlp_python(self.settings),
            )
        except asyncio.CancelledError:
            _remove_new_files(dest_dir, before)
            raise
        path = Path(str(final.get("path") or ""))
        if not final.get("path") or not path.is_file():
            raise ExtractorError("yt-dlp finished without producing a file")
        _remove_partials(dest_dir, before, keep=path)
        size = path.stat().st_size
        progress(Progress(bytes_done=size, bytes_total=size, speed=None, eta=0))
        return TransferResult(
            path=path,
            size=size,
            downloader=self.name,
            tool_version=f"yt-dlp {version[0]}" if version else None,
        )


def _remove_partials(dest_dir: Path, before: set[Path], keep: Path) -> None:
    for path in dest_dir.iterdir():
        if path in before or path == keep:
            continue
        if path.suffix in _PARTIAL_SUFFIXES or ".part-Frag" in path.name or ".f" in path.suffixes:
            with contextlib.suppress(OSError):
                path.unlink()


def _progress(event: dict[str, Any], plan: MediaPlan) -> Progress:
    done = int(event.get("downloaded") or 0)
    total = event.get("total")
    total_int = int(total) if total else plan.size
    if total_int is not None and total_int < done:
        total_int = done
    speed = event.get("speed")
    eta = event.get("eta")
    return Progress(
        bytes_done=done,
        bytes_total=total_int,
        speed=float(speed) if speed else None,
        eta=float(eta) if eta is not None else None,
    )
