"""Write a download to disk and hash it in a worker thread, as the bytes arrive.

The event loop only receives: chunks are handed, about 1 MiB at a time (one thread
wake-up and one loop wake-up per batch, not per 64 KiB socket read), to one thread
that appends them to the file and feeds them to sha256 (both release the GIL on large
buffers, so on a machine with two cores hashing overlaps the network instead of
following it). At most ``max_pending`` batches wait in between, which bounds memory.
When a download stops (an error, a cancel), what was received is still written, so a
resume starts after every byte that arrived.

The digest always covers the file from byte 0: when a download resumes, the bytes
already on disk are hashed first (in the same thread, before any new byte).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import queue
import threading
from pathlib import Path

from mediaferry.errors import DiskFull
from mediaferry.files.digest import FileDigest, sha256_path

__all__ = ["FileSink"]

_STOP = None  # the end of the queue
BATCH = 1 << 20  # bytes handed to the thread at once


class FileSink:
    """Appends chunks to ``path`` (after its first ``offset`` bytes) and hashes all."""

    def __init__(self, path: Path, offset: int, *, max_pending: int = 8) -> None:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if offset else os.O_TRUNC)
        self.path = path
        self._offset = offset
        self._fd = os.open(path, flags, 0o644)
        self._queue: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._batch: list[bytes] = []
        self._batched = 0
        self._slots = asyncio.Semaphore(max_pending)
        self._loop = asyncio.get_running_loop()
        self._error: BaseException | None = None
        self._result: FileDigest | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="mediaferry-sink", daemon=True)
        self._thread.start()

    async def write(self, chunk: bytes) -> None:
        """Queue ``chunk``; waits only while ``max_pending`` batches are queued."""
        if self._error is not None:
            raise self._error
        if not chunk:
            return
        self._batch.append(chunk)
        self._batched += len(chunk)
        if self._batched >= BATCH:
            await self._hand_over()

    async def _hand_over(self) -> None:
        await self._slots.acquire()  # a cancel while waiting leaves the batch to abort()
        batch, self._batch, self._batched = self._batch, [], 0
        self._queue.put(batch)

    async def finish(self) -> FileDigest:
        """Wait for every queued chunk; the digest of the whole file as written."""
        if self._batch and self._error is None and not self._stopping:
            await self._hand_over()
        await self._stop()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    async def abort(self) -> None:
        """Stop after what is queued (on errors and cancellation); the thread closes
        the file, so it is never closed under a write in progress."""
        if self._batch and not self._stopping:  # received bytes are kept for a resume
            batch, self._batch, self._batched = self._batch, [], 0
            self._queue.put(batch)  # no slot: the thread ends after it anyway
        with contextlib.suppress(BaseException):
            await asyncio.shield(self._stop())

    async def _stop(self) -> None:
        if not self._stopping:
            self._stopping = True
            self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    # the worker thread ---------------------------------------------------------
    def _run(self) -> None:
        try:
            digest = sha256_path(self.path, limit=self._offset) if self._offset else None
            self._consume(digest or hashlib.sha256())
        except BaseException as exc:
            self._error = exc
            while self._queue.get() is not _STOP:  # let the loop side go on and stop
                self._release()
        finally:
            os.close(self._fd)

    def _consume(self, digest: hashlib._Hash) -> None:
        while (batch := self._queue.get()) is not _STOP:
            try:
                for chunk in batch:
                    _write_all(self._fd, chunk)
                    digest.update(chunk)
            finally:
                self._release()
        self._result = FileDigest.of_fd(self._fd, digest.hexdigest())

    def _release(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            self._loop.call_soon_threadsafe(self._slots.release)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFull("the disk is full") from exc
        raise
