"""Async runner for ffmpeg and ffprobe child processes.

Each child runs in its own process group so that cancelling a job stops the whole
tree: on :class:`asyncio.CancelledError` the group gets SIGTERM, then SIGKILL after
a grace period, and the partial output file is removed. A failing child becomes a
:class:`~mediaferry.errors.MediaError` whose message ends with the tail of stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mediaferry.errors import MediaError

__all__ = ["DEFAULT_RUNNER", "FFmpegRunner", "stderr_tail"]

log = logging.getLogger(__name__)

_TAIL_LINES = 8
_TAIL_CHARS = 800


def stderr_tail(stderr: bytes, lines: int = _TAIL_LINES) -> str:
    """The last few non-empty lines of a child's stderr, decoded and shortened."""
    text = stderr.decode("utf-8", errors="replace")
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept)[-_TAIL_CHARS:]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _remove(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@dataclass(frozen=True, slots=True)
class FFmpegRunner:
    """Runs ffmpeg/ffprobe. Binary paths are injectable (tests, odd installs)."""

    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    grace_s: float = 3.0

    async def run_ffmpeg(self, args: Sequence[str], *, output: Path | None = None) -> bytes:
        """Run ``ffmpeg -hide_banner -nostdin -y <args>``; return its stdout.

        ``output`` is removed if the run fails or is cancelled.
        """
        argv = [self.ffmpeg, "-hide_banner", "-nostdin", "-y", *args]
        return await self._exec(argv, output=output, what="ffmpeg")

    async def run_ffprobe(self, args: Sequence[str]) -> bytes:
        """Run ``ffprobe -hide_banner <args>``; return its stdout."""
        return await self._exec([self.ffprobe, "-hide_banner", *args], output=None, what="ffprobe")

    async def _exec(self, argv: list[str], *, output: Path | None, what: str) -> bytes:
        log.debug("running %s", " ".join(argv))
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise MediaError(f"{what} could not be started ({argv[0]}): {exc}") from exc
        try:
            stdout, stderr = await proc.communicate()
        except asyncio.CancelledError:
            await self._stop(proc)
            _remove(output)
            raise
        if proc.returncode != 0:
            _remove(output)
            raise MediaError(
                f"{what} failed (exit {proc.returncode}): {stderr_tail(stderr) or 'no output'}"
            )
        return stdout

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM the group, SIGKILL after the grace period, reap the child."""
        if proc.returncode is not None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), self.grace_s)
        except (TimeoutError, asyncio.CancelledError):
            _signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(asyncio.CancelledError):
                await proc.wait()


DEFAULT_RUNNER = FFmpegRunner()
