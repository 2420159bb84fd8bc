"""Upgrade yt-dlp, with its extras, in the environment it runs in.

``<python> -m pip install --upgrade "yt-dlp[default,curl-cffi,deno]"``, where
``<python>`` is the interpreter the yt-dlp children use (Mediaferry's own unless
``MEDIAFERRY_YTDLP_PYTHON`` says otherwise), under the exclusive environment lock
(:func:`ytdlp_env.env_lock`), so no job's child is importing yt-dlp while pip
replaces its files. Jobs already running keep the version they loaded; the next
job's child imports the new one. No restart is needed.

Where pip looks is pip's own configuration, unless ``MEDIAFERRY_UPDATE_INDEX_URL``
(``--index-url``; ``none`` for ``--no-index``) or ``MEDIAFERRY_UPDATE_FIND_LINKS``
(``--find-links``, e.g. a folder of wheels) are set. When pip fails — the index
cannot be reached, the environment is read-only — nothing was installed: pip
resolves everything before it changes a file, so the old version stays and keeps
working. The failure is one line.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from mediaferry.errors import UpdateFailed
from mediaferry.net.ytdlp_env import (
    LockTimeout,
    env_changed,
    env_lock,
    env_prefix,
    ytdlp_python,
)

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = ["REQUIREMENT", "UpdateResult", "installed_version", "pip_command", "update_ytdlp"]

log = logging.getLogger(__name__)

REQUIREMENT = "yt-dlp[default,curl-cffi,deno]"
_PIP_TIMEOUT_S = 900.0
_LOCK_TIMEOUT_S = 300.0
_VERSION_CODE = "from yt_dlp.version import __version__ as v; print(v)"
_UNREACHABLE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Connection refused|"
    r"Temporary failure in name resolution|Name or service not known|Network is unreachable|"
    r"ConnectTimeoutError|ReadTimeoutError|Max retries exceeded|Could not fetch URL|"
    r"ProxyError|SSLError|No such file or directory: '[^']*simple",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(r"No matching distribution found|Could not find a version", re.I)
_READ_ONLY = re.compile(r"Permission denied|Read-only file system|\[Errno 13\]|\[Errno 30\]")


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What ``update`` did: ``old`` → ``new`` (equal when already up to date)."""

    old: str | None
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def describe(self) -> str:
        if self.changed:
            return f"yt-dlp {self.old or 'not installed'} → {self.new}"
        return f"yt-dlp {self.new} is up to date"


async def _run(cmd: list[str], timeout: float) -> tuple[int, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as exc:
        return 127, f"{cmd[0]}: {exc.strerror or exc}"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, f"timed out after {timeout:.0f} s"
    return proc.returncode or 0, out.decode(errors="replace")


async def installed_version(python: str) -> str | None:
    """The yt-dlp version ``python`` imports (None when it cannot import it)."""
    code, out = await _run([python, "-c", _VERSION_CODE], 120.0)
    lines = out.strip().splitlines()
    return lines[-1].strip() if code == 0 and lines else None


def _sources(settings: Settings) -> list[str]:
    cmd: list[str] = []
    index = settings.update_index_url.strip()
    if index.lower() == "none":
        cmd.append("--no-index")
    elif index:
        cmd += ["--index-url", index]
    if settings.update_find_links.strip():
        cmd += ["--find-links", settings.update_find_links.strip()]
    return cmd


def pip_command(settings: Settings) -> list[str]:
    """The pip call that upgrades yt-dlp with its extras."""
    return [
        ytdlp_python(settings),
        "-m",
        "pip",
        "install",
        "--upgrade",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        *_sources(settings),
        REQUIREMENT,
    ]


async def _latest(settings: Settings) -> tuple[bool, str]:
    """Ask the index which yt-dlp it has: (answered, output). A pip without the
    (experimental) ``index`` command counts as answered: the install then asks."""
    cmd = [ytdlp_python(settings), "-m", "pip", "index", "versions"]
    code, out = await _run(
        [*cmd, "--disable-pip-version-check", *_sources(settings), "yt-dlp"], 300.0
    )
    if code != 0 and re.search(r"unknown command|no such option", out, re.I):
        return True, out
    return code == 0, out


def _no_userinfo(url: str) -> str:
    """``https://user:token@host/simple`` → ``https://***@host/simple`` (for messages)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def _where(settings: Settings) -> str:
    index = settings.update_index_url.strip()
    links = settings.update_find_links.strip()
    if index.lower() == "none":
        return _no_userinfo(links) or "no index"
    return _no_userinfo(index or links) or "pip's configured index"


def _why(output: str, settings: Settings) -> str:
    """One line saying why pip failed."""
    if _UNREACHABLE.search(output):
        return f"the package index could not be reached ({_where(settings)})"
    if _READ_ONLY.search(output):
        return f"cannot write to {env_prefix(ytdlp_python(settings))} (read-only or not ours)"
    if _NOT_FOUND.search(output):
        return f"no yt-dlp found at {_where(settings)}"
    errors = [ln.strip() for ln in output.splitlines() if ln.strip().startswith("ERROR:")]
    last = errors[-1] if errors else (output.strip().splitlines() or ["pip failed"])[-1]
    return last.removeprefix("ERROR:").strip()[:200]


async def update_ytdlp(
    settings: Settings, *, lock_timeout: float = _LOCK_TIMEOUT_S
) -> UpdateResult:
    """Upgrade yt-dlp now; raise :class:`UpdateFailed` (one line) and keep the old one.

    Waits up to ``lock_timeout`` seconds for yt-dlp jobs that are starting."""
    python = ytdlp_python(settings)
    old = await installed_version(python)
    kept = f"yt-dlp {old} kept" if old else "yt-dlp is not installed"
    answered, output = await _latest(settings)
    if not answered:
        raise UpdateFailed(f"update failed: {_why(output, settings)}; {kept}")
    try:
        async with env_lock(python, exclusive=True, timeout=lock_timeout):
            code, output = await _run(pip_command(settings), _PIP_TIMEOUT_S)
            new = await installed_version(python)
            env_changed(python)
    except LockTimeout as exc:
        raise UpdateFailed(f"update failed: {exc}; {kept}") from None
    log.debug("pip output", extra={"pip_output": output[-4000:]})
    if code != 0:
        raise UpdateFailed(f"update failed: {_why(output, settings)}; {kept}")
    if new is None:
        raise UpdateFailed(f"update failed: yt-dlp does not import after pip ({python})")
    if new == old and _UNREACHABLE.search(output):
        # pip kept the installed version because it could not ask the index
        raise UpdateFailed(f"update failed: {_why(output, settings)}; {kept}")
    return UpdateResult(old=old, new=new)
