"""SSE throttling and ordering, and metrics fed from bus events, on a running server."""

from __future__ import annotations

from prometheus_client.exposition import generate_latest

from mediaferry.db.models import Job
from mediaferry.jobs.bus import Event
from mediaferry.web.metrics import WebMetrics
from tests.integration.test_web_harness import SseReader, WebFactory
from tests.integration.test_web_harness import make_web_fixture as make_web_fixture


async def test_progress_is_throttled_per_job_and_never_follows_the_end(
    make_web: WebFactory,
) -> None:
    web = await make_web(workers=False)
    a = (await web.client.post("/api/jobs", json={"url": "http://127.0.0.1:9/a.mp4"})).json()
    b = (await web.client.post("/api/jobs", json={"url": "http://127.0.0.1:9/b.mp4"})).json()
    bus = web.services.bus
    async with SseReader(web.client) as sse:
        for i in range(1, 201):
            bus.publish("progress", a["id"], bytes_done=i * 100, bytes_total=20_000)
            bus.publish("progress", b["id"], bytes_done=i, bytes_total=200)
        await web.client.post(f"/api/jobs/{a['id']}/cancel")  # a status event for a

        def ended(_events: object) -> bool:
            return any(k == "status" for _, k, _ in sse.for_job(a["id"]))

        await sse.wait_for(ended, timeout=10)
        await sse.wait_for(
            lambda _e: any(d.get("bytes_done") == 200 for _, _, d in sse.for_job(b["id"])),
            timeout=10,
        )
    for_a = sse.for_job(a["id"])
    progress_a = [d["bytes_done"] for _, k, d in for_a if k == "progress"]
    # 200 updates became a handful, in order, and the last value was not lost
    assert 1 <= len(progress_a) < 20
    assert progress_a == sorted(progress_a) and progress_a[-1] == 20_000
    assert for_a[-1][1] == "status" and for_a[-1][2]["status"] == "CANCELLED"
    progress_b = [d["bytes_done"] for _, k, d in sse.for_job(b["id"]) if k == "progress"]
    assert len(progress_b) < 20 and progress_b[-1] == 200


async def test_metrics_from_bus_events(make_web: WebFactory) -> None:
    web = await make_web(workers=False)
    job = (await web.client.post("/api/jobs", json={"url": "http://127.0.0.1:9/m.mp4"})).json()
    m = WebMetrics(web.services)
    jid = job["id"]
    steps = [
        (0.0, Event("status", jid, {"status": "RUNNING"})),
        (0.0, Event("stage", jid, {"stage": "DOWNLOAD"})),
        (1.0, Event("progress", jid, {"bytes_done": 400})),
        (2.0, Event("progress", jid, {"bytes_done": 1000})),
        (3.0, Event("stage", jid, {"stage": "DELIVER"})),
        (3.5, Event("status", jid, {"status": "PENDING", "error_type": "TELEGRAM_ERROR"})),
        (4.0, Event("status", jid, {"status": "RUNNING"})),
        (4.0, Event("stage", jid, {"stage": "DELIVER"})),
        (4.25, Event("status", jid, {"status": "COMPLETED"})),
    ]
    for now, event in steps:
        await m.observe(event, now=now)
    text = generate_latest(m.registry).decode()
    assert 'mediaferry_stage_duration_seconds_count{stage="DOWNLOAD"} 1.0' in text
    assert 'mediaferry_stage_duration_seconds_sum{stage="DOWNLOAD"} 3.0' in text
    assert 'mediaferry_stage_duration_seconds_sum{stage="DELIVER"} 0.75' in text
    assert 'mediaferry_job_duration_seconds_sum{outcome="RETRY"} 3.5' in text
    assert 'mediaferry_job_duration_seconds_sum{outcome="COMPLETED"} 0.25' in text
    assert "mediaferry_downloaded_bytes_total 1000.0" in text
    assert 'mediaferry_job_errors_total{error_type="TELEGRAM_ERROR"} 1.0' in text
    assert "mediaferry_delivery_retries_total 1.0" in text
    # a FAILED status without error_type: the type is read from the job
    async with web.services.db.session() as session:
        row = await session.get(Job, jid)
        assert row is not None
        row.error_type = "NETWORK_ERROR"
    await m.observe(Event("status", jid, {"status": "RUNNING"}), now=5)
    await m.observe(Event("status", jid, {"status": "FAILED"}), now=6)
    text = generate_latest(m.registry).decode()
    assert 'mediaferry_job_errors_total{error_type="NETWORK_ERROR"} 1.0' in text
    # the scrape-time snapshot counts jobs by status from the database
    scraped = (await web.client.get("/metrics")).text
    assert 'mediaferry_jobs{status="PENDING"} 1.0' in scraped
    assert "mediaferry_queue_length 1.0" in scraped and "mediaferry_workers 0.0" in scraped
    assert "mediaferry_database_up 1.0" in scraped
