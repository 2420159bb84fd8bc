"""The REST API through a real HTTP client against real uvicorn, with real workers
downloading from the local media server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import update

from mediaferry.db.models import Job, MediaItem
from tests.integration.test_web_harness import SseReader, WebFactory
from tests.integration.test_web_harness import make_web_fixture as make_web_fixture
from tests.support.media_server import MediaServer


async def test_job_runs_live_over_sse_and_downloads_with_range(
    make_web: WebFactory, media_server: MediaServer
) -> None:
    web = await make_web()
    url = media_server.url("/media/h264_aac.mp4")
    async with SseReader(web.client) as sse:
        r = await web.client.post("/api/jobs", json={"url": url, "type": "video"})
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        assert r.headers["location"] == f"/api/jobs/{job_id}"

        def completed(_events: object) -> bool:
            return any(
                kind == "status" and data["status"] == "COMPLETED"
                for _, kind, data in sse.for_job(job_id)
            )

        await sse.wait_for(completed, timeout=60)
        mine = sse.for_job(job_id)

    ids = [i for i, _, _ in sse.events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    kinds = [kind for _, kind, _ in mine]
    assert kinds[0] == "created" and mine[0][2]["job"]["url"] == url
    statuses = [d["status"] for _, k, d in mine if k == "status"]
    assert statuses == ["RUNNING", "COMPLETED"]
    assert "progress" in kinds and "stage" in kinds
    # nothing about the job after it completed, and no progress before it ran
    assert kinds[-1] == "status"
    assert kinds.index("progress") > kinds.index("status")
    done = mine[-1][2]["job"]
    assert done["file_size"] > 0

    detail = (await web.client.get(f"/api/jobs/{job_id}")).json()
    assert detail["status"] == "COMPLETED"
    assert detail["events"][0]["type"] == "CREATED"
    assert "DOWNLOAD_FINISHED" in {e["type"] for e in detail["events"]}

    on_disk = Path(detail["file_path"]).read_bytes()
    part = await web.client.get(f"/api/jobs/{job_id}/file", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.content == on_disk[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(on_disk)}"
    whole = await web.client.get(f"/api/jobs/{job_id}/file")
    assert whole.status_code == 200 and whole.content == on_disk
    disposition = whole.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=") and "\n" not in disposition
    assert whole.headers["content-type"] == "video/mp4"

    # the same link again: the existing job, 200
    again = await web.client.post("/api/jobs", json={"url": url, "type": "video"})
    assert again.status_code == 200 and again.json()["id"] == job_id

    metrics = (await web.client.get("/metrics")).text
    assert 'mediaferry_jobs{status="COMPLETED"} 1.0' in metrics
    assert "mediaferry_queue_length 0.0" in metrics
    assert "mediaferry_workers 1.0" in metrics
    assert 'mediaferry_stage_duration_seconds_count{stage="DOWNLOAD"} 1.0' in metrics
    assert 'mediaferry_job_duration_seconds_count{outcome="COMPLETED"} 1.0' in metrics
    lines = metrics.splitlines()
    downloaded = next(ln for ln in lines if ln.startswith("mediaferry_downloaded_bytes_total"))
    assert float(downloaded.split()[1]) > 0

    health = await web.client.get("/health", headers={"Authorization": ""})
    assert health.status_code == 200
    assert health.json()["checks"]["workers"]["alive"] == 1
    assert health.json()["checks"]["aria2c"]["ok"] is True


async def test_list_paginates_newest_first_and_filters(make_web: WebFactory) -> None:
    web = await make_web(workers=False)
    ids = []
    for i in range(7):
        r = await web.client.post("/api/jobs", json={"url": f"http://127.0.0.1:9/{i}.mp4"})
        ids.append(r.json()["id"])
    await web.client.post(f"/api/jobs/{ids[0]}/cancel")
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        page = (await web.client.get("/api/jobs", params=params)).json()
        seen += [j["id"] for j in page["jobs"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True) and pages == 3
    pending = (await web.client.get("/api/jobs", params={"status": "pending"})).json()
    assert [j["id"] for j in pending["jobs"]] == sorted(ids[1:], reverse=True)
    both = (await web.client.get("/api/jobs", params={"status": "PENDING,CANCELLED"})).json()
    assert len(both["jobs"]) == 7
    bad = await web.client.get("/api/jobs", params={"status": "SLEEPING"})
    assert bad.status_code == 422 and "SLEEPING" in bad.json()["detail"]


async def test_cancel_a_slow_running_job(make_web: WebFactory, media_server: MediaServer) -> None:
    web = await make_web()
    url = media_server.url("/slow/long.mp4?rate=20000")
    job_id = (await web.client.post("/api/jobs", json={"url": url})).json()["id"]
    deadline = time.monotonic() + 30
    while True:
        job = (await web.client.get(f"/api/jobs/{job_id}")).json()
        if job["status"] == "RUNNING" and job["stage"] == "DOWNLOAD":
            break
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.05)
    r = await web.client.post(f"/api/jobs/{job_id}/cancel")
    assert r.status_code == 200
    cancelled = await web.wait_job(job_id, "CANCELLED", timeout=15)
    assert cancelled["error_type"] == "CANCELLED"
    again = await web.client.post(f"/api/jobs/{job_id}/cancel")
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    assert (await web.client.post("/api/jobs/999999/cancel")).status_code == 404


async def test_retry_a_failed_job(make_web: WebFactory, media_server: MediaServer) -> None:
    web = await make_web()
    url = media_server.url("/status/404")
    job_id = (await web.client.post("/api/jobs", json={"url": url})).json()["id"]
    failed = await web.wait_job(job_id, "FAILED", timeout=30)
    assert failed["error_type"] and failed["error_message"]
    detail = (await web.client.get(f"/api/jobs/{job_id}")).json()
    assert any(e["data"].get("to") == "FAILED" for e in detail["events"])
    r = await web.client.post(f"/api/jobs/{job_id}/retry")
    assert r.status_code == 200 and r.json()["attempts"] == 0
    assert r.json()["status"] in ("PENDING", "QUEUED", "RUNNING", "FAILED")
    again = await web.wait_job(job_id, "FAILED", timeout=30)
    assert again["error_type"] == failed["error_type"]
    events = (await web.client.get(f"/api/jobs/{job_id}")).json()["events"]
    assert sum(e["data"].get("to") == "FAILED" for e in events) == 2
    metrics = (await web.client.get("/metrics")).text
    assert f'mediaferry_job_errors_total{{error_type="{failed["error_type"]}"}} 2.0' in metrics
    # only failed jobs can be retried
    ok = (await web.client.post("/api/jobs", json={"url": "http://127.0.0.1:9/x.mp4"})).json()
    await web.client.post(f"/api/jobs/{ok['id']}/cancel")
    refused = await web.client.post(f"/api/jobs/{ok['id']}/retry")
    assert refused.status_code == 409


async def test_library_search_and_download(make_web: WebFactory, tmp_path: Path) -> None:
    web = await make_web(workers=False)
    archive = web.services.settings.archive_dir / "direct" / "2024-05"
    archive.mkdir(parents=True)
    song = archive / "Blue Monday [x1].mp3"
    song.write_bytes(b"ID3" + bytes(range(256)) * 40)
    async with web.services.db.session() as session:
        session.add_all(
            [
                MediaItem(
                    path=str(song),
                    title="Blue Monday",
                    performer="New Order",
                    file_format="mp3",
                    size=song.stat().st_size,
                ),
                MediaItem(path=str(archive / "other.mp4"), title="Red Tuesday", size=10),
                MediaItem(path="/etc/passwd", title="Blue Passwords", size=10),
            ]
        )
    r = await web.client.get("/api/library", params={"q": "blue mon"})
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["title"] for i in items] == ["Blue Monday"]
    fuzzy = await web.client.get("/api/library", params={"q": "blu mondey", "fuzzy": "true"})
    assert fuzzy.json()["items"][0]["title"] == "Blue Monday"
    none = await web.client.get("/api/library", params={"q": "monday", "format": "mp4"})
    assert none.json()["items"] == []
    file = await web.client.get(items[0]["file_url"], headers={"Range": "bytes=0-2"})
    assert file.status_code == 206 and file.content == b"ID3"
    assert "filename*=UTF-8''Blue%20Monday%20%5Bx1%5D.mp3" in file.headers["content-disposition"]
    # an item whose path is outside the data folders is never served
    outside = next(
        i for i in (await web.client.get("/api/library", params={"q": "passwords"})).json()["items"]
    )
    refused = await web.client.get(outside["file_url"])
    assert refused.status_code == 404 and b"root:" not in refused.content
    blank = await web.client.get("/api/library", params={"q": "   "})
    assert blank.status_code == 400


async def test_file_is_never_served_from_outside_the_data_folders(
    make_web: WebFactory, tmp_path: Path
) -> None:
    web = await make_web(workers=False)
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    tmp_root = web.services.settings.tmp_dir
    tmp_root.mkdir(parents=True, exist_ok=True)
    link = tmp_root / "link.mp4"
    link.symlink_to(secret)
    paths = [
        "/etc/passwd",
        str(secret),
        str(link),
        str(tmp_root / ".." / "secret.txt"),
        str(tmp_root / "missing.mp4"),
        "",
    ]
    ids = []
    for i, path in enumerate(paths):
        job = (await web.client.post("/api/jobs", json={"url": f"http://127.0.0.1:9/s{i}"})).json()
        ids.append(job["id"])
        async with web.services.db.session() as session:
            await session.execute(
                update(Job).where(Job.id == job["id"]).values(status="COMPLETED", file_path=path)
            )
    for job_id in ids:
        r = await web.client.get(f"/api/jobs/{job_id}/file")
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "not_found" and b"secret" not in r.content
    for raw in (
        f"/api/jobs/{ids[0]}/file/../../../../etc/passwd",
        "/api/jobs/..%2F..%2Fetc%2Fpasswd/file",
        "/api/jobs/%2e%2e/file",
        "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    ):
        r = await web.client.get(httpx_raw(web.url, raw))
        assert 400 <= r.status_code < 500 and b"root:" not in r.content, raw
    running = (await web.client.post("/api/jobs", json={"url": "http://127.0.0.1:9/r"})).json()
    assert (await web.client.get(f"/api/jobs/{running['id']}/file")).status_code == 409


def httpx_raw(base: str, raw_path: str) -> str:
    """An absolute URL whose path httpx sends as written (no dot-segment removal)."""
    return base + raw_path
