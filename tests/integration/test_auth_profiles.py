"""Auth profiles on real SQLite and PostgreSQL: validation, choice, degrading, and jobs
through the real pipeline against a local server that wants a cookie."""

from __future__ import annotations

import io
import logging
import os
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from mediaferry.app import Services
from mediaferry.config import Settings
from mediaferry.db.engine import Database
from mediaferry.db.models import AuthProfile, JobEvent, utcnow
from mediaferry.errors import AuthProfileError
from mediaferry.jobs.auth import AuthProfiles
from mediaferry.jobs.states import JobStatus
from mediaferry.jobs.worker import WorkerPool
from mediaferry.logging import configure_logging, redact
from mediaferry.net.cookies import cookie_header, cookie_request_hook, read_cookies
from tests.support.db_fixtures import make_settings
from tests.support.services import wait_done

S = JobStatus
HEADER = "# Netscape HTTP Cookie File\n"


def cookie_file(path: Path, value: str, domain: str = "127.0.0.1", name: str = "session") -> Path:
    path.write_text(f"{HEADER}{domain}\tFALSE\t/\tFALSE\t0\t{name}\t{value}\n")
    return path


# --------------------------------------------------------------------------- validation


async def test_add_copies_the_file_privately_and_stores_only_its_path(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    src = cookie_file(tmp_path / "yt.txt", "AAAA-secret-value-1")
    reg = AuthProfiles(db, settings)
    profile = await reg.add("yt_main", "youtube", src, priority=3)
    copy = settings.data_dir / "cookies" / "yt_main.txt"
    assert profile.cookie_file_path == str(copy)
    assert copy.read_text() == src.read_text()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    src.unlink()  # the registered copy does not depend on the original
    [row] = await reg.list()
    assert (row.id, row.source_type, row.status, row.priority) == (
        "yt_main",
        "YOUTUBE",
        "ACTIVE",
        3,
    )
    assert "AAAA-secret-value-1" not in repr(vars(row))
    assert (await reg.choose("YOUTUBE")) is not None


@pytest.mark.parametrize(
    ("profile_id", "source", "content", "message"),
    [
        ("Bad Id", "youtube", None, "bad profile id"),
        ("x" * 65, "youtube", None, "bad profile id"),
        ("ok", "myspace", None, "unknown source"),
        ("ok", "unsupported", None, "unknown source"),
        ("ok", "youtube", "missing", "not found"),
        ("ok", "youtube", "hello, I am not a cookie file\n", "not a Netscape cookie line"),
        ("ok", "youtube", HEADER, "no cookies"),
        ("ok", "youtube", "a\tb\tc\n", "not a Netscape cookie line"),
        ("ok", "youtube", ".x.com\tMAYBE\t/\tFALSE\t0\tn\tv\n", "not a valid"),
        ("ok", "youtube", b"\x00\x01binary", "binary"),
        ("ok", "youtube", "x" * 5000, "over the"),
    ],
)
async def test_bad_profiles_are_refused_with_a_clear_message(
    db: Database,
    tmp_path: Path,
    db_url: str,
    profile_id: str,
    source: str,
    content: str | bytes | None,
    message: str,
) -> None:
    settings = make_settings(tmp_path, db_url, auth_cookie_max_kb=4)
    src = tmp_path / "c.txt"
    if content is None:
        cookie_file(src, "some-value")
    elif isinstance(content, bytes):
        src.write_bytes(content)
    elif content != "missing":
        src.write_text(content)
    reg = AuthProfiles(db, settings)
    with pytest.raises(AuthProfileError, match=message):
        await reg.add(profile_id, source, src)
    assert await reg.list() == []
    cookies = settings.data_dir / "cookies"
    assert not cookies.exists() or not any(cookies.iterdir())


async def test_duplicate_ids_are_refused_and_the_first_file_kept(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    reg = AuthProfiles(db, settings)
    await reg.add("main", "facebook", cookie_file(tmp_path / "a.txt", "first-value"))
    with pytest.raises(AuthProfileError, match="already exists"):
        await reg.add("main", "youtube", cookie_file(tmp_path / "b.txt", "second-value"))
    assert "first-value" in (settings.data_dir / "cookies" / "main.txt").read_text()
    assert [p.source_type for p in await reg.list()] == ["FACEBOOK"]


async def test_httponly_lines_are_cookies_and_remove_deletes_the_copy(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    src = tmp_path / "c.txt"
    src.write_text("#HttpOnly_.example.com\tTRUE\t/\tTRUE\t0\tsid\thttponly-value\n")
    reg = AuthProfiles(db, settings)
    profile = await reg.add("ex", "direct", src)
    assert Path(profile.cookie_file_path).is_file()
    await reg.remove("ex")
    assert not Path(profile.cookie_file_path).exists()
    assert await reg.list() == []
    with pytest.raises(AuthProfileError, match="no auth profile"):
        await reg.remove("ex")
    with pytest.raises(AuthProfileError, match="no auth profile"):
        await reg.disable("ex")


def test_cookie_header_matches_host_path_scheme_and_expiry(tmp_path: Path) -> None:
    past = int(time.time()) - 3600
    src = tmp_path / "c.txt"
    src.write_text(
        HEADER
        + ".example.com\tTRUE\t/\tFALSE\t0\twide\tw-value\n"
        + "example.com\tFALSE\t/media\tFALSE\t0\tpathy\tp-value\n"
        + "example.com\tFALSE\t/\tTRUE\t0\tsecure\ts-value\n"
        + f"example.com\tFALSE\t/\tFALSE\t{past}\told\to-value\n"
        + "other.org\tFALSE\t/\tFALSE\t0\tother\tx-value\n"
    )
    assert cookie_header(src, "http://cdn.example.com/a.mp4") == "wide=w-value"
    assert cookie_header(src, "http://example.com/media/a.mp4") == "wide=w-value; pathy=p-value"
    assert cookie_header(src, "https://example.com/a.mp4") == "wide=w-value; secure=s-value"
    assert cookie_header(src, "http://notexample.com/a.mp4") is None
    assert cookie_header(None, "http://example.com/") is None
    # read for use: every value is now a log secret
    assert redact("w-value p-value s-value x-value") == "*** *** *** ***"


# --------------------------------------------------------------------------- choosing


async def _set(db: Database, profile_id: str, **values: Any) -> None:
    async with db.session() as session:
        await session.execute(
            update(AuthProfile).where(AuthProfile.id == profile_id).values(**values)
        )


async def test_choose_prefers_active_by_priority_then_fewest_failures_then_degraded(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    reg = AuthProfiles(db, settings)
    src = cookie_file(tmp_path / "c.txt", "v-choose")
    for pid, prio in [("low", 0), ("high_a", 5), ("high_b", 5), ("deg", 50), ("off", 100)]:
        await reg.add(pid, "youtube", src, priority=prio)
    await reg.add("fb", "facebook", src, priority=1000)
    await _set(db, "high_a", failure_count=2, last_failure_at=utcnow())
    await _set(db, "deg", status="DEGRADED")
    await reg.disable("off")

    order: list[str] = []
    while (p := await reg.choose("YOUTUBE", order)) is not None:
        order.append(p.id)
    assert order == ["high_b", "high_a", "low", "deg"]  # never "off", never another source
    assert [p.id for p in await reg.list("youtube")] == ["high_b", "high_a", "low", "deg", "off"]

    # a profile whose cookie file vanished is skipped
    Path((await reg.choose("YOUTUBE")).cookie_file_path).unlink()  # type: ignore[union-attr]
    assert (await reg.choose("YOUTUBE")).id == "high_a"  # type: ignore[union-attr]
    assert await reg.choose("TORRENT") is None


async def test_repeated_failures_degrade_and_a_success_restores(
    db: Database, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert settings.auth_degrade_after == 3
    reg = AuthProfiles(db, settings)
    await reg.add("yt", "youtube", cookie_file(tmp_path / "c.txt", "v-degrade"))
    await reg.add("yt2", "youtube", cookie_file(tmp_path / "d.txt", "v-degrade2"), priority=-1)
    for n in (1, 2):
        p = await reg.report("yt", ok=False)
        assert p is not None and (p.status, p.failure_count) == ("ACTIVE", n)
        assert p.last_failure_at is not None
    with caplog.at_level(logging.WARNING, logger="mediaferry.jobs.auth"):
        p = await reg.report("yt", ok=False)
    assert p is not None and (p.status, p.failure_count) == ("DEGRADED", 3)
    assert any("DEGRADED" in r.getMessage() for r in caplog.records)
    # degraded profiles come after active ones, whatever their priority
    assert (await reg.choose("YOUTUBE")).id == "yt2"  # type: ignore[union-attr]

    p = await reg.report("yt", ok=True)
    assert p is not None and (p.status, p.failure_count) == ("ACTIVE", 0)
    assert p.last_success_at is not None
    assert (await reg.choose("YOUTUBE")).id == "yt"  # type: ignore[union-attr]

    for _ in range(5):
        await reg.report("yt", ok=False)
    await reg.disable("yt")
    assert (await reg.report("yt", ok=True)).status == "DISABLED"  # type: ignore[union-attr]
    enabled = await reg.enable("yt")
    assert (enabled.status, enabled.failure_count) == ("ACTIVE", 0)
    assert await reg.report("nope", ok=True) is None


# --------------------------------------------------------------------------- jobs


class CookieServer:
    """A local HTTP server whose files need ``Cookie: session=<good>``; records requests."""

    def __init__(self, body: bytes, good: str) -> None:
        self.body = body
        self.good = good
        self.seen: list[tuple[str, str, str | None]] = []  # (method, path, Cookie header)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                cookie = self.headers.get("Cookie")
                outer.seen.append((self.command, self.path, cookie))
                wanted = f"session={outer.good}"
                if cookie is None or wanted not in [c.strip() for c in cookie.split(";")]:
                    self.send_response(403)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    if body:
                        self.wfile.write(b"forbidden")
                    return
                content, kind = outer.body, "video/mp4"
                if self.path.startswith("/page/"):  # a lecture page whose player needs it too
                    media = self.path.replace("/page/", "/private/", 1) + "/clip.mp4"
                    content = (
                        "<html><head><title>Lecture for members</title></head><body>"
                        f'<video controls src="{media}"></video></body></html>'
                    ).encode()
                    kind = "text/html; charset=utf-8"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if body:
                    self.wfile.write(content)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def cookies_sent(self, prefix: str) -> list[str | None]:
        return [c for _, p, c in self.seen if p.startswith(prefix)]


GOOD = "good-" + uuid.uuid4().hex
BAD = "bad-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def cookie_server(media_dir: Path) -> Iterator[CookieServer]:
    server = CookieServer((media_dir / "h264_aac.mp4").read_bytes(), GOOD)
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything the structured JSON logger writes during the test."""
    root = logging.getLogger()
    level = root.level
    buf = io.StringIO()
    configure_logging("DEBUG", "json", stream=buf)
    try:
        yield buf
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "_mediaferry", False):
                root.removeHandler(handler)
        root.setLevel(level)


async def events(services: Services, job_id: int) -> list[JobEvent]:
    async with services.db.session() as session:
        rows = await session.scalars(
            select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)
        )
        return list(rows.all())


def private_path() -> str:
    return f"/private/{uuid.uuid4().hex[:10]}/clip.mp4"


async def test_a_refused_profile_is_followed_by_the_next_and_the_job_completes(
    services: Services,
    pool: WorkerPool,
    cookie_server: CookieServer,
    tmp_path: Path,
    log_lines: io.StringIO,
) -> None:
    reg = AuthProfiles(services.db, services.settings)
    await reg.add("bad", "direct", cookie_file(tmp_path / "bad.txt", BAD), priority=10)
    await reg.add("good", "direct", cookie_file(tmp_path / "good.txt", GOOD))
    path = private_path()

    created = await services.jobs.create(cookie_server.url(path))
    assert created.job.source_type == "DIRECT"
    job = await wait_done(services, created.job.id)

    assert job.status == S.COMPLETED, (job.error_type, job.error_message)
    assert job.auth_profile_id == "good"
    assert job.file_size and job.file_size > 0 and job.file_path
    assert job.meta is not None and job.meta.get("auth_tried") == ["bad"]
    sent = cookie_server.cookies_sent(path)
    assert sent[0] == f"session={BAD}" and sent[-1] == f"session={GOOD}"
    assert f"session={GOOD}" in sent and set(sent) <= {f"session={BAD}", f"session={GOOD}"}

    bad, good = await reg.get("bad"), await reg.get("good")
    assert bad is not None and good is not None
    assert (bad.failure_count, bad.status) == (1, "ACTIVE") and bad.last_failure_at is not None
    assert bad.last_success_at is None
    assert (good.failure_count, good.last_failure_at) == (0, None)
    assert good.last_success_at is not None

    kinds = [e.event_type for e in await events(services, job.id)]
    assert "AUTH_PROFILE_FAILED" in kinds and kinds.count("AUTH_PROFILE_CHOSEN") == 2

    # the cookie values never reach a log line, an event or the job's error fields
    text = log_lines.getvalue()
    assert f'"job_id": {job.id}' in text and '"auth_profile_id": "good"' in text
    for secret in (GOOD, BAD):
        assert secret not in text
        assert all(secret not in str(e.data) for e in await events(services, job.id))
        assert secret not in str(job.meta) and secret not in (job.error_message or "")


async def test_with_only_a_refused_profile_the_job_fails_with_auth_error(
    services: Services, pool: WorkerPool, cookie_server: CookieServer, tmp_path: Path
) -> None:
    reg = AuthProfiles(services.db, services.settings)
    await reg.add("bad", "direct", cookie_file(tmp_path / "bad.txt", BAD))
    path = private_path()
    job = await wait_done(services, (await services.jobs.create(cookie_server.url(path))).job.id)

    assert job.status == S.FAILED
    assert job.error_type == "AUTH_ERROR" and job.auth_profile_id == "bad"
    assert job.attempts <= 1  # final at once: not retried
    assert set(cookie_server.cookies_sent(path)) == {f"session={BAD}"}
    bad = await reg.get("bad")
    assert bad is not None and bad.failure_count == 1


async def test_a_source_without_profiles_behaves_as_before(
    services: Services, pool: WorkerPool, cookie_server: CookieServer, tmp_path: Path
) -> None:
    reg = AuthProfiles(services.db, services.settings)
    await reg.add("yt", "youtube", cookie_file(tmp_path / "yt.txt", GOOD))  # another source
    path = private_path()
    job = await wait_done(services, (await services.jobs.create(cookie_server.url(path))).job.id)
    assert job.status == S.FAILED and job.error_type == "AUTH_ERROR"
    assert job.auth_profile_id is None
    assert cookie_server.cookies_sent(path) and set(cookie_server.cookies_sent(path)) == {None}
    assert "AUTH_PROFILE_CHOSEN" not in [e.event_type for e in await events(services, job.id)]


async def test_a_degraded_profile_is_used_when_no_active_one_is_left(
    services: Services, pool: WorkerPool, cookie_server: CookieServer, tmp_path: Path
) -> None:
    reg = AuthProfiles(services.db, services.settings)
    await reg.add("good", "direct", cookie_file(tmp_path / "good.txt", GOOD))
    await _set(services.db, "good", status="DEGRADED", failure_count=7)
    await reg.add("off", "direct", cookie_file(tmp_path / "off.txt", BAD), priority=99)
    await reg.disable("off")
    job = await wait_done(
        services, (await services.jobs.create(cookie_server.url(private_path()))).job.id
    )
    assert job.status == S.COMPLETED and job.auth_profile_id == "good"
    good = await reg.get("good")
    assert good is not None and (good.status, good.failure_count) == ("ACTIVE", 0)
    assert good.last_success_at is not None
    assert good.last_success_at > utcnow() - timedelta(minutes=5)
    assert os.path.getsize(job.file_path or "") > 0


async def test_lecture_pages_are_fetched_with_the_profile_cookies(
    tmp_path: Path, db_url: str, cookie_server: CookieServer
) -> None:
    """ISLAMIC pages (fetched with httpx) send the profile's cookies for the page and for
    the media it links to."""
    services = await Services.create(make_settings(tmp_path, db_url, islamic_domains="127.0.0.1"))
    workers = services.worker_pool(concurrency=1)
    await workers.start()
    try:
        reg = AuthProfiles(services.db, services.settings)
        await reg.add("members", "islamic", cookie_file(tmp_path / "isl.txt", GOOD))
        key = uuid.uuid4().hex[:10]
        created = await services.jobs.create(cookie_server.url(f"/page/{key}"))
        assert created.job.source_type == "ISLAMIC"
        job = await wait_done(services, created.job.id)
        assert job.status == S.COMPLETED, (job.error_type, job.error_message)
        assert job.auth_profile_id == "members"
        assert job.final_title == "Lecture for members"
        assert set(cookie_server.cookies_sent(f"/page/{key}")) == {f"session={GOOD}"}
        assert set(cookie_server.cookies_sent(f"/private/{key}/")) == {f"session={GOOD}"}
    finally:
        await workers.stop()
        await services.close()


async def test_a_cookie_never_follows_a_redirect_to_another_host(
    tmp_path: Path, cookie_server: CookieServer
) -> None:
    # the profile's cookie is for "localhost"; the request hook adds it per URL
    jar = cookie_file(tmp_path / "c.txt", GOOD, domain="localhost")
    hook = cookie_request_hook(read_cookies(jar))
    assert hook is not None
    import httpx

    port = cookie_server.httpd.server_address[1]
    for url, expected in (
        (f"http://localhost:{port}/x", f"session={GOOD}"),
        (f"http://127.0.0.1:{port}/x", None),
    ):
        request = httpx.Request("GET", url, headers={"Cookie": "stale=1"})
        await hook(request)
        assert request.headers.get("Cookie") == expected


async def test_the_browser_loads_pages_with_the_profile_cookies(
    settings: Settings, cookie_server: CookieServer, tmp_path: Path
) -> None:
    from mediaferry.sources.browser import sniff_media

    key = uuid.uuid4().hex[:10]
    page = cookie_server.url(f"/page/{key}")
    assert await sniff_media(page, settings) == []  # 403 without the cookie
    found = await sniff_media(page, settings, read_cookies(cookie_file(tmp_path / "b.txt", GOOD)))
    assert [f.url for f in found] == [cookie_server.url(f"/private/{key}/clip.mp4")]
    assert set(cookie_server.cookies_sent(f"/page/{key}")) == {None, f"session={GOOD}"}
