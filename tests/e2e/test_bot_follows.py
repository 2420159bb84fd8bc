"""/follow, /following and /unfollow through the real bot and the fake Bot API: new
items of a followed feed are delivered into the chat that asked."""

from __future__ import annotations

from pathlib import Path

from tests.e2e._bot_harness import OTHER, USER, running_bot
from tests.support.fake_telegram import FakeTelegram
from tests.support.feed_server import FeedServer
from tests.support.media_server import MediaServer


async def test_follow_delivers_new_items_into_the_chat(
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    media_server: MediaServer,
    feed_server: FeedServer,
) -> None:
    feed_server.publish("Old talk", media_server.url("/media/audio.mp3?talk=old"))
    async with running_bot(tmp_path, fake_telegram) as bot:
        answer = await bot.send(USER, f"/follow {feed_server.url('/rss.xml')} audio every 2h")
        assert answer.text is not None and answer.text.startswith("Following #1")
        assert "every 2 h" in answer.text and "from now on" in answer.text
        follow = await bot.services.follows.get(1)
        assert (follow.chat_id, follow.user_id, follow.job_type) == (USER, USER, "audio")
        assert (await bot.services.follows.check(1)).new == 0  # from now: the old one is seen
        feed_server.publish("New talk", media_server.url("/media/audio.mp3?talk=new"))
        result = await bot.services.follows.check(1)
        assert result.new == 1
        job = await bot.job_status(result.job_ids[0], "COMPLETED", timeout=60)
        assert job.title == "New talk"
        sent = await fake_telegram.async_wait_for(
            lambda: next(iter(fake_telegram.calls("sendAudio")), None), timeout=30
        )
        assert int(sent.params["chat_id"]) == USER

        listing = await bot.send(USER, "/following")
        assert listing.text is not None and "#1" in listing.text and "1 item(s)" in listing.text
        assert ("⏸ Pause #1", "follow:pause:1") in listing.buttons
        # another user's press and forged data change nothing
        fake_telegram.user_presses_button(OTHER, listing, "follow:pause:1")
        forged = "follow:pause:99999999999999999999999"
        fake_telegram.user_presses_button(USER, listing, forged, check=False)
        await fake_telegram.async_wait_for(
            lambda: len(fake_telegram.calls("answerCallbackQuery")) >= 2
        )
        assert not (await bot.services.follows.get(1)).paused
        answers = [c.params.get("text") for c in fake_telegram.calls("answerCallbackQuery")]
        assert answers.count("This button has expired.") == 2
        fake_telegram.user_presses_button(USER, listing, "follow:pause:1")
        await fake_telegram.async_wait_for(
            lambda: len(fake_telegram.calls("answerCallbackQuery")) >= 3
        )
        assert (await bot.services.follows.get(1)).paused

        bad = await bot.send(USER, "/follow https://example.invalid/x every 5s")
        assert bad.text is not None and "too often" in bad.text
        usage = await bot.send(USER, "/follow")
        assert usage.text is not None and "Usage: /follow" in usage.text
        theirs = await bot.send(OTHER, "/unfollow 1")
        assert theirs.text == "You have no follow #1."
        gone = await bot.send(USER, "/unfollow 1")
        assert gone.text == "Unfollowed #1."
        assert await bot.services.follows.list_follows() == []
