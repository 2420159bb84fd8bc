"""The URL policy at connect time, end to end: a server on a public address redirects
to private ones, and every client (httpx, aria2c through the guarding proxy, yt-dlp's
child) refuses the second hop while the first works.

Runs under ``unshare --net``: the "public" server listens on 93.184.216.34, an address
that exists only on the namespace's loopback (see tests.support.netns), so nothing here
can reach a real network whatever happens.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_asyncio

from mediaferry.config import Settings
from mediaferry.errors import JobError, UnsupportedSource, UrlRejected
from mediaferry.net.guard_proxy import GuardProxy
from mediaferry.net.ytdlp_process import run_ytdlp_child
from mediaferry.plan import MediaPlan
from mediaferry.sources.browser import sniff_media
from mediaferry.transfer.aria2 import Aria2Transfer
from mediaferry.transfer.http import HttpTransfer
from mediaferry.urls import check_url
from tests.support.media_server import MediaServer, sha256_of
from tests.support.netns import PUBLIC_TEST_ADDRESS, in_netns

pytestmark = [pytest.mark.netns, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(scope="module")
def public(media_dir: Path) -> Iterator[MediaServer]:
    assert in_netns()
    with MediaServer(media_dir, host=PUBLIC_TEST_ADDRESS) as server:
        yield server


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        allow_private_networks=False,
        data_dir=tmp_path_factory.mktemp("strict"),
        torrent_timeout_s=4,
        http_connect_timeout_s=3,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def aria2(strict: Settings) -> AsyncIterator[Aria2Transfer]:
    transfer = Aria2Transfer(strict)
    yield transfer
    await transfer.close()


def _to(public: MediaServer, target: str) -> str:
    return public.url(f"/redirect?to={quote(target, safe='')}")


def _private_targets(media_server: MediaServer) -> list[str]:
    return [
        media_server.media_url("audio.mp3"),  # 127.0.0.1: reachable, must not be reached
        "http://192.0.0.192/latest/meta-data/",
        "http://[64:ff9b::a9fe:a9fe]/latest/",
        "http://2130706433/x",
    ]


def nothing(progress: object) -> None:
    pass


async def test_httpx_follows_public_and_refuses_private_hops(
    public: MediaServer, media_server: MediaServer, strict: Settings, tmp_path: Path
) -> None:
    transfer = HttpTransfer(strict)
    try:
        ok = await transfer.fetch(
            MediaPlan(url=public.media_url("audio.mp3")), tmp_path / "ok", nothing
        )
        assert ok.size == (public.root / "audio.mp3").stat().st_size
        before = media_server.hits("/media/audio.mp3")
        for target in _private_targets(media_server):
            with pytest.raises(JobError, match=r"private or local|not a valid"):
                await transfer.fetch(MediaPlan(url=_to(public, target)), tmp_path / "x", nothing)
        assert media_server.hits("/media/audio.mp3") == before
    finally:
        await transfer.close()


async def test_aria2c_connects_only_through_the_guard(
    aria2: Aria2Transfer, public: MediaServer, media_server: MediaServer, tmp_path: Path
) -> None:
    plan = MediaPlan(url=public.media_url("audio.mp3"), protocol="aria2")
    ok = await aria2.fetch(plan, tmp_path / "ok", nothing)
    assert sha256_of(ok.path) == sha256_of(public.root / "audio.mp3")
    # a web seed on the public host that redirects to loopback: the pre-checks pass
    # (the seed itself is public); aria2c's own request for the redirect target is
    # refused by the proxy
    before = media_server.hits("/media/audio.mp3")
    seed = _to(public, media_server.media_url("audio.mp3"))
    torrent = public.torrent_bytes("audio.mp3", seed=seed)
    plan = MediaPlan(
        url=public.url("/torrent/audio.mp3.torrent"),
        protocol="torrent",
        extra={"torrent_b64": base64.b64encode(torrent).decode()},
    )
    with pytest.raises(UnsupportedSource, match="refused by the URL policy"):
        await aria2.fetch(plan, tmp_path / "t", nothing)
    assert media_server.hits("/media/audio.mp3") == before


async def test_ytdlp_child_refuses_private_hops(
    public: MediaServer, media_server: MediaServer
) -> None:
    request = {"mode": "extract", "opts": {}, "allow_private": False}
    key = uuid.uuid4().hex[:10]
    info = await run_ytdlp_child({**request, "url": public.media_url("h264_aac.mp4") + f"?k={key}"})
    assert info["info"]["ext"] == "mp4"
    # the child went through the guarding proxy (it forwards with Connection: close)
    seen = [r for r in public.requests("/media/h264_aac.mp4") if r.query.get("k") == key]
    assert seen and {r.headers.get("connection") for r in seen} == {"close"}
    before = media_server.hits("/media/h264_aac.mp4")
    target = media_server.media_url("h264_aac.mp4")
    with pytest.raises(UnsupportedSource, match=r"refused by the URL policy.*private"):
        await run_ytdlp_child({**request, "url": _to(public, target)})
    assert media_server.hits("/media/h264_aac.mp4") == before


async def _proxy_status(proxy: GuardProxy, request: bytes) -> bytes:
    host, port = proxy.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        return (await reader.readline()).strip()
    finally:
        writer.close()


async def test_the_guard_is_no_open_proxy_and_remembers_refusals(
    public: MediaServer, media_server: MediaServer
) -> None:
    proxy = GuardProxy(connect_timeout=3)
    await proxy.start()
    try:
        session = proxy.session()
        auth = base64.b64encode(f"{session.user}:{session.password}".encode())
        private = f"127.0.0.1:{media_server.port}".encode()
        open_ = f"{PUBLIC_TEST_ADDRESS}:{public.port}".encode()
        assert b" 407 " in await _proxy_status(proxy, b"CONNECT " + open_ + b" HTTP/1.1\r\n\r\n")
        with_auth = b"Proxy-Authorization: Basic " + auth + b"\r\n\r\n"
        line = await _proxy_status(proxy, b"CONNECT " + private + b" HTTP/1.1\r\n" + with_auth)
        assert b" 403 " in line and "127.0.0.0/8" in session.refused[0]
        line = await _proxy_status(proxy, b"CONNECT " + open_ + b" HTTP/1.1\r\n" + with_auth)
        assert b" 200 " in line
        proxy.end(session)
        assert b" 407 " in await _proxy_status(
            proxy, b"CONNECT " + open_ + b" HTTP/1.1\r\n" + with_auth
        )
    finally:
        await proxy.close()


async def test_a_kept_alive_client_gets_every_answer_through_the_guard(
    public: MediaServer,
) -> None:
    # one request per proxy connection, and the answer says so (the server did not): a
    # client that keeps connections alive opens a new one for its next request instead
    # of sending it on this one as the proxy closes it
    proxy = GuardProxy(connect_timeout=3)
    await proxy.start()
    try:
        session = proxy.session()
        auth = base64.b64encode(f"{session.user}:{session.password}".encode()).decode()
        host, port = proxy.url.removeprefix("http://").split(":")

        def two_requests() -> list[tuple[int, str | None, bytes]]:
            answers = []
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                for path in ("/redirect?to=/media/audio.mp3", "/media/links.txt"):
                    headers = {"Proxy-Authorization": f"Basic {auth}"}
                    conn.request("GET", public.url(path), headers=headers)
                    answer = conn.getresponse()
                    answers.append((answer.status, answer.getheader("Connection"), answer.read()))
            finally:
                conn.close()
            return answers

        (first, connection, _), (second, _, body) = await asyncio.to_thread(two_requests)
        assert (first, connection, second) == (302, "close", 200)
        assert body == (public.root / "links.txt").read_bytes()
        assert not session.refused
    finally:
        await proxy.close()


async def test_chromium_requests_to_private_addresses_are_aborted(
    public: MediaServer, media_server: MediaServer, strict: Settings
) -> None:
    key = uuid.uuid4().hex[:10]
    html = (
        "<html><body>"
        f'<video src="{public.media_url("h264_aac.mp4")}?k={key}"></video>'
        f'<video src="{media_server.media_url("noaudio.mp4")}?k={key}"></video>'
        f'<img src="http://192.0.0.192/latest/meta-data/?k={key}">'
        f'<script>fetch("{media_server.media_url("audio.mp3")}?k={key}")</script>'
        "</body></html>"
    )
    page = public.add_page(f"mixed-{key}.html", html)
    settings = strict.model_copy(update={"browser_settle_s": 1.0, "browser_timeout_s": 20})
    found = {s.url for s in await sniff_media(page, settings)}
    assert f"{public.media_url('h264_aac.mp4')}?k={key}" in found
    # Chromium went through the guarding proxy (it forwards with Connection: close)
    page_requests = public.requests(f"/pages/mixed-{key}.html")
    assert page_requests and page_requests[0].headers.get("connection") == "close"
    # Chromium never reached the loopback server: the route guard aborted the requests
    assert not [r for r in media_server.requests() if r.query.get("k") == key]
    # what the DOM names but was never fetched is refused before any download
    for url in found - {f"{public.media_url('h264_aac.mp4')}?k={key}"}:
        with pytest.raises(UrlRejected, match="private or local"):
            check_url(url)


async def _run_python(code: str, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, *args, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await proc.communicate()
    assert proc.returncode == 0
    return stdout.decode()


async def test_without_the_proxy_the_ytdlp_guard_leaves_no_handler_that_resolves_in_c() -> None:
    # curl_cffi (impersonation) resolves inside libcurl, past the getaddrinfo guard: a
    # child given no guarding proxy (an older parent) must not keep it; given the proxy
    # it keeps every handler, since they all connect only through the proxy
    code = (
        "import sys\n"
        "from mediaferry.net.ytdlp_child import network_opts\n"
        "from yt_dlp.networking.common import _REQUEST_HANDLERS\n"
        "print(network_opts({'allow_private': False, 'proxy': sys.argv[1]}))\n"
        "print(sorted(_REQUEST_HANDLERS))\n"
    )
    handlers = await _run_python(code, "")
    assert "Urllib" in handlers and "curl" not in handlers.lower()
    handlers = await _run_python(code, "http://u:p@127.0.0.1:9")
    assert "'proxy': 'http://u:p@127.0.0.1:9'" in handlers and "CurlCFFI" in handlers


# In a child set up as a job's child (network_opts, route_through_guard), yt-dlp's
# request director sends each URL with the "impersonate" extension, which only the
# curl_cffi handler serves.
_CURL_FETCH = """
import json, sys
from yt_dlp import YoutubeDL
from yt_dlp.networking import Request
from yt_dlp.networking.exceptions import HTTPError, RequestError
from yt_dlp.networking.impersonate import ImpersonateTarget
from mediaferry.net.ytdlp_child import network_opts, route_through_guard

opts = network_opts({"allow_private": False, "proxy": sys.argv[1]})
out = []
with YoutubeDL({**opts, "quiet": True, "no_warnings": True}) as ydl:
    route_through_guard(ydl, opts["proxy"])
    for url in sys.argv[2:]:
        req = Request(url, extensions={"impersonate": ImpersonateTarget("chrome")})
        try:
            resp = ydl.urlopen(req)
            size = len(resp.read())
            target = resp.extensions.get("impersonate")
            out.append({"status": resp.status, "size": size, "target": str(target)})
        except HTTPError as exc:
            target = exc.response.extensions.get("impersonate")
            out.append({"error": "HTTPError", "status": exc.status, "target": str(target)})
        except RequestError as exc:
            handler = getattr(exc.handler, "RH_NAME", None)
            out.append({"error": type(exc).__name__, "handler": handler, "msg": str(exc)})
print(json.dumps(out))
"""


async def test_ytdlp_curl_cffi_connects_only_through_the_guard(
    public: MediaServer, media_server: MediaServer
) -> None:
    proxy = GuardProxy(connect_timeout=3)
    await proxy.start()
    session = proxy.session()
    url = proxy.url.replace("://", f"://{session.user}:{session.password}@")
    key = uuid.uuid4().hex[:10]
    loopback = f"{media_server.media_url('audio.mp3')}?k={key}"
    https_loopback = f"https://127.0.0.1:{media_server.port}/media/audio.mp3?k={key}"
    urls = [
        f"{public.media_url('audio.mp3')}?k={key}",  # public: fetched, impersonating
        _to(public, loopback),  # plain HTTP redirect to loopback (absolute-form)
        _to(public, "http://192.0.0.192/latest/meta-data/"),
        _to(public, https_loopback),  # HTTPS redirect to loopback (CONNECT)
        "https://192.0.0.192/latest/meta-data/",
    ]
    try:
        results = json.loads(await _run_python(_CURL_FETCH, url, *urls))
    finally:
        proxy.end(session)
        await proxy.close()
    ok, *refused = results
    assert ok["status"] == 200 and ok["target"].startswith("chrome"), ok
    assert ok["size"] == (public.root / "audio.mp3").stat().st_size
    # curl_cffi sent it through the guard (absolute-form, forwarded with Connection: close)
    first = public.requests("/media/audio.mp3")
    assert [r.headers.get("connection") for r in first if r.query.get("k") == key] == ["close"]
    # plain HTTP: curl_cffi followed the redirect and got the guard's 403
    for result in refused[:2]:
        assert result["error"] == "HTTPError" and result["status"] == 403, result
        assert result["target"].startswith("chrome"), result
    # HTTPS: the guard refused the CONNECT; curl_cffi reports a proxy error
    for result in refused[2:]:
        assert result["error"] == "ProxyError" and result["handler"] == "curl_cffi", result
    hosts = sorted(reason.split(":")[0] for reason in session.refused)
    assert hosts == ["127.0.0.1", "127.0.0.1", "192.0.0.192", "192.0.0.192"], session.refused
    # the loopback server never saw a request of this test
    assert not [r for r in media_server.requests() if r.query.get("k") == key]


_WS_FETCH = """
import sys
from yt_dlp import YoutubeDL
from yt_dlp.networking import Request
from yt_dlp.networking.exceptions import RequestError
from mediaferry.net.ytdlp_child import network_opts, route_through_guard

opts = network_opts({"allow_private": False, "proxy": sys.argv[1]})
with YoutubeDL({**opts, "quiet": True, "no_warnings": True}) as ydl:
    route_through_guard(ydl, opts["proxy"])
    for url in sys.argv[2:]:
        try:
            ws = ydl.urlopen(Request(url))
            ws.send("ping")
            print("got", ws.recv())
            ws.close()
        except RequestError as exc:
            print("refused", exc)
"""


async def test_ytdlp_websockets_go_direct_and_are_checked_in_python() -> None:
    # yt-dlp's websockets handler takes no HTTP proxy: it connects itself, through the
    # guarded getaddrinfo, so a public host works and a loopback one is never reached
    import threading

    from websockets.sync.server import ServerConnection, serve

    peers: list[str] = []

    def echo(conn: ServerConnection) -> None:
        peers.append(str(conn.local_address[0]))
        for message in conn:
            conn.send(f"pong {message!s}")

    with serve(echo, "0.0.0.0", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        out = await _run_python(
            _WS_FETCH,
            "http://u:p@127.0.0.1:9",  # a proxy websockets must not use (nothing listens)
            f"ws://{PUBLIC_TEST_ADDRESS}:{port}/",
            f"ws://127.0.0.1:{port}/",
        )
        server.shutdown()
    first, second = out.strip().splitlines()
    assert first == "got pong ping", out
    assert second.startswith("refused") and "private or local" in second, out
    assert peers == [PUBLIC_TEST_ADDRESS]
