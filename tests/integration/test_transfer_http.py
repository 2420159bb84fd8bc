"""The streaming HTTP backend against the local media server: the sha256 it returns is
always the true hash of the file it delivered, including resumed downloads."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from mediaferry.config import load_settings
from mediaferry.errors import JobError, StageTimeout
from mediaferry.files.digest import FileDigest
from mediaferry.media.validate import validate_file
from mediaferry.net.http import SafeNetworkBackend
from mediaferry.plan import MediaPlan
from mediaferry.transfer._sink import _Follower, _move, _Splice
from mediaferry.transfer.base import Progress
from mediaferry.transfer.http import HttpTransfer
from tests.support.media_server import MediaServer, sha256_of


@pytest.fixture
def payload(media_dir: Path) -> Path:
    """3 MB of random bytes (several network chunks, not media)."""
    path = media_dir / "payload.bin"
    if not path.exists():
        path.write_bytes(os.urandom(3 * 1024 * 1024 + 12345))
    return path


@pytest.fixture
async def transfer(tmp_path: Path) -> HttpTransfer:
    backend = HttpTransfer(load_settings(data_dir=tmp_path, allow_private_networks=True))
    yield backend
    await backend.close()


async def _fetch(transfer: HttpTransfer, url: str, dest: Path) -> tuple[Path, str]:
    progress: list[Progress] = []
    result = await transfer.fetch(MediaPlan(url=url), dest, progress.append)
    assert result.digest is not None
    assert result.digest.applies_to(result.path)
    assert progress[-1].bytes_done == result.size == result.path.stat().st_size
    return result.path, result.digest.sha256


@pytest.mark.parametrize("route", ["media", "nosize"])  # with and without Content-Length
async def test_the_digest_is_the_hash_of_the_delivered_file(
    transfer: HttpTransfer, media_server: MediaServer, payload: Path, tmp_path: Path, route: str
) -> None:
    path, digest = await _fetch(transfer, media_server.url(f"/{route}/payload.bin"), tmp_path)
    assert digest == sha256_of(path) == sha256_of(payload)
    assert not list(tmp_path.glob("*.part"))


async def test_a_resumed_download_hashes_the_bytes_already_on_disk(
    transfer: HttpTransfer, media_server: MediaServer, payload: Path, tmp_path: Path
) -> None:
    data = payload.read_bytes()
    (tmp_path / "download.part").write_bytes(data[:1_000_000])  # an earlier attempt's part
    key = f"resume{time.monotonic_ns()}"
    path, digest = await _fetch(transfer, media_server.url(f"/media/payload.bin?k={key}"), tmp_path)
    assert digest == sha256_of(path) == hashlib.sha256(data).hexdigest()
    ranged = [r for r in media_server.requests("/media/payload.bin") if r.query.get("k") == key]
    assert [r.range for r in ranged] == ["bytes=1000000-"]  # only the rest was sent


async def test_the_digest_covers_what_is_on_disk_not_what_was_sent(
    transfer: HttpTransfer, media_server: MediaServer, payload: Path, tmp_path: Path
) -> None:
    """A part file whose bytes differ from the server's: the stored hash must still be
    the hash of the file as delivered (it is the file's, whatever its history)."""
    (tmp_path / "download.part").write_bytes(b"\0" * 500_000)
    path, digest = await _fetch(transfer, media_server.url("/media/payload.bin"), tmp_path)
    assert digest == sha256_of(path)
    assert digest != sha256_of(payload)


async def test_a_server_that_ignores_range_starts_over(
    transfer: HttpTransfer, media_server: MediaServer, payload: Path, tmp_path: Path
) -> None:
    (tmp_path / "download.part").write_bytes(b"stale bytes from before")
    path, digest = await _fetch(transfer, media_server.url("/nosize/payload.bin"), tmp_path)
    assert digest == sha256_of(path) == sha256_of(payload)


async def test_cancel_stops_within_two_seconds_and_removes_the_part(
    transfer: HttpTransfer, media_server: MediaServer, payload: Path, tmp_path: Path
) -> None:
    url = media_server.url("/slow/payload.bin?rate=200000")
    task = asyncio.create_task(transfer.fetch(MediaPlan(url=url), tmp_path, lambda p: None))
    deadline = time.monotonic() + 10
    while not (tmp_path / "download.part").exists() or (
        (tmp_path / "download.part").stat().st_size < 100_000
    ):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2
    assert not list(tmp_path.iterdir())


async def test_progress_is_reported_while_downloading(
    transfer: HttpTransfer, media_server: MediaServer, payload: Path, tmp_path: Path
) -> None:
    seen: list[Progress] = []
    url = media_server.url("/slow/payload.bin?rate=2000000")
    await transfer.fetch(MediaPlan(url=url), tmp_path, seen.append)
    partial = [p for p in seen if p.bytes_done < payload.stat().st_size]
    assert partial and partial[-1].speed and partial[-1].bytes_total == payload.stat().st_size


async def test_a_plain_http_body_goes_from_the_socket_to_the_file_in_bulk(
    transfer: HttpTransfer,
    media_server: MediaServer,
    payload: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After the first chunk, the body skips Python (splice); the hash still covers all."""
    caplog.set_level(logging.DEBUG, logger="mediaferry.transfer.http")
    url = media_server.url(f"/slow/payload.bin?rate=3000000&k={time.monotonic_ns()}")
    path, digest = await _fetch(transfer, url, tmp_path)
    assert digest == sha256_of(path) == sha256_of(payload)
    moved = [r for r in caplog.records if "straight to the file" in r.getMessage()]
    assert len(moved) == 1
    assert int(moved[0].getMessage().split()[0]) > 2_000_000  # most of the 3 MB


async def test_a_body_cut_short_on_the_bulk_path_says_how_much_arrived(
    transfer: HttpTransfer, media_server: MediaServer, payload: Path, tmp_path: Path
) -> None:
    size = payload.stat().st_size
    with pytest.raises(JobError, match=f"sent {size} of {size + 1000} bytes"):
        await transfer.fetch(
            MediaPlan(url=media_server.url("/lying/payload.bin?extra=1000")), tmp_path, print
        )
    # what arrived stays for a resume
    assert (tmp_path / "download.part").stat().st_size == size


async def test_a_body_that_stalls_on_the_bulk_path_times_out(
    media_server: MediaServer, payload: Path, tmp_path: Path
) -> None:
    settings = load_settings(
        data_dir=tmp_path, allow_private_networks=True, http_read_timeout_s=1.0
    )
    backend = HttpTransfer(settings)
    try:
        started = time.monotonic()
        with pytest.raises(StageTimeout):
            await backend.fetch(
                MediaPlan(url=media_server.url("/stall/payload.bin?after=1500000")),
                tmp_path / "out",
                lambda p: None,
            )
        assert time.monotonic() - started < 10
    finally:
        await backend.close()


async def test_validate_reuses_a_digest_only_for_the_unchanged_file(
    transfer: HttpTransfer, media_server: MediaServer, payload: Path, tmp_path: Path
) -> None:
    result = await transfer.fetch(
        MediaPlan(url=media_server.url("/media/payload.bin")), tmp_path, lambda p: None
    )
    assert result.digest is not None
    kept = await validate_file(result.path, limit_bytes=1 << 30, media=False, digest=result.digest)
    assert kept.sha256 == result.digest.sha256 == sha256_of(result.path)
    # a digest that no longer applies (the file was rewritten) is not trusted
    stale = FileDigest("0" * 64, result.digest.identity)
    assert stale.applies_to(result.path)  # same file: it would be re-used as it is
    with result.path.open("ab") as handle:
        handle.write(b"changed")
    assert not stale.applies_to(result.path)
    fresh = await validate_file(result.path, limit_bytes=1 << 30, media=False, digest=stale)
    assert fresh.sha256 == sha256_of(result.path)


@pytest.fixture
def tls_server(tmp_path: Path, payload: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS file server on 127.0.0.1 with a self-signed certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(payload.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_tls_downloads_through_the_checked_bulk_stream(
    tls_server: tuple[str, Path], payload: Path
) -> None:
    base, cert = tls_server
    verified = httpx.AsyncHTTPTransport(retries=0, verify=ssl.create_default_context(cafile=cert))
    verified._pool._network_backend = SafeNetworkBackend(allow_private=True)
    async with httpx.AsyncClient(transport=verified) as client:
        async with client.stream("GET", f"{base}/payload.bin") as response:
            body = b"".join([chunk async for chunk in response.aiter_raw()])
        assert response.status_code == 200
        assert hashlib.sha256(body).hexdigest() == sha256_of(payload)
    # the certificate is checked: the default (certifi) context refuses this one
    transfer = HttpTransfer(load_settings(data_dir=cert.parent, allow_private_networks=True))
    try:
        with pytest.raises(JobError, match="CERTIFICATE_VERIFY_FAILED"):
            url = f"{base}/payload.bin"
            await transfer.fetch(MediaPlan(url=url), cert.parent / "dl", lambda p: None)
    finally:
        await transfer.close()


async def test_the_bulk_path_reads_and_writes_where_the_file_refuses_splice(
    tmp_path: Path,
) -> None:
    """A file opened for appending refuses splice(2) (EINVAL), as a file system without
    it would: the bytes already in the pipe and the rest go by read and write, and the
    hash, following behind, still covers every byte."""
    data = os.urandom(3_000_000)
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    path = tmp_path / "file"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with socket.create_connection(server.getsockname()) as client:
        client.setblocking(False)
        digest = hashlib.sha256()
        hasher = _Follower(path, 0, digest)
        job = _Splice(
            client.fileno(), len(data) + 10, 5.0, asyncio.get_running_loop().create_future()
        )
        try:
            await asyncio.to_thread(_move, job, fd, hasher)
        finally:
            hasher.finish()
            os.close(fd)
    thread.join(5)
    server.close()
    assert job.moved == len(data)  # the peer closed: fewer than asked, no error
    assert path.read_bytes() == data
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
