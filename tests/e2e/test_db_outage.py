"""A database outage under load: PostgreSQL stopped for 30 s while jobs run.

``mediaferry run`` (workers, web and the bot against the fake Bot API, in one process)
keeps running, reports unhealthy on ``/health`` meanwhile, keeps polling Telegram and
answering, reconnects when the database returns, and every job completes exactly once.
The database is a private cluster (tests/support/pg_cluster.py), never the shared
server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.fake_telegram import FakeTelegram
from tests.support.media_server import MediaServer
from tests.support.pg_cluster import PgCluster

KEY = "outage-test-key"
USER = 4242
JOBS = 6
OUTAGE_S = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
def test_postgres_outage_every_job_completes_exactly_once(
    tmp_path: Path, media_server: MediaServer, pg_cluster: PgCluster, fake_telegram: FakeTelegram
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "MEDIAFERRY_DATA_DIR": str(tmp_path / "data"),
        "MEDIAFERRY_DATABASE_URL": pg_cluster.url,
        "MEDIAFERRY_WEB_PORT": str(port),
        "MEDIAFERRY_API_KEY": KEY,
        "MEDIAFERRY_ALLOW_PRIVATE_NETWORKS": "true",
        "MEDIAFERRY_MIN_FREE_GB": "0",
        "MEDIAFERRY_MAX_PARALLEL_JOBS": "3",
        "MEDIAFERRY_HEARTBEAT_S": "1",
        "MEDIAFERRY_POLL_S": "1",
        "MEDIAFERRY_STALE_AFTER_S": "120",
        "MEDIAFERRY_RETRY_BASE_S": "0.5",
        "MEDIAFERRY_RETRY_MAX_S": "2",
        "MEDIAFERRY_PROGRESS_INTERVAL_S": "0.2",
    }
    env.update(
        MEDIAFERRY_TELEGRAM_TOKEN=fake_telegram.token,
        MEDIAFERRY_TELEGRAM_API_URL=fake_telegram.root,
        MEDIAFERRY_ALLOWED_USERS=str(USER),
    )
    size = (media_server.root / "audio.mp3").stat().st_size
    rate = max(4096, size // 3)  # each download takes ~3 s
    exe = Path(sys.executable).with_name("mediaferry")
    log_path = tmp_path / "run.log"
    log = log_path.open("w")
    proc = subprocess.Popen([str(exe), "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def tail() -> str:
        return log_path.read_text()[-3000:]

    try:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
        ) as client:

            def healthy() -> bool:
                assert proc.poll() is None, tail()
                try:
                    return client.get("/health").status_code == 200
                except httpx.TransportError:
                    return False

            _wait(healthy, 60, "the service to become healthy")
            ids = []
            for n in range(JOBS):
                url = media_server.url(f"/slow/audio.mp3?rate={rate}&n={n}")
                answer = client.post("/api/jobs", json={"url": url, "type": "audio"})
                assert answer.status_code in (200, 201), answer.text
                ids.append(answer.json()["id"])

            def downloading() -> bool:
                jobs = [client.get(f"/api/jobs/{i}").json() for i in ids]
                return any(j["status"] == "RUNNING" and (j["bytes_done"] or 0) > 0 for j in jobs)

            _wait(downloading, 60, "a download to start")

            # the bot is polling (a long poll is open: the first one ends only after 10 s)
            fake_telegram.wait_for(lambda: fake_telegram.polls_waiting, timeout=60)
            pg_cluster.stop()
            outage_started = time.monotonic()
            polls_before = len(fake_telegram.calls("getUpdates"))
            asked = fake_telegram.user_sends_text(USER, "/status")
            saw_unhealthy = False
            while time.monotonic() - outage_started < OUTAGE_S:
                assert proc.poll() is None, "the service died during the outage:\n" + tail()
                answer = client.get("/health")
                if answer.status_code == 503:
                    saw_unhealthy = answer.json()["checks"]["database"]["ok"] is False
                time.sleep(1)
            assert saw_unhealthy, "/health never reported the database down"
            # the bot kept polling and answered (it cannot read the jobs: it says so)
            assert len(fake_telegram.calls("getUpdates")) > polls_before
            answered = [
                m for m in fake_telegram.messages_to(USER) if m.message_id > asked.message_id
            ]
            assert answered, "the bot did not answer during the outage"
            assert "cannot reach its database" in (answered[0].text or "")
            pg_cluster.start()

            def all_done() -> bool:
                assert proc.poll() is None, tail()
                try:
                    jobs = [client.get(f"/api/jobs/{i}").json() for i in ids]
                except (httpx.TransportError, ValueError):
                    return False
                return all(j.get("status") in ("COMPLETED", "FAILED", "CANCELLED") for j in jobs)

            _wait(all_done, 180, "every job to finish after the outage")
            assert healthy()
            after = fake_telegram.user_sends_text(USER, "/status")
            replies = fake_telegram.wait_for(
                lambda: [
                    m for m in fake_telegram.messages_to(USER) if m.message_id > after.message_id
                ],
                timeout=30,
            )
            assert "went wrong" not in (replies[0].text or ""), replies[0].text  # served again
            for job_id in ids:
                job = client.get(f"/api/jobs/{job_id}").json()
                assert job["status"] == "COMPLETED", (job, tail())
                completed = [
                    e
                    for e in job["events"]
                    if e["type"] == "STATUS_CHANGED" and e["data"].get("to") == "COMPLETED"
                ]
                assert len(completed) == 1, job["events"]
                assert job["file_path"] and Path(job["file_path"]).is_file()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        text = log_path.read_text()
        assert "job crashed" not in text, tail()
        assert "Traceback" not in text, tail()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
