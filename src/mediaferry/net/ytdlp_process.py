"""Run the yt-dlp child process and speak its JSON-lines protocol.

The child runs in its own session (so its own process group): cancellation or a
timeout terminates the whole group (yt-dlp and any ffmpeg it started), SIGKILL
follows after a grace period. Failures come back as :mod:`classify` errors.

The child starts under the shared environment lock (:func:`ytdlp_env.env_lock`),
released at its ``ready`` event: an upgrade of yt-dlp never replaces files while a
child is importing them, and the next child imports the new version.

Unless the request allows private networks, the child connects only through a
guarding proxy (:mod:`guard_proxy`) started here for it, with its own credentials
(see :mod:`ytdlp_child`); when the proxy refused a connection and the child failed,
the failure is the URL policy's (UNSUPPORTED_SOURCE), whatever yt-dlp made of the
proxy's refusal (an HTTP 403, a proxy error).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from mediaferry.errors import ExtractorError, JobError, UnsupportedSource
from mediaferry.net.classify import Failure, classify_failure
from mediaferry.net.guard_proxy import GuardProxy
from mediaferry.net.ytdlp_env import env_lock

__all__ = ["kill_process_group", "run_ytdlp_child"]

log = logging.getLogger(__name__)
_LINE_LIMIT = 256 * 1024 * 1024  # one info dict per line; YouTube's are ~1 MB
_STDERR_TAIL = 8192

EventSink = Callable[[dict[str, Any]], None]


async def kill_process_group(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the child's process group, SIGKILL it after ``grace`` seconds."""
    if proc.returncode is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers (e.g. ffmpeg) of a dead leader
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), timeout=max(wait, 0.01))
            break
        except TimeoutError:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def _tail(stream: asyncio.StreamReader, keep: bytearray) -> None:
    while chunk := await stream.read(65536):
        keep.extend(chunk)
        del keep[:-_STDERR_TAIL]


async def run_ytdlp_child(
    request: dict[str, Any],
    on_event: EventSink | None = None,
    *,
    grace: float = 3.0,
    python: str | None = None,
    connect_timeout: float = 15.0,
) -> dict[str, Any]:
    """Run one child request; return its final ``info``/``done`` event or raise a JobError.

    ``python`` is the interpreter of the environment yt-dlp runs in (default: ours);
    ``connect_timeout`` is the guarding proxy's, per address it tries.
    """
    if request.get("allow_private"):
        return await _run_child(request, on_event, grace=grace, python=python)
    guard = GuardProxy(connect_timeout=connect_timeout)
    await guard.start()
    session = guard.session()
    proxy = guard.url.replace("://", f"://{session.user}:{session.password}@", 1)
    try:
        return await _run_child({**request, "proxy": proxy}, on_event, grace=grace, python=python)
    except JobError as exc:
        if not session.refused or isinstance(exc, UnsupportedSource):
            raise
        reason = session.refused[0]
        raise UnsupportedSource(f"a connection was refused by the URL policy ({reason})") from exc
    finally:
        guard.end(session)
        await guard.close()


async def _run_child(
    request: dict[str, Any], on_event: EventSink | None, *, grace: float, python: str | None
) -> dict[str, Any]:
    python = python or sys.executable
    async with contextlib.AsyncExitStack() as starting:
        await starting.enter_async_context(env_lock(python, exclusive=False))
        proc = await asyncio.create_subprocess_exec(
            python,
            "-m",
            "mediaferry.net.ytdlp_child",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=_LINE_LIMIT,
        )
        stderr = bytearray()
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        tail = asyncio.create_task(_tail(proc.stderr, stderr))
        try:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            await proc.stdin.drain()
            proc.stdin.close()
            final = await _read_events(proc.stdout, on_event, ready=starting.pop_all())
            code = await proc.wait()
            await tail
        finally:
            await kill_process_group(proc, grace)
            tail.cancel()
    if final is None:
        text = stderr.decode(errors="replace").strip().splitlines()
        last = text[-1] if text else ""
        raise ExtractorError(f"yt-dlp exited unexpectedly (code {code}) {last}".strip())
    if final["event"] == "error":
        raise _error(final)
    return final


async def _read_events(
    stream: asyncio.StreamReader,
    on_event: EventSink | None,
    ready: contextlib.AsyncExitStack | None = None,
) -> dict[str, Any] | None:
    """Read the child's events; ``ready`` (the start lock) is released at its
    ``ready`` event, or when the child ends without one."""
    final: dict[str, Any] | None = None
    try:
        async for raw in stream:
            try:
                event = json.loads(raw)
            except ValueError:
                log.warning("yt-dlp child wrote a non-protocol line", extra={"line": raw[:200]})
                continue
            if event.get("event") == "ready":
                log.info(
                    "yt-dlp %s started", event.get("version"), extra={"ytdlp": event.get("version")}
                )
                if ready is not None:
                    await ready.aclose()
                    ready = None
            final = _take(event, on_event) or final
    finally:
        if ready is not None:
            await ready.aclose()
    return final


def _take(event: dict[str, Any], on_event: EventSink | None) -> dict[str, Any] | None:
    """The event if it is final, else hand it to ``on_event``."""
    if event.get("event") in ("info", "done", "error"):
        return event
    if on_event is not None:
        on_event(event)
    return None


def _error(event: dict[str, Any]) -> JobError:
    failure = Failure.from_json(event.get("failure") or {})
    err = classify_failure(failure)
    log.info(
        "yt-dlp failed",
        extra={"error_type": str(err.error_type), "library_error": failure.types[:3]},
    )
    return err
