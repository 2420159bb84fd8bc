"""t.me links through the REST API (issue 10): real uvicorn, real workers, real Telethon
against the fake MTProto server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from tests.integration.test_web_harness import WebFactory
from tests.integration.test_web_harness import make_web_fixture as make_web_fixture
from tests.support.fake_mtproto import FakeMTProtoServer

MiB = 1024 * 1024


async def _done(web: Any, job_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = (await web.client.get(f"/api/jobs/{job_id}")).json()
        if job["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.1)


async def test_a_t_me_link_through_the_rest_api(
    make_web: WebFactory, fake_mtproto: FakeMTProtoServer, mtproto_public_key: Path
) -> None:
    world = fake_mtproto.world
    me = world.add_user("Reader", username="reader")
    chan = world.add_channel("Lectures", username="lectures", members=[me])
    data = os.urandom(2 * MiB + 5)
    msg = world.post(chan, "a talk", media=world.add_document(data, file_name="talk.bin"))
    web = await make_web(
        telegram_api_id=611335,
        telegram_api_hash="d524b414d21f4d37f08684c1df41ac9c",
        telegram_mtproto_server=fake_mtproto.address,
        telegram_mtproto_public_key=mtproto_public_key,
        telegram_user_session=fake_mtproto.session_string(me),
    )
    r = await web.client.post(
        "/api/jobs",
        json={"url": f"https://t.me/lectures/{msg.id}", "type": "video", "archive": True},
    )
    assert r.status_code == 201, r.text
    job = await _done(web, r.json()["id"])
    assert job["status"] == "COMPLETED", job
    assert job["source_type"] == "TELEGRAM"
    assert (job["chat"], job["message_id"]) == ("Lectures", msg.id)
    got = await web.client.get(f"/api/jobs/{job['id']}/file")
    assert got.content == data
    # in the library, found by the chat as a user names it, saying where it came from
    for chat in ("@lectures", "Lectures", str(chan.id), f"-100{chan.id}"):
        found = await web.client.get("/api/library", params={"q": "talk", "chat": chat})
        assert [(i["channel_id"], i["message_id"]) for i in found.json()["items"]] == [
            (chan.id, msg.id)
        ], chat
    by_id = await web.client.get("/api/library", params={"q": "talk", "chat_id": chan.id})
    assert len(by_id.json()["items"]) == 1
    elsewhere = await web.client.get("/api/library", params={"q": "talk", "chat": "@nowhere"})
    assert elsewhere.json()["items"] == []
    served = fake_mtproto.stats.file_bytes_served

    # the same message by its other link, asked as audio: the same document, its job
    same = await web.client.post(
        "/api/jobs", json={"url": f"https://t.me/c/{chan.id}/{msg.id}", "type": "audio"}
    )
    assert (same.status_code, same.json()["id"]) == (200, job["id"])
    # reposted in another chat: a new job whose file is the library's, not downloaded
    other = world.add_channel("Reposts", username="reposts", members=[me])
    repost = world.post(other, "again", media=chan.messages[msg.id].media)
    r = await web.client.post("/api/jobs", json={"url": f"https://t.me/reposts/{repost.id}"})
    assert r.status_code == 201, r.text
    second = await _done(web, r.json()["id"])
    assert second["status"] == "COMPLETED" and second["file_path"] == job["file_path"]
    assert fake_mtproto.stats.file_bytes_served == served
    again = await web.client.post("/api/jobs", json={"url": f"https://t.me/reposts/{repost.id}"})
    assert (again.status_code, again.json()["id"]) == (200, job["id"])

    bad = await web.client.post("/api/jobs", json={"url": "https://t.me/c/abc/5"})
    assert bad.status_code == 400
    assert bad.json()["error_type"] == "URL_REJECTED"
    assert "\n" not in bad.json()["detail"]
