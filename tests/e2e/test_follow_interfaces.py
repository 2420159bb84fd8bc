"""Follows through the interfaces: the real ``mediaferry follow`` CLI in a subprocess and
the REST API on a running web server, against a local feed server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.test_web_harness import WebFactory
from tests.integration.test_web_harness import make_web_fixture as make_web_fixture
from tests.support.feed_server import FeedServer
from tests.support.media_server import MediaServer


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MEDIAFERRY_DATA_DIR": str(tmp_path / "data"),
        "MEDIAFERRY_ALLOW_PRIVATE_NETWORKS": "true",
        "MEDIAFERRY_MIN_FREE_GB": "0",
    }
    exe = Path(sys.executable).with_name("mediaferry")
    return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=120)


def test_follow_cli_end_to_end(
    tmp_path: Path, feed_server: FeedServer, media_server: MediaServer
) -> None:
    for n in range(3):
        feed_server.publish(f"Episode {n}", media_server.url(f"/media/audio.mp3?e={n}"))
    feed = feed_server.url("/rss.xml")
    added = _cli(tmp_path, "follow", "add", feed, "--audio", "--backfill", "2", "--json")
    assert added.returncode == 0, added.stderr
    data = json.loads(added.stdout)
    assert data["kind"] == "feed" and data["title"] == "Test podcast"
    assert data["check"]["new"] == 2 and data["items_queued"] == 2
    listed = json.loads(_cli(tmp_path, "follow", "list", "--json").stdout)
    assert [f["id"] for f in listed] == [data["id"]]
    feed_server.publish("Episode 3", media_server.url("/media/audio.mp3?e=3"))
    checked = _cli(tmp_path, "follow", "check", str(data["id"]), "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)[0]["new"] == 1
    assert _cli(tmp_path, "follow", "pause", str(data["id"])).returncode == 0
    shown = json.loads(_cli(tmp_path, "follow", "show", str(data["id"]), "--json").stdout)
    assert shown["paused"] is True
    jobs = json.loads(_cli(tmp_path, "jobs", "--json").stdout)
    assert sorted(j["title"] for j in jobs) == ["Episode 1", "Episode 2", "Episode 3"]
    # bad input: one line, exit 2, nothing stored
    page = _cli(tmp_path, "follow", "add", feed_server.url("/page.html"))
    assert page.returncode == 2 and "not a playlist" in page.stderr
    assert len(page.stderr.strip().splitlines()) == 1
    fast = _cli(tmp_path, "follow", "add", feed + "?x", "--every", "5s")
    assert fast.returncode == 2 and "too often" in fast.stderr
    missing = _cli(tmp_path, "follow", "show", "999")
    assert missing.returncode == 2 and "no follow #999" in missing.stderr
    assert _cli(tmp_path, "follow", "remove", str(data["id"])).returncode == 0
    assert json.loads(_cli(tmp_path, "follow", "list", "--json").stdout) == []


async def test_follow_rest_api(
    make_web: WebFactory, feed_server: FeedServer, media_server: MediaServer
) -> None:
    web = await make_web(workers=False)
    feed_server.publish("Talk 1", media_server.url("/media/audio.mp3?t=1"))
    created = await web.client.post(
        "/api/follows", json={"url": feed_server.url("/atom.xml"), "type": "audio"}
    )
    assert created.status_code == 201, created.text
    follow = created.json()
    assert follow["kind"] == "feed" and follow["paused"] is False
    first = (await web.client.post(f"/api/follows/{follow['id']}/check")).json()
    assert first["new"] == 0  # --from now
    feed_server.publish("Talk 2", media_server.url("/media/audio.mp3?t=2"))
    second = (await web.client.post(f"/api/follows/{follow['id']}/check")).json()
    assert second["new"] == 1 and len(second["jobs"]) == 1
    job = (await web.client.get(f"/api/jobs/{second['jobs'][0]}")).json()
    assert job["title"] == "Talk 2" and job["job_type"] == "audio"
    paused = await web.client.patch(f"/api/follows/{follow['id']}", json={"paused": True})
    assert paused.status_code == 200 and paused.json()["paused"] is True
    bad = await web.client.patch(f"/api/follows/{follow['id']}", json={"every": "1s"})
    assert bad.status_code == 400 and "too often" in bad.json()["detail"]
    listed = (await web.client.get("/api/follows")).json()["follows"]
    assert [f["id"] for f in listed] == [follow["id"]]
    refused = await web.client.post("/api/follows", json={"url": feed_server.url("/page.html")})
    assert refused.status_code == 400 and "not a playlist" in refused.json()["detail"]
    regex = await web.client.post(
        "/api/follows", json={"url": feed_server.url("/rss.xml"), "include": "(x+)+y"}
    )
    assert regex.status_code == 400 and "exponential" in regex.json()["detail"]
    assert (await web.client.delete(f"/api/follows/{follow['id']}")).status_code == 204
    assert (await web.client.get(f"/api/follows/{follow['id']}")).status_code == 404
    assert (await web.client.get("/api/follows")).json()["follows"] == []


def test_a_malformed_notification_url_stops_the_start(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MEDIAFERRY_DATA_DIR": str(tmp_path / "data"),
        "MEDIAFERRY_NOTIFY_URLS": "tgram://,not-an-apprise-url",
    }
    env.pop("MEDIAFERRY_TELEGRAM_TOKEN", None)
    exe = Path(sys.executable).with_name("mediaferry")
    done = subprocess.run([str(exe), "run"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: invalid setting MEDIAFERRY_NOTIFY_URLS: tgram://… is not a notification URL "
        "Apprise understands"
    ]
    assert "not-an-apprise-url" not in done.stdout + done.stderr
