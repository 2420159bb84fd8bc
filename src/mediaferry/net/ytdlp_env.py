"""The environment yt-dlp runs in: its interpreter, JavaScript runtime, extractor
arguments, and the lock that keeps an upgrade and a job's start apart.

Every yt-dlp child process (downloads and metadata extraction alike) gets
:func:`base_opts`: ``js_runtimes`` names the runtime *by path* (the binary of the
``deno`` package installed with Mediaferry by default), so YouTube's JavaScript
challenges are solved whether or not the venv's ``bin`` is on ``PATH``; and
``extractor_args`` carries ``MEDIAFERRY_YTDLP_EXTRACTOR_ARGS``.

:func:`env_lock` is a file lock inside the environment being upgraded: a job's child
holds it *shared* from its start until yt-dlp and the extractor it needs are imported
(the child's ``ready`` event); ``mediaferry update`` holds it *exclusive* while pip
replaces files. It works across processes (service, workers, the CLI), and costs one
non-blocking ``flock`` per job start when nobody upgrades.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = [
    "LockTimeout",
    "base_opts",
    "env_changed",
    "env_generation",
    "env_lock",
    "env_prefix",
    "js_runtimes",
    "ytdlp_python",
]

log = logging.getLogger(__name__)
_LOCK_NAME = ".mediaferry-ytdlp.lock"
_POLL_S = 0.05


class LockTimeout(TimeoutError):
    """The environment lock was not had in time."""


def ytdlp_python(settings: Settings) -> str:
    """The interpreter that runs yt-dlp (and whose environment ``update`` upgrades)."""
    return settings.ytdlp_python or sys.executable


def env_prefix(python: str) -> Path:
    """The environment (venv) folder of ``python``: ``<prefix>/bin/python``."""
    if python == sys.executable:
        return Path(sys.prefix)
    return Path(python).absolute().parent.parent


@lru_cache(maxsize=8)
def _deno_binary() -> str | None:
    """The deno binary of the ``deno`` package, else one on PATH, else None."""
    try:
        import deno

        path = str(deno.find_deno_bin())
    except (ImportError, FileNotFoundError):
        path = ""
    if path and os.access(path, os.X_OK):
        return path
    return shutil.which("deno")


def js_runtimes(settings: Settings) -> dict[str, dict[str, str]]:
    """yt-dlp's ``js_runtimes`` option for ``MEDIAFERRY_YTDLP_JS_RUNTIME``."""
    spec = settings.ytdlp_js_runtime.strip()
    name, _, path = spec.partition(":")
    name = name.lower()
    if name == "none":
        return {}
    if not path and name == "deno":
        path = _deno_binary() or ""
    return {name: {"path": path} if path else {}}


def base_opts(settings: Settings) -> dict[str, Any]:
    """yt-dlp parameters every child gets: the JS runtime and the extractor arguments."""
    opts: dict[str, Any] = {"js_runtimes": js_runtimes(settings)}
    if settings.ytdlp_extractor_args:
        opts["extractor_args"] = settings.ytdlp_extractor_args
    return opts


def env_generation(python: str) -> float:
    """Changes whenever yt-dlp was upgraded in this environment (any process)."""
    try:
        return (env_prefix(python) / _LOCK_NAME).stat().st_mtime
    except OSError:
        return 0.0


def env_changed(python: str) -> None:
    """Mark the environment as upgraded (see :func:`env_generation`)."""
    with contextlib.suppress(OSError):
        os.utime(env_prefix(python) / _LOCK_NAME)


def _open_lock(prefix: Path) -> int | None:
    path = prefix / _LOCK_NAME
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
        try:
            return os.open(path, flags | os.O_CLOEXEC, 0o666)
        except OSError:
            continue
    # neither writable nor present: nobody can upgrade this environment either
    return None


@contextlib.asynccontextmanager
async def env_lock(
    python: str, *, exclusive: bool, timeout: float | None = None
) -> AsyncIterator[None]:
    """Hold the environment lock of ``python`` (shared, or exclusive for upgrades).

    Polls a non-blocking ``flock`` so that waiting is cancellable and never blocks
    the event loop; raises :class:`LockTimeout` after ``timeout`` seconds.
    """
    fd = _open_lock(env_prefix(python))
    if fd is None:
        yield
        return
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if deadline is not None and time.monotonic() >= deadline:
                raise LockTimeout(f"yt-dlp environment busy (jobs starting) for {timeout:g} s")
            await asyncio.sleep(_POLL_S)
        yield
    finally:
        os.close(fd)  # closing releases the lock
