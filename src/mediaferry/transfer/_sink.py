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

:meth:`FileSink.splice_from` takes the rest of a body straight from a plain TCP
socket: the thread moves it into the file with ``splice(2)`` (socket → pipe → file,
no copy through Python and one copy in the kernel, where a read and a write make two)
while a second thread hashes what has landed (``pread`` behind the writer), so on a
fast link the write and the hash run side by side. Where a file system refuses
``splice``, the same thread reads and writes instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import os
import queue
import select
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mediaferry.errors import DiskFull, NetworkError, StageTimeout
from mediaferry.files.digest import FileDigest, sha256_path

__all__ = ["FileSink"]

_STOP = None  # the end of the queue
BATCH = 1 << 20  # bytes handed to the thread at once
SPLICE = 1 << 20  # bytes moved per splice call (the pipe is made this big)
HASH_READ = 4 << 20  # bytes the hashing thread reads at once


@dataclass(eq=False)
class _Splice:
    """A request to the thread: move ``count`` bytes from socket ``sock`` into the file."""

    sock: int
    count: int
    timeout: float
    done: asyncio.Future[int]
    moved: int = 0
    cancelled: bool = field(default=False)


class FileSink:
    """Appends chunks to ``path`` (after its first ``offset`` bytes) and hashes all."""

    def __init__(self, path: Path, offset: int, *, max_pending: int = 8) -> None:
        # no O_APPEND: splice(2) refuses such a file; the first ``offset`` bytes are kept
        flags = os.O_WRONLY | os.O_CREAT | (0 if offset else os.O_TRUNC)
        self.path = path
        self._offset = offset
        self._fd = os.open(path, flags, 0o644)
        os.lseek(self._fd, offset, os.SEEK_SET)
        self._queue: queue.SimpleQueue[list[bytes] | _Splice | None] = queue.SimpleQueue()
        self._batch: list[bytes] = []
        self._batched = 0
        self._slots = asyncio.Semaphore(max_pending)
        self._loop = asyncio.get_running_loop()
        self._error: BaseException | None = None
        self._result: FileDigest | None = None
        self._stopping = False
        self._splicing: _Splice | None = None
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

    async def splice_from(self, sock: int, count: int, *, timeout: float) -> int:
        """Move up to ``count`` bytes from the plain TCP socket ``sock`` (non-blocking)
        into the file after everything written so far; the bytes moved (fewer when the
        peer closed early); :attr:`spliced` follows the count as it grows.
        Raises :class:`StageTimeout` after ``timeout`` s without a byte,
        :class:`NetworkError` when the connection breaks, :class:`DiskFull`."""
        if self._error is not None:
            raise self._error
        if self._batch:
            await self._hand_over()
        job = _Splice(sock, count, timeout, self._loop.create_future())
        self._splicing = job
        self._queue.put(job)
        try:
            return await asyncio.shield(job.done)
        except asyncio.CancelledError:
            job.cancelled = True  # the thread stops within a poll; the socket is ours
            with contextlib.suppress(BaseException):
                await asyncio.shield(job.done)
            raise

    @property
    def spliced(self) -> int:
        """Bytes the running (or last) :meth:`splice_from` has moved so far."""
        return 0 if self._splicing is None else self._splicing.moved

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
            if isinstance(batch, _Splice):
                self._splice(batch, digest)
                continue
            try:
                for chunk in batch:
                    _write_all(self._fd, chunk)
                    digest.update(chunk)
            finally:
                self._release()
        self._result = FileDigest.of_fd(self._fd, digest.hexdigest())

    def _splice(self, job: _Splice, digest: hashlib._Hash) -> None:
        """Run one :class:`_Splice` (in the thread), a second thread hashing behind."""
        error: BaseException | None = None
        try:
            hasher = _Follower(self.path, os.lseek(self._fd, 0, os.SEEK_CUR), digest)
            try:
                _move(job, self._fd, hasher)
            finally:
                hasher.finish()
            if hasher.error is not None:
                raise hasher.error
        except BaseException as exc:  # settled below, then the sink fails with it
            error = exc
        loop = self._loop
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            if error is None:
                loop.call_soon_threadsafe(_settle, job.done, job.moved, None)
            else:
                loop.call_soon_threadsafe(_settle, job.done, 0, error)
        if error is not None:
            raise error  # the sink fails: the caller sees it and stops

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


def _settle(fut: asyncio.Future[int], moved: int, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(moved)
    else:
        fut.set_exception(error)


class _Follower:
    """Hashes a file as another thread writes it: ``advance(n)`` says n more bytes
    landed; ``finish()`` waits until every byte said so is hashed."""

    def __init__(self, path: Path, start: int, digest: hashlib._Hash) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._pos = start
        self._written = start
        self._digest = digest
        self._done = False
        self._cond = threading.Condition()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mediaferry-hash", daemon=True)
        self._thread.start()

    def advance(self, n: int) -> None:
        with self._cond:
            self._written += n
            if self._written - self._pos >= HASH_READ:
                self._cond.notify()

    def finish(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify()
        self._thread.join()
        os.close(self._fd)

    def _run(self) -> None:
        buf = memoryview(bytearray(HASH_READ))
        try:
            while True:
                with self._cond:
                    while self._written - self._pos < HASH_READ and not self._done:
                        self._cond.wait()
                    upto = self._written
                    if upto == self._pos and self._done:
                        return
                while self._pos < upto:
                    n = os.preadv(self._fd, [buf[: min(HASH_READ, upto - self._pos)]], self._pos)
                    if n <= 0:
                        raise OSError(errno.EIO, "the file is shorter than what was written")
                    self._digest.update(buf[:n])
                    self._pos += n
        except BaseException as exc:
            self.error = exc


def _move(job: _Splice, fd: int, hasher: _Follower) -> None:
    """socket → file for ``job`` (see :meth:`FileSink.splice_from`)."""
    poller = select.poll()
    poller.register(job.sock, select.POLLIN | select.POLLPRI)
    pipe_r, pipe_w = os.pipe()
    try:
        with contextlib.suppress(OSError):  # a smaller pipe only means more calls
            fcntl.fcntl(pipe_w, fcntl.F_SETPIPE_SZ, SPLICE)
        use_splice = True
        last = time.monotonic()
        while job.moved < job.count and not job.cancelled:
            want = min(SPLICE, job.count - job.moved)
            try:
                if use_splice:
                    n = _splice_once(job.sock, pipe_r, pipe_w, fd, want)
                else:
                    data = os.read(job.sock, want)
                    n = len(data)
                    _write_all(fd, data)
            except BlockingIOError:
                if time.monotonic() - last > job.timeout:
                    raise StageTimeout("the server stopped responding") from None
                poller.poll(100)  # a tenth of a second, so a cancel is seen soon
                continue
            except _SpliceRefused as refused:
                use_splice = False
                n = refused.moved  # what was already in the pipe went by read/write
                if not n:
                    continue
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise DiskFull("the disk is full") from exc
                raise NetworkError(f"the connection broke off: {exc.strerror or exc}") from exc
            if n == 0:
                return  # the peer closed: the caller compares with what it expected
            last = time.monotonic()
            job.moved += n
            hasher.advance(n)
    finally:
        os.close(pipe_r)
        os.close(pipe_w)


class _SpliceRefused(Exception):
    """This file (system) or socket takes no splice: read and write instead."""

    def __init__(self, moved: int = 0) -> None:
        super().__init__("splice refused")
        self.moved = moved


def _splice_once(sock: int, pipe_r: int, pipe_w: int, fd: int, want: int) -> int:
    """Up to ``want`` bytes socket → pipe → file; 0 at the end of the stream."""
    try:
        n = os.splice(sock, pipe_w, want, flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise _SpliceRefused from exc
        raise
    left = n
    while left:
        try:
            left -= os.splice(pipe_r, fd, left, flags=os.SPLICE_F_MOVE)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP) and left == n:
                # the file refuses splice: the bytes already in the pipe go by read/write
                while left:
                    data = os.read(pipe_r, left)
                    _write_all(fd, data)
                    left -= len(data)
                raise _SpliceRefused(n) from exc
            raise
    return n
