"""Auth refusals, bad input, limits, health and SSE housekeeping, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx

from mediaferry.web.api import content_disposition
from mediaferry.web.auth import is_loopback
from tests.integration.test_web_harness import API_KEY, SseReader, WebFactory
from tests.integration.test_web_harness import make_web_fixture as make_web_fixture

NON_LOOPBACK = "192.0.2.2"  # this machine's own address on eth0


def _is_error(r: httpx.Response, status: int, error: str | None = None) -> dict[str, object]:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, object] = r.json()
    assert "error" in body and "detail" in body
    if error is not None:
        assert body["error"] == error, body
    return body


async def test_api_key_is_required_and_checked(make_web: WebFactory) -> None:
    web = await make_web(workers=False)
    anon = httpx.AsyncClient(base_url=web.client.base_url, timeout=10)
    try:
        missing = await anon.get("/api/jobs")
        _is_error(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"] == "Bearer"
        _is_error(await anon.get("/api/jobs", headers={"Authorization": "Bearer nope"}), 401)
        _is_error(await anon.get("/api/jobs", headers={"Authorization": f"Basic {API_KEY}"}), 401)
        _is_error(await anon.post("/api/jobs", json={"url": "http://127.0.0.1:9/a"}), 401)
        _is_error(await anon.get("/api/jobs", params={"key": API_KEY}), 401)  # header only
        _is_error(await anon.get("/metrics"), 401)
        _is_error(await anon.get("/api/jobs/1/file", params={"key": "nope"}), 401)
        assert (await anon.get("/api/jobs/1/file", params={"key": API_KEY})).status_code == 404
        ok = await anon.get("/api/jobs", headers={"Authorization": f"Bearer {API_KEY}"})
        assert ok.status_code == 200
        # no key needed for the page, its assets, the schema and health
        for path in ("/", "/static/app.js", "/static/style.css", "/openapi.json"):
            assert (await anon.get(path)).status_code == 200, path
        health = await anon.get("/health")
        assert health.status_code in (200, 503) and API_KEY not in health.text
        assert str(web.services.settings.database_url) not in health.text
        # the event stream takes ?key= (EventSource cannot send headers)
        _is_error(await anon.get("/api/events", params={"key": "nope"}), 401)
        async with SseReader(anon, params={"key": API_KEY}) as sse:
            assert sse.status_code == 200
    finally:
        await anon.aclose()


async def test_without_a_key_only_loopback_clients_are_served(make_web: WebFactory) -> None:
    web = await make_web(workers=False, api_key=None, web_host="0.0.0.0")
    assert (await web.client.get("/api/jobs")).status_code == 200
    proxied = await web.client.get("/api/jobs", headers={"X-Forwarded-For": "203.0.113.9"})
    _is_error(proxied, 403, "forbidden")
    async with httpx.AsyncClient(base_url=f"http://{NON_LOOPBACK}:{web.server.port}") as remote:
        body = _is_error(await remote.get("/api/jobs"), 403, "forbidden")
        assert "loopback" in str(body["detail"])
        _is_error(await remote.post("/api/jobs", json={"url": "http://127.0.0.1:9/a"}), 403)
        _is_error(await remote.get("/api/events"), 403)
        assert (await remote.get("/health")).status_code in (200, 503)
        assert (await remote.get("/")).status_code == 200


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size


async def test_bad_input_gets_a_clear_4xx(make_web: WebFactory) -> None:
    web = await make_web(workers=False)
    c = web.client
    url = "http://127.0.0.1:9/a.mp4"
    big = json.dumps({"url": url, "pad": "x" * (10 * 1024 * 1024)})
    _is_error(await c.post("/api/jobs", content=big), 413, "payload_too_large")
    _is_error(await c.post("/api/jobs", content=_chunks(3 * 1024 * 1024)), 413)
    headers = {"Content-Type": "application/json"}
    body = _is_error(await c.post("/api/jobs", content=b'{"url": ', headers=headers), 422)
    assert body["error"] == "invalid_json"
    cases: list[object] = [
        {"url": url, "colour": "red"},
        {"url": url, "priority": -1},
        {"url": url, "priority": 10**6},
        {"url": url, "priority": "high"},
        {"url": url, "type": "gif"},
        {"url": url, "quality": "8k"},
        {"url": 12},
        {"url": ""},
        {},
        [url],
        "just a string",
    ]
    for case in cases:
        detail = _is_error(await c.post("/api/jobs", json=case), 422, "invalid_request")
        assert isinstance(detail["detail"], list) and detail["detail"], case
    unknown = _is_error(await c.post("/api/jobs", json={"url": url, "colour": "red"}), 422)
    assert "colour" in json.dumps(unknown["detail"])
    for refused in ("file:///etc/passwd", "javascript:alert(1)", "ftp://127.0.0.1/x", "nonsense"):
        body = _is_error(await c.post("/api/jobs", json={"url": refused}), 400, "url_rejected")
        assert body["error_type"] == "URL_REJECTED" and body["detail"]
    for path in ("/api/jobs/abc", "/api/jobs/1.5", "/api/jobs/0", f"/api/jobs/{2**64}"):
        _is_error(await c.get(path), 422)
        _is_error(await c.post(path + "/cancel"), 422)
        _is_error(await c.get(path + "/file"), 422)
    _is_error(await c.get("/api/jobs/424242"), 404, "not_found")
    _is_error(await c.post("/api/jobs/424242/retry"), 404, "not_found")
    _is_error(await c.get("/api/nothing-here"), 404, "not_found")
    _is_error(await c.delete("/api/jobs"), 405, "method_not_allowed")
    for params in ({"limit": 0}, {"limit": 10**9}, {"cursor": -1}, {"limit": "many"}):
        _is_error(await c.get("/api/jobs", params=params), 422)
    for params in ({}, {"q": "x", "min_size": -1}, {"q": "x", "fuzzy": "maybe"}):
        _is_error(await c.get("/api/library", params=params), 422)
    _is_error(await c.get("/api/library", params={"q": "a", "min_size": 9, "max_size": 1}), 400)
    # none of that created anything
    assert (await c.get("/api/jobs")).json()["jobs"] == []


async def test_limits_answer_429(make_web: WebFactory) -> None:
    web = await make_web(workers=False, max_queue_length=2)
    for i in range(2):
        r = await web.client.post("/api/jobs", json={"url": f"http://127.0.0.1:9/{i}.mp4"})
        assert r.status_code == 201
    r = await web.client.post("/api/jobs", json={"url": "http://127.0.0.1:9/x.mp4"})
    body = _is_error(r, 429, "too_many_requests")
    assert "queue is full" in str(body["detail"])


async def test_health_reports_each_check(make_web: WebFactory) -> None:
    web = await make_web(workers=False)
    r = await web.client.get("/health")
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["database"]["ok"] and checks["disk"]["ok"]
    assert checks["workers"] == {"ok": False, "alive": 0, "capacity": 0, "running": 0}
    pool = web.services.worker_pool()
    await pool.start()
    try:
        r = await web.client.get("/health")
        assert r.status_code == 200 and r.json()["status"] == "ok"
    finally:
        await pool.stop()


async def test_sse_clients_are_dropped_on_disconnect(make_web: WebFactory) -> None:
    web = await make_web(workers=False)
    hub = web.server.app.state.hub
    readers = [SseReader(web.client) for _ in range(3)]
    for reader in readers:
        await reader.__aenter__()
    assert len(hub.clients) == 3
    r = await web.client.post("/api/jobs", json={"url": "http://127.0.0.1:9/a.mp4"})
    job_id = r.json()["id"]
    for reader in readers:
        await reader.wait_for(lambda _e, r=reader: bool(r.for_job(job_id)), timeout=10)
        assert reader.for_job(job_id)[0][1] == "created"
    for reader in readers:
        await reader.__aexit__()
    deadline = time.monotonic() + 10
    while hub.clients:
        assert time.monotonic() < deadline, f"{len(hub.clients)} subscribers left"
        await asyncio.sleep(0.05)
    # and heartbeats flow while nothing happens
    async with SseReader(web.client) as idle:
        deadline = time.monotonic() + 10
        while not any("ping" in c for c in idle.comments):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)


def test_content_disposition_is_safe_for_any_name() -> None:
    cd = content_disposition('evil"\r\nSet-Cookie: x=1; .mp4')
    assert "\r" not in cd and "\n" not in cd
    fallback = cd.split('filename="', 1)[1].split('"', 1)[0]
    assert '"' not in fallback and ";" not in fallback
    assert cd.startswith("attachment; ")
    uni = content_disposition("Müzik – ñ 🎵.mp3")
    assert "filename*=UTF-8''M%C3%BCzik%20%E2%80%93%20%C3%B1%20%F0%9F%8E%B5.mp3" in uni
    assert 'filename="' in content_disposition("../../etc/passwd")
    assert "/" not in content_disposition("../../etc/passwd").split('"')[1]
    assert content_disposition("").startswith('attachment; filename="download"')


def test_loopback_detection() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        assert is_loopback(host), host
    for host in (None, "", "192.0.2.2", "::ffff:192.0.2.2", "10.0.0.1", "localhost", "fe80::1"):
        assert not is_loopback(host), host
