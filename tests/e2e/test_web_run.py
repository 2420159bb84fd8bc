"""``mediaferry run`` serves the web API in its own process and stops cleanly on SIGTERM,
even with an event stream open."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.media_server import MediaServer

KEY = "run-test-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_serves_the_api_and_stops_on_sigterm(tmp_path: Path, media_server: MediaServer) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "MEDIAFERRY_DATA_DIR": str(tmp_path / "data"),
        "MEDIAFERRY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'mf.db'}",
        "MEDIAFERRY_WEB_PORT": str(port),
        "MEDIAFERRY_API_KEY": KEY,
        "MEDIAFERRY_ALLOW_PRIVATE_NETWORKS": "true",
        "MEDIAFERRY_MIN_FREE_GB": "0",
        "MEDIAFERRY_LOG_FORMAT": "json",
    }
    for name in ("TOKEN", "API_ID", "API_HASH"):
        env.pop(f"MEDIAFERRY_TELEGRAM_{name}", None)
    exe = Path(sys.executable).with_name("mediaferry")
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen([str(exe), "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}) as client:
            deadline = time.monotonic() + 40
            while True:
                assert proc.poll() is None, (tmp_path / "run.log").read_text()[-2000:]
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the web server never became healthy"
                time.sleep(0.2)
            url = media_server.url("/media/audio.mp3")
            job = client.post("/api/jobs", json={"url": url, "type": "audio"}).json()
            deadline = time.monotonic() + 60
            while client.get(f"/api/jobs/{job['id']}").json()["status"] != "COMPLETED":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            with client.stream("GET", "/api/events") as stream:
                next(stream.iter_lines())  # subscribed
                started = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        assert proc.returncode == 0, (tmp_path / "run.log").read_text()[-2000:]
        assert time.monotonic() - started < 30
        # what is off says so in one line; the start line says what runs
        lines = [json.loads(ln) for ln in (tmp_path / "run.log").read_text().splitlines()]
        off = [ln for ln in lines if "Telegram over MTProto is off" in ln["message"]]
        assert len(off) == 1 and "MEDIAFERRY_TELEGRAM_API_ID" in off[0]["message"]
        [start] = [ln for ln in lines if ln["message"] == "mediaferry is running"]
        assert (start["bot"], start["mtproto"], start["web"]) == (False, False, True)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
