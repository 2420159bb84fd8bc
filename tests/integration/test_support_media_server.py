"""Self-tests of the generated media and the local media server (tests/support)."""

from __future__ import annotations

import itertools
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.media_fixtures import MEDIA_FILES, ffprobe_json, make_sparse_file
from tests.support.media_server import MediaServer, sha256_of
from tests.support.torrent import bdecode, bencode, info_hash, magnet_for, make_torrent


def _streams(path: Path) -> dict[str, dict[str, object]]:
    probe = ffprobe_json(path)
    streams = probe["streams"]
    assert isinstance(streams, list)
    return {s["codec_type"]: s for s in streams}


def _duration(path: Path) -> float:
    fmt = ffprobe_json(path)["format"]
    assert isinstance(fmt, dict)
    return float(fmt["duration"])


# --- generated media -------------------------------------------------------------------


def test_every_media_file_exists(media_dir: Path) -> None:
    for name in MEDIA_FILES:
        assert (media_dir / name).is_file(), name
    assert (media_dir / "empty.mp4").stat().st_size == 0
    assert (media_dir / "corrupt.mp4").stat().st_size > 0


def test_h264_aac_mp4_is_h264_aac_and_not_faststart(media_dir: Path) -> None:
    path = media_dir / "h264_aac.mp4"
    streams = _streams(path)
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (320, 240)
    assert streams["audio"]["codec_name"] == "aac"
    assert 4.5 < _duration(path) < 5.5
    data = path.read_bytes()
    assert data.find(b"moov") > data.find(b"mdat")  # moov at the end


@pytest.mark.parametrize(
    ("name", "video", "audio"),
    [
        ("vp9_opus.webm", "vp9", "opus"),
        ("noaudio.mp4", "h264", None),
        ("audio.mp3", None, "mp3"),
        ("audio.m4a", None, "aac"),
        ("audio.opus", None, "opus"),
        ("long.mp4", "h264", "aac"),
    ],
)
def test_media_codecs(media_dir: Path, name: str, video: str | None, audio: str | None) -> None:
    streams = _streams(media_dir / name)
    assert streams.get("video", {}).get("codec_name") == video
    assert streams.get("audio", {}).get("codec_name") == audio


def test_mp3_has_no_tags(media_dir: Path) -> None:
    data = (media_dir / "audio.mp3").read_bytes()
    assert not data.startswith(b"ID3")
    assert data[-128:-125] != b"TAG"
    fmt = ffprobe_json(media_dir / "audio.mp3")["format"]
    assert isinstance(fmt, dict)
    assert not fmt.get("tags")


def test_long_mp4_keyframes_every_two_seconds(media_dir: Path) -> None:
    path = media_dir / "long.mp4"
    assert 29 < _duration(path) < 31
    out = subprocess.run(
        [
            "ffprobe", "-v", "error", "-select_streams", "v", "-skip_frame", "nokey",
            "-show_entries", "frame=pts_time", "-of", "csv=p=0", str(path),
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    keys = [float(x.strip(",")) for x in out.split()]
    assert len(keys) == 15
    assert all(abs(b - a - 2.0) < 0.05 for a, b in itertools.pairwise(keys))


def test_hls_has_at_least_six_segments(media_dir: Path) -> None:
    playlist = (media_dir / "hls" / "index.m3u8").read_text()
    segments = [line for line in playlist.splitlines() if line.endswith(".ts")]
    assert len(segments) >= 6
    assert "#EXT-X-ENDLIST" in playlist
    assert all((media_dir / "hls" / s).is_file() for s in segments)


def test_cover_is_320_square_jpeg(media_dir: Path) -> None:
    s = _streams(media_dir / "cover.jpg")["video"]
    assert (s["codec_name"], s["width"], s["height"]) == ("mjpeg", 320, 320)


def test_make_sparse_file(tmp_path: Path) -> None:
    path = make_sparse_file(tmp_path / "big.bin", 3 * 1024**3)
    assert path.stat().st_size == 3 * 1024**3
    assert path.stat().st_blocks * 512 < 1024**2


# --- static files & Range --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ctype"),
    [
        ("h264_aac.mp4", "video/mp4"),
        ("vp9_opus.webm", "video/webm"),
        ("audio.mp3", "audio/mpeg"),
        ("audio.m4a", "audio/mp4"),
        ("hls/index.m3u8", "application/vnd.apple.mpegurl"),
        ("hls/seg000.ts", "video/mp2t"),
        ("cover.jpg", "image/jpeg"),
        ("links.txt", "text/plain; charset=utf-8"),
    ],
)
def test_get_static_file(media_server: MediaServer, media_dir: Path, name: str, ctype: str) -> None:
    r = httpx.get(media_server.media_url(name))
    assert r.status_code == 200
    assert r.headers["content-type"] == ctype
    assert r.headers["accept-ranges"] == "bytes"
    assert "last-modified" in r.headers
    assert int(r.headers["content-length"]) == (media_dir / name).stat().st_size
    assert r.content == (media_dir / name).read_bytes()


def test_head_has_headers_and_no_body(media_server: MediaServer, media_dir: Path) -> None:
    r = httpx.head(media_server.media_url("h264_aac.mp4"))
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == (media_dir / "h264_aac.mp4").stat().st_size
    assert r.content == b""


def test_empty_file(media_server: MediaServer) -> None:
    r = httpx.get(media_server.media_url("empty.mp4"))
    assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "0")


@pytest.mark.parametrize(
    ("range_header", "sl"),
    [
        ("bytes=0-99", slice(0, 100)),
        ("bytes=1000-", slice(1000, None)),
        ("bytes=-500", slice(-500, None)),
        ("bytes=100-99999999", slice(100, None)),
    ],
)
def test_range(media_server: MediaServer, media_dir: Path, range_header: str, sl: slice) -> None:
    data = (media_dir / "h264_aac.mp4").read_bytes()
    r = httpx.get(media_server.media_url("h264_aac.mp4"), headers={"Range": range_header})
    assert r.status_code == 206
    assert r.content == data[sl]
    start = sl.start if sl.start >= 0 else len(data) + sl.start
    assert (
        r.headers["content-range"]
        == f"bytes {start}-{len(data) - 1 if sl.stop is None else sl.stop - 1}/{len(data)}"
    )


def test_range_not_satisfiable(media_server: MediaServer, media_dir: Path) -> None:
    size = (media_dir / "h264_aac.mp4").stat().st_size
    r = httpx.get(media_server.media_url("h264_aac.mp4"), headers={"Range": f"bytes={size}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{size}"


def test_curl_resumes_with_range(
    media_server: MediaServer, media_dir: Path, tmp_path: Path
) -> None:
    data = (media_dir / "h264_aac.mp4").read_bytes()
    out = tmp_path / "part.mp4"
    out.write_bytes(data[:10_000])
    subprocess.run(
        ["curl", "-sSf", "-C", "-", "-o", str(out), media_server.media_url("h264_aac.mp4")],
        check=True,
        timeout=10,
    )
    assert out.read_bytes() == data
    ranges = [r.range for r in media_server.requests("/media/h264_aac.mp4")]
    assert "bytes=10000-" in ranges


def test_missing_file_and_traversal_are_404(media_server: MediaServer) -> None:
    assert httpx.get(media_server.url("/media/nope.mp4")).status_code == 404
    assert httpx.get(media_server.url("/media/..%2F..%2Fetc%2Fpasswd")).status_code == 404
    assert httpx.get(media_server.url("/unknown/x")).status_code == 404


def test_requests_are_recorded(media_server: MediaServer) -> None:
    marker = uuid.uuid4().hex
    httpx.get(media_server.url(f"/status/200?m={marker}"), headers={"X-Test": marker})
    recorded = [r for r in media_server.requests("/status/200") if r.query.get("m") == marker]
    assert len(recorded) == 1
    assert recorded[0].method == "GET"
    assert recorded[0].headers["x-test"] == marker


# --- misbehaving responses -------------------------------------------------------------


def test_slow_is_throttled(media_server: MediaServer, media_dir: Path) -> None:
    data = (media_dir / "h264_aac.mp4").read_bytes()
    began = time.monotonic()
    r = httpx.get(
        media_server.url("/slow/h264_aac.mp4?rate=100000"), headers={"Range": "bytes=0-49999"}
    )
    elapsed = time.monotonic() - began
    assert r.status_code == 206
    assert r.content == data[:50_000]
    assert 0.4 < elapsed < 3


def test_stall_sends_n_bytes_then_hangs(media_server: MediaServer, media_dir: Path) -> None:
    data = (media_dir / "h264_aac.mp4").read_bytes()
    got = b""
    with (
        httpx.Client(timeout=httpx.Timeout(5, read=0.5)) as client,
        client.stream("GET", media_server.url("/stall/h264_aac.mp4?after=3000")) as r,
    ):
        assert int(r.headers["content-length"]) == len(data)
        with pytest.raises(httpx.ReadTimeout):
            for chunk in r.iter_raw():
                got += chunk
    assert got == data[:3000]


def test_lying_length_is_a_short_body(media_server: MediaServer, tmp_path: Path) -> None:
    url = media_server.url("/lying/audio.mp3?extra=5000")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)
    proc = subprocess.run(
        ["curl", "-sS", "-o", str(tmp_path / "x"), url], capture_output=True, timeout=10
    )
    assert proc.returncode == 18  # CURLE_PARTIAL_FILE


@pytest.mark.parametrize("code", [403, 404, 410, 500, 503])
def test_status(media_server: MediaServer, code: int) -> None:
    r = httpx.get(media_server.url(f"/status/{code}"))
    assert r.status_code == code
    assert r.text == f"status {code}\n"


def test_ratelimit_per_key(media_server: MediaServer, media_dir: Path) -> None:
    key = uuid.uuid4().hex
    url = media_server.url(f"/ratelimit/{key}/audio.mp3?times=2&retry_after=7")
    for _ in range(2):
        r = httpx.get(url)
        assert (r.status_code, r.headers["retry-after"]) == (429, "7")
    r = httpx.get(url)
    assert r.status_code == 200
    assert r.content == (media_dir / "audio.mp3").read_bytes()
    other = httpx.get(media_server.url(f"/ratelimit/{key}x/audio.mp3?times=1"))
    assert other.status_code == 429
    result = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url], capture_output=True
    )
    assert result.stdout == b"200"


def test_flaky_per_key(media_server: MediaServer) -> None:
    key = uuid.uuid4().hex
    url = media_server.url(f"/flaky/{key}/audio.mp3?times=3&code=503")
    assert [httpx.get(url).status_code for _ in range(4)] == [503, 503, 503, 200]
    assert media_server.hits(f"/flaky/{key}/") == 4


def test_redirect(media_server: MediaServer, media_dir: Path) -> None:
    r = httpx.get(media_server.url("/redirect?to=/media/audio.mp3"))
    assert (r.status_code, r.headers["location"]) == (302, "/media/audio.mp3")
    r = httpx.get(media_server.url("/redirect?to=/media/audio.mp3"), follow_redirects=True)
    assert r.content == (media_dir / "audio.mp3").read_bytes()


def test_nosize_is_chunked(media_server: MediaServer, media_dir: Path) -> None:
    r = httpx.get(media_server.url("/nosize/long.mp4"))
    assert "content-length" not in r.headers
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.content == (media_dir / "long.mp4").read_bytes()


def test_ctype_serves_extensionless_url(media_server: MediaServer, media_dir: Path) -> None:
    url = media_server.url("/ctype/download?file=h264_aac.mp4&type=video/mp4&filename=clip.mp4")
    r = httpx.get(url, headers={"Range": "bytes=0-9"})
    assert r.status_code == 206
    assert r.headers["content-type"] == "video/mp4"
    assert r.headers["content-disposition"] == 'attachment; filename="clip.mp4"'
    assert r.content == (media_dir / "h264_aac.mp4").read_bytes()[:10]


# --- pages -----------------------------------------------------------------------------


def test_pages(media_server: MediaServer) -> None:
    def page(name: str) -> str:
        r = httpx.get(media_server.url(f"/pages/{name}"))
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        return r.text

    assert '<source src="/media/h264_aac.mp4" type="video/mp4">' in page("video.html")
    assert '<audio controls src="/media/audio.mp3">' in page("audio.html")
    js = page("js_player.html")
    assert "h264_aac.mp4" not in js and "<video" not in js and "<script>" in js
    islamic = page("islamic.html")
    assert f'href="{media_server.base_url}/media/audio.mp3"' in islamic
    assert 'href="/media/h264_aac.mp4"' in islamic and "الشيخ" in islamic
    nomedia = page("nomedia.html")
    assert "<video" not in nomedia and "<audio" not in nomedia
    assert page("broken.html").rstrip().endswith("h264_aac.mp")
    assert page("playlist.html").count("/media/") >= 4
    url = media_server.add_page(f"{uuid.uuid4().hex}.html", "<p>{base}</p>")
    assert httpx.get(url).text == f"<p>{media_server.base_url}</p>"


# --- torrents --------------------------------------------------------------------------


def test_bencode_roundtrip() -> None:
    value = {"b": [1, b"x", {"a": -3}], "a": "str"}
    encoded = bencode(value)  # type: ignore[arg-type]
    assert encoded == b"d1:a3:str1:bli1e1:xd1:ai-3eeee"
    assert bdecode(encoded) == {b"a": b"str", b"b": [1, b"x", {b"a": -3}]}


def test_torrent_is_valid(media_server: MediaServer, media_dir: Path) -> None:
    r = httpx.get(media_server.url("/torrent/long.mp4.torrent"))
    assert r.headers["content-type"] == "application/x-bittorrent"
    meta = bdecode(r.content)
    assert isinstance(meta, dict)
    info = meta[b"info"]
    assert isinstance(info, dict)
    assert info[b"name"] == b"long.mp4"
    assert info[b"length"] == (media_dir / "long.mp4").stat().st_size
    assert meta[b"url-list"] == [media_server.media_url("long.mp4").encode()]
    assert r.content == make_torrent(media_dir / "long.mp4", media_server.media_url("long.mp4"))
    magnet = magnet_for(r.content)
    assert magnet.startswith(f"magnet:?xt=urn:btih:{info_hash(r.content)}&dn=long.mp4")


def _aria2c(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "aria2c", "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
            "--enable-peer-exchange=false", "--seed-time=0", "--bt-tracker-connect-timeout=1",
            "--bt-stop-timeout=20", "--follow-torrent=mem",
            "--no-conf", "--quiet=true", "--allow-overwrite=true", "--auto-file-renaming=false",
            "--dir", str(cwd), *args,
        ],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("name", ["long.mp4", "audio.mp3"])
def test_aria2c_downloads_torrent_from_web_seed(
    media_server: MediaServer, media_dir: Path, tmp_path: Path, name: str
) -> None:
    began = time.monotonic()
    proc = _aria2c([media_server.url(f"/torrent/{name}.torrent")], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert time.monotonic() - began < 10
    assert sha256_of(tmp_path / name) == sha256_of(media_dir / name)


def test_aria2c_downloads_torrent_file(
    media_server: MediaServer, media_dir: Path, tmp_path: Path
) -> None:
    torrent = tmp_path / "t.torrent"
    torrent.write_bytes(media_server.torrent_bytes("h264_aac.mp4"))
    out = tmp_path / "out"
    proc = _aria2c(["--torrent-file", str(torrent)], out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sha256_of(out / "h264_aac.mp4") == sha256_of(media_dir / "h264_aac.mp4")


# --- server robustness -----------------------------------------------------------------


def test_fast_enough_for_benchmarks(tmp_path: Path) -> None:
    size = 256 * 1024**2
    make_sparse_file(tmp_path / "big.bin", size)
    with MediaServer(tmp_path) as server:
        began = time.monotonic()
        got = 0
        with httpx.Client() as client, client.stream("GET", server.media_url("big.bin")) as r:
            assert r.headers["content-type"] == "application/octet-stream"
            for chunk in r.iter_raw(1024 * 1024):
                got += len(chunk)
        elapsed = time.monotonic() - began
    assert got == size
    assert size / elapsed > 100 * 1024**2, f"{size / elapsed / 1024**2:.0f} MiB/s"


def test_stop_does_not_wait_for_stalled_clients(media_dir: Path) -> None:
    server = MediaServer(media_dir).start()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"GET /stall/long.mp4?after=10 HTTP/1.1\r\nHost: x\r\n\r\n")
    received = b""
    deadline = time.monotonic() + 5

    def body() -> bytes:
        return received.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in received else b""

    # wait for the headers and the 10 bytes: then the server is stalling for sure
    while len(body()) < 10 and time.monotonic() < deadline:
        received += sock.recv(4096)
    idle = socket.create_connection(("127.0.0.1", server.port))  # keep-alive, no request
    done = threading.Event()

    def stop() -> None:
        server.stop()
        done.set()

    threading.Thread(target=stop, daemon=True).start()
    assert done.wait(3)
    sock.settimeout(3)
    tail = b""
    while chunk := sock.recv(4096):
        tail += chunk
    assert len(received.split(b"\r\n\r\n", 1)[1] + tail) == 10
    sock.close()
    idle.close()


def test_context_manager_and_urls(media_dir: Path) -> None:
    with MediaServer(media_dir) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.url("media/a.mp4") == server.url("/media/a.mp4")
        url = server.media_url("cover.jpg")
        assert httpx.get(url).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
