"""Following a Telegram channel: the fake MTProto server (real protocol, stock Telethon
inside Mediaferry) gains posts while the test runs; checks read only what is newer than
the stored high-water message id and queue TELEGRAM jobs deduplicated by document id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mediaferry.app import Services
from mediaferry.errors import UrlRejected
from tests.support.db_fixtures import make_settings
from tests.support.fake_mtproto import FakeMTProtoServer

API_ID, API_HASH = 611335, "d524b414d21f4d37f08684c1df41ac9c"


@pytest.fixture
async def tg_services(
    tmp_path: Path, fake_mtproto: FakeMTProtoServer, mtproto_public_key: Path
) -> AsyncIterator[tuple[Services, FakeMTProtoServer]]:
    me = fake_mtproto.world.add_user("Reader", username="reader", phone="+15550002")
    fake_mtproto.me = me  # type: ignore[attr-defined]
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'mf.db'}",
        telegram_api_id=API_ID,
        telegram_api_hash=API_HASH,
        telegram_mtproto_server=fake_mtproto.address,
        telegram_mtproto_public_key=mtproto_public_key,
        telegram_user_session=fake_mtproto.session_string(me),
    )
    services = await Services.create(settings)
    try:
        yield services, fake_mtproto
    finally:
        await services.close()


async def test_following_a_channel_queues_each_new_post_once(
    tg_services: tuple[Services, FakeMTProtoServer], media_dir: Path
) -> None:
    services, server = tg_services
    w = server.world
    chan = w.add_channel("Friday Lectures", username="lectures", members=[server.me])  # type: ignore[attr-defined]
    audio = (media_dir / "audio.mp3").read_bytes()
    for n in range(3):
        w.post(
            chan,
            f"old {n}",
            media=w.add_audio(audio + bytes([n]), title=f"Old {n}", performer="Sheikh", duration=4),
        )
    w.post(chan, "just text")
    follow = await services.follows.add(
        "https://t.me/lectures", job_type="audio", start="backfill", backfill=1, tg_kind="audio"
    )
    assert (follow.kind, follow.url, follow.title) == ("telegram", "@lectures", "Friday Lectures")
    first = await services.follows.check(follow.id)
    assert first.new == 1 and first.skipped == 2
    job = await services.jobs.get(first.job_ids[0])
    assert job.source_type == "TELEGRAM" and job.title == "Old 2" and job.origin == "follow"
    assert job.media_id and job.media_id.startswith("tgdoc:")
    stored = await services.follows.get(follow.id)
    assert stored.high_water == max(i for i, m in chan.messages.items() if m.media)

    new_docs = []
    for n in range(4):
        doc = w.add_audio(audio + bytes([10 + n]), title=f"New {n}", performer="Sheikh", duration=4)
        new_docs.append(doc)
        w.post(chan, f"new {n}", media=doc)
    w.post(chan, "a video", media=w.add_video(b"\0" * 2048, duration=1, w=2, h=2))
    second = await services.follows.check(follow.id)
    assert second.new == 4  # --kind audio: the video is not asked for
    titles = sorted([(await services.jobs.get(j)).title or "" for j in second.job_ids])
    assert titles == ["New 0", "New 1", "New 2", "New 3"]
    # the same document reposted in another channel the account follows: no second job
    other = w.add_channel("Reposts", username="reposts", members=[server.me])  # type: ignore[attr-defined]
    repost = await services.follows.add("@reposts", start="now")
    await services.follows.check(repost.id)
    w.post(other, "repost", media=new_docs[0])
    again = await services.follows.check(repost.id)
    assert again.new == 0 and again.duplicates == 1
    # nothing new: one history request from the high-water mark, no job
    server.stats.reset()
    quiet = await services.follows.check(follow.id)
    assert quiet.new == 0 and quiet.error is None
    history = (
        server.stats.requests["messages.search"] + server.stats.requests["messages.getHistory"]
    )
    assert history == 1


async def test_telegram_follow_refusals(
    tg_services: tuple[Services, FakeMTProtoServer],
) -> None:
    services, server = tg_services
    chan = server.world.add_channel("Out", username="outchat", members=[server.me])  # type: ignore[attr-defined]
    with pytest.raises(UrlRejected, match="the chat it delivers into"):
        await services.follows.add("@outchat", chat_id=-(10**12 + chan.id))
    with pytest.raises(UrlRejected, match="unknown kind"):
        await services.follows.add("@outchat", tg_kind="stickers")
    with pytest.raises(Exception, match=r"no chat|cannot see"):
        await services.follows.add("@nosuchchannel")
    assert await services.follows.list_follows() == []
