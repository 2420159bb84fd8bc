"""Follows against a local feed server that changes while the test runs, on real SQLite
and PostgreSQL: first-check policies, never missing and never repeating entries,
filters, conditional requests, failures with back-off, the per-check cap, retention,
claiming across processes, and the operator's notifications."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mediaferry.app import Notifications, Services
from mediaferry.db.models import Follow, FollowSeen, Job, MediaItem
from mediaferry.delivery.notify import Notifier
from mediaferry.errors import ConfigError, LimitExceeded, UnsupportedSource, UrlRejected
from mediaferry.follows.scheduler import FollowScheduler
from mediaferry.follows.service import FollowService
from mediaferry.jobs.service import JobService
from tests.support.db_fixtures import make_settings
from tests.support.feed_server import FeedServer, NotifyReceiver
from tests.support.media_server import MediaServer


def _ep(media_server: MediaServer, n: int) -> str:
    return media_server.url(f"/media/audio.mp3?episode={n}")


async def _jobs(services: Services) -> list[Job]:
    async with services.db.session() as session:
        return list((await session.execute(select(Job).order_by(Job.id))).scalars())


def _fill(feed: FeedServer, media_server: MediaServer, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        feed.publish(f"Episode {n}", _ep(media_server, n))


async def test_from_now_backfill_and_since(
    services: Services, feed_server: FeedServer, media_server: MediaServer
) -> None:
    _fill(feed_server, media_server, 5)
    follows = services.follows
    now_follow = await follows.add(feed_server.url("/rss.xml"), job_type="audio")
    assert now_follow.kind == "feed" and now_follow.title == "Test podcast"
    result = await follows.check(now_follow.id)
    assert result.new == 0 and result.skipped == 5  # --from now: the five are only seen
    back = await follows.add(feed_server.url("/atom.xml"), start="backfill", backfill=2)
    result = await follows.check(back.id)
    assert result.new == 2
    titles = sorted(j.title or "" for j in await _jobs(services))
    assert titles == ["Episode 3", "Episode 4"]  # the two newest
    feed_server.publish("March 1", _ep(media_server, 10), at=datetime(2026, 3, 1, 12, tzinfo=UTC))
    feed_server.publish("March 5", _ep(media_server, 11), at=datetime(2026, 3, 5, 12, tzinfo=UTC))
    since = await follows.add(feed_server.url("/rss.xml") + "?v=since", since="2026-03-02")
    stored = await follows.get(since.id)
    assert stored.published_after == datetime(2026, 3, 2, tzinfo=UTC)
    result = await follows.check(since.id)
    assert result.new == 1
    assert (await services.jobs.get(result.job_ids[0])).title == "March 5"


async def test_ten_new_entries_between_checks_are_ten_jobs_and_none_repeats(
    services: Services, feed_server: FeedServer, media_server: MediaServer
) -> None:
    _fill(feed_server, media_server, 3)
    follow = await services.follows.add(feed_server.url("/rss.xml"), job_type="audio")
    assert (await services.follows.check(follow.id)).new == 0
    _fill(feed_server, media_server, 10, start=3)
    result = await services.follows.check(follow.id)
    assert result.new == 10 and result.remaining == 0
    jobs = await _jobs(services)
    assert sorted(j.title or "" for j in jobs) == sorted(f"Episode {n}" for n in range(3, 13))
    assert all(j.origin == "follow" and j.priority < 0 for j in jobs)
    # nothing new: the server answers 304 to the conditional request
    result = await services.follows.check(follow.id)
    assert result.not_modified and result.new == 0
    assert feed_server.conditional == 1
    # an entry removed and re-added is not fetched again
    gone = feed_server.remove(feed_server.entries[4].guid)
    _fill(feed_server, media_server, 1, start=13)
    assert (await services.follows.check(follow.id)).new == 1
    feed_server.readd(gone)
    result = await services.follows.check(follow.id)
    assert result.new == 0
    assert len(await _jobs(services)) == 11


async def test_filters_title_and_duration(
    services: Services, feed_server: FeedServer, media_server: MediaServer
) -> None:
    follow = await services.follows.add(
        feed_server.url("/rss.xml"),
        include="lecture",
        exclude="trailer",
        min_duration_s=60,
    )
    await services.follows.check(follow.id)
    feed_server.publish("Lecture 1", _ep(media_server, 1), duration=600)
    feed_server.publish("Lecture trailer", _ep(media_server, 2), duration=600)
    feed_server.publish("Music", _ep(media_server, 3), duration=600)
    feed_server.publish("Lecture short", _ep(media_server, 4), duration=30)
    result = await services.follows.check(follow.id)
    assert result.new == 1 and result.skipped == 3
    assert [j.title for j in await _jobs(services)] == ["Lecture 1"]


async def test_a_failing_feed_backs_off_and_recovers(
    services: Services, feed_server: FeedServer, media_server: MediaServer
) -> None:
    _fill(feed_server, media_server, 2)
    follow = await services.follows.add(feed_server.url("/rss.xml"))
    await services.follows.check(follow.id)
    for mode, expect in (("500", "HTTP 500"), ("garbage", "not valid XML")):
        feed_server.mode = mode
        result = await services.follows.check(follow.id)
        assert result.error and expect in result.error
    stored = await services.follows.get(follow.id)
    assert stored.failures == 2 and stored.last_error and "XML" in stored.last_error
    assert stored.next_check_at > datetime.now(UTC) + timedelta(seconds=60)
    feed_server.mode = "429"
    feed_server.retry_after = 900
    await services.follows.check(follow.id)
    stored = await services.follows.get(follow.id)
    assert stored.next_check_at > datetime.now(UTC) + timedelta(seconds=800)
    feed_server.mode = "ok"
    _fill(feed_server, media_server, 1, start=2)
    result = await services.follows.check(follow.id)
    assert result.new == 1 and result.error is None
    stored = await services.follows.get(follow.id)
    assert stored.failures == 0 and stored.last_error is None


async def test_a_flood_of_entries_is_queued_in_capped_rounds(
    tmp_path: Path, db_url: str, feed_server: FeedServer, media_server: MediaServer
) -> None:
    services = await Services.create(make_settings(tmp_path, db_url, max_playlist_items=20))
    try:
        follow = await services.follows.add(feed_server.url("/rss.xml"))
        await services.follows.check(follow.id)
        _fill(feed_server, media_server, 45)
        first = await services.follows.check(follow.id)
        assert (first.new, first.remaining) == (20, 25)
        assert sorted(j.title or "" for j in await _jobs(services))[0] == "Episode 0"  # oldest
        second = await services.follows.check(follow.id)
        third = await services.follows.check(follow.id)
        assert (second.new, third.new, third.remaining) == (20, 5, 0)
        jobs = await _jobs(services)
        assert len(jobs) == 45 and len({j.title for j in jobs}) == 45
    finally:
        await services.close()


async def test_playlist_read_by_ytdlp(
    services: Services, feed_server: FeedServer, media_server: MediaServer
) -> None:
    _fill(feed_server, media_server, 2)
    follow = await services.follows.add(
        feed_server.url("/playlist.xspf"), start="backfill", backfill=1
    )
    assert follow.kind == "playlist"
    result = await services.follows.check(follow.id)
    assert result.new == 1
    _fill(feed_server, media_server, 3, start=2)
    assert (await services.follows.check(follow.id)).new == 3


async def test_bad_input_is_refused_and_nothing_is_stored(
    tmp_path: Path, db_url: str, feed_server: FeedServer
) -> None:
    services = await Services.create(make_settings(tmp_path, db_url, max_follows_per_user=1))
    try:
        follows = services.follows
        feed = feed_server.url("/rss.xml")
        with pytest.raises(UnsupportedSource, match="not a playlist"):
            await follows.add(feed_server.url("/page.html"))
        with pytest.raises(UrlRejected, match="too often"):
            await follows.add(feed, every="5s")
        with pytest.raises(UrlRejected, match="not a valid regular expression"):
            await follows.add(feed, include="(unclosed")
        with pytest.raises(UrlRejected, match="exponential"):
            await follows.add(feed, include="(a+)+$")
        with pytest.raises(UrlRejected, match="YYYY-MM-DD"):
            await follows.add(feed, since="yesterday")
        with pytest.raises(UrlRejected):
            await follows.add("file:///etc/passwd")
        assert await follows.list_follows() == []
        await follows.add(feed, user_id=7)
        with pytest.raises(LimitExceeded):
            await follows.add(feed + "?2", user_id=7)
    finally:
        await services.close()


async def test_retention_deletes_only_what_the_follow_owns(
    services: Services, feed_server: FeedServer, media_server: MediaServer
) -> None:
    follow = await services.follows.add(feed_server.url("/rss.xml"), archive=True, keep_last=1)
    await services.follows.check(follow.id)
    _fill(feed_server, media_server, 3)
    result = await services.follows.check(follow.id)
    archive = services.settings.archive_dir
    archive.mkdir(parents=True, exist_ok=True)
    # the jobs "completed" into the archive (as the pipeline's archiver leaves them)
    files = []
    async with services.db.session() as session:
        jobs = (await session.execute(select(Job).where(Job.id.in_(result.job_ids)))).scalars()
        for n, job in enumerate(sorted(jobs, key=lambda j: j.id)):
            path = archive / f"ep{n}.mp3"
            path.write_bytes(b"x" * 10)
            files.append(path)
            job.status, job.file_path = "COMPLETED", str(path)
            job.finished_at = datetime.now(UTC) + timedelta(seconds=n)
            session.add(MediaItem(job_id=job.id, path=str(path), size=10, title=job.title))
    # someone asked for the oldest one directly: it is theirs too now
    oldest = min(result.job_ids)
    dup = await services.jobs.create(
        (await services.jobs.get(oldest)).url, job_type="video", quality="best", origin="cli"
    )
    assert not dup.created and dup.job.id == oldest
    removed = await services.follows.apply_retention(follow.id)
    assert removed == [sorted(result.job_ids)[1]]
    assert [p.exists() for p in files] == [True, False, True]
    async with services.db.session() as session:
        left = (await session.execute(select(MediaItem.job_id))).scalars().all()
    assert sorted(left) == [sorted(result.job_ids)[0], sorted(result.job_ids)[2]]


@pytest.mark.postgres
async def test_two_processes_never_check_the_same_follow_at_once(
    tmp_path: Path, feed_server: FeedServer, media_server: MediaServer
) -> None:
    from tests.support.db_fixtures import create_pg_database, drop_pg_database, pg_skip_reason

    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    url = await asyncio.to_thread(create_pg_database)
    try:
        first = await Services.create(make_settings(tmp_path / "a", url))
        second = await Services.create(
            make_settings(
                tmp_path / "b",
                url,
            ),
            migrate=False,
        )
        try:
            ids = []
            for n in range(12):
                follow = await first.follows.add(feed_server.url(f"/rss.xml?f={n}"))
                ids.append(follow.id)
            claims = await asyncio.gather(
                *(svc.follows.claim_due(f"w{i}") for i in range(12) for svc in (first, second))
            )
            taken = [c for c in claims if c is not None]
            assert sorted(taken) == sorted(ids)  # each due follow claimed exactly once
            assert await first.follows.claim_due("late") is None  # leases held
        finally:
            await second.close()
            await first.close()
    finally:
        await asyncio.to_thread(drop_pg_database, url)


async def test_scheduler_checks_due_follows_by_itself(
    services: Services, feed_server: FeedServer, media_server: MediaServer
) -> None:
    _fill(feed_server, media_server, 2)
    follow = await services.follows.add(feed_server.url("/rss.xml"), start="backfill", backfill=2)
    scheduler = FollowScheduler(services.follows)
    scheduler.start()
    try:
        for _ in range(200):
            if (await services.follows.get(follow.id)).primed:
                break
            await asyncio.sleep(0.05)
        stored = await services.follows.get(follow.id)
        assert stored.primed and stored.items_queued == 2 and stored.claimed_by is None
        assert stored.next_check_at > datetime.now(UTC) + timedelta(minutes=50)
    finally:
        await scheduler.stop()
    async with services.db.session() as session:
        seen = (await session.execute(select(FollowSeen.entry_id))).scalars().all()
    assert len(seen) == 2


async def test_notifications_are_batched_and_sent_once(
    tmp_path: Path, db_url: str, notify_receiver: NotifyReceiver
) -> None:
    settings = make_settings(tmp_path, db_url, notify_urls=notify_receiver.url, notify_batch_s=0.3)
    notifier = Notifier(settings)
    for n in range(10):
        notifier.add("job_failed", f"Job #{n} failed: HTTP 500")
    notifier.add("not_chosen", "ignored")
    for _ in range(200):  # the batch goes out after 0.3 s, in one message
        if notifier.sent:
            break
        await asyncio.sleep(0.05)
    assert notifier.sent == 1 and len(notify_receiver.messages) == 1
    message = notify_receiver.messages[0]
    assert "10 × job failed" in message["title"] and "Job #9 failed" in message["message"]
    notifier.add("follow_new", "Follow #1 (x): 2 new item(s)")
    await notifier.close()  # pending still goes out on close
    assert len(notify_receiver.messages) == 2 and notifier.sent == 2
    with pytest.raises(ConfigError, match="MEDIAFERRY_NOTIFY_URLS"):
        Notifier(make_settings(tmp_path, db_url, notify_urls="nonsense-url"))


async def test_the_service_relays_notify_events_to_the_sink(
    tmp_path: Path, db_url: str, notify_receiver: NotifyReceiver
) -> None:
    """What ``mediaferry run`` wires (app.Notifications): the bus's notify events reach
    the operator's sink; the stopper sends what is pending."""
    settings = make_settings(tmp_path, db_url, notify_urls=notify_receiver.url, notify_batch_s=0.2)
    notifications = Notifications(settings)
    services = await Services.create(settings, start_bus=False)
    try:
        stop = await notifications.start(services)
        services.bus.publish("notify", None, remote=False, event="job_failed", text="Job #7 failed")
        services.bus.publish("status", 7, remote=False)  # not a notification
        for _ in range(100):
            if notify_receiver.messages:
                break
            await asyncio.sleep(0.05)
        assert len(notify_receiver.messages) == 1
        assert "Job #7 failed" in notify_receiver.messages[0]["message"]
        # published just before the stop, not relayed yet: the stopper still sends it
        services.bus.publish("notify", None, remote=False, event="follow_new", text="Follow #1")
        await stop()
        assert len(notify_receiver.messages) == 2
    finally:
        await services.close()


async def test_follow_jobs_go_to_the_followers_chat(
    services: Services, feed_server: FeedServer, media_server: MediaServer
) -> None:
    follow = await services.follows.add(feed_server.url("/rss.xml"), chat_id=-100123, user_id=5)
    await services.follows.check(follow.id)
    _fill(feed_server, media_server, 1)
    result = await services.follows.check(follow.id)
    job = await services.jobs.get(result.job_ids[0])
    assert (job.chat_id, job.user_id, job.archive) == (-100123, 5, False)
    assert isinstance(services.follows, FollowService) and isinstance(services.jobs, JobService)
    async with services.db.session() as session:
        assert (await session.get(Follow, follow.id)) is not None


async def test_huge_feeds_are_capped(services: Services, feed_server: FeedServer) -> None:
    # 1,000,000 entries (over 100 MB): only the newest window is read, the rest never is
    follow = await services.follows.add(feed_server.url("/huge.xml?entries=1000000"))
    result = await services.follows.check(follow.id)
    assert result.error is None and result.new == 0 and result.skipped == 100
    # none of the three requests (sniff, detection, check) read the feed to its end, and
    # together they took less than one whole feed (every entry is over 100 bytes); what
    # went out is socket buffers, which loopback lets grow to tens of MB
    assert feed_server.huge_completed == 0
    assert feed_server.huge_bytes_sent < 100 * 1_000_000
    # a 50 MB feed whose every entry is 500 KB: refused past FOLLOW_MAX_FEED_MB
    big = await services.follows.add(
        feed_server.url("/huge.xml?entries=100&pad=500000"), every="1h"
    )
    result = await services.follows.check(big.id)
    assert result.error is not None and "larger than 20 MB" in result.error
    assert (await services.follows.get(big.id)).failures == 1


async def test_update_refuses_empty_required_fields(
    services: Services, feed_server: FeedServer
) -> None:
    follow = await services.follows.add(feed_server.url("/rss.xml"))
    for key in ("every", "paused", "archive", "quality", "job_type"):
        with pytest.raises(UrlRejected, match="cannot be empty"):
            await services.follows.update(follow.id, **{key: None})
    changed = await services.follows.update(follow.id, include=None, keep_last=None, every="2h")
    assert changed.every_s == 7200 and changed.include_re is None
    with pytest.raises(UrlRejected, match="minimum duration"):
        await services.follows.update(follow.id, min_duration_s=600, max_duration_s=60)
    assert (await services.follows.get(follow.id)).min_duration_s is None  # nothing stored
