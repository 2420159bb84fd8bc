"""Forged button presses, through the fake Bot API and the real python-telegram-bot:
each is answered ("This button has expired.") and changes nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaferry.bot.callbacks import EXPIRED, AskChoice, CancelJob, SetOption, parse_callback
from tests.e2e._bot_harness import OTHER, USER, running_bot
from tests.support.fake_telegram import FakeTelegram

MALFORMED = [
    "cancel:99999999999999999999999",
    "cancel:9223372036854775808",
    "cancel:-1",
    "cancel:0",
    "cancel:007",
    "cancel:abc",
    "cancel:",
    "cancel:1:2",
    "cancel:١٢",
    "cancel:１",
    "cancel: 1",
    "ask:",
    "ask:zz",
    "ask:../../x:video:best",
    "ask:deadbeef:movie:best",
    "set:quality:' OR 1=1 --",
    "set:owner:me",
    "set:archive",
    "frobnicate",
    ":",
    "x" * 64,
]


@pytest.mark.parametrize(
    ("data", "parsed"),
    [
        ("cancel:42", CancelJob(42)),
        ("cancel:9223372036854775807", CancelJob(2**63 - 1)),
        ("ask:t0k3n:video:720p", AskChoice("t0k3n", "video", "720p")),
        ("set:archive:on", SetOption("archive", "on")),
        *((data, None) for data in MALFORMED),
        (None, None),
        ("cancel:1" + "0" * 80, None),
    ],
)
def test_one_parser_bounds_every_field(data: str | None, parsed: object) -> None:
    assert parse_callback(data) == parsed


async def test_forged_and_foreign_callbacks_get_expired_and_nothing_else(
    tmp_path: Path, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(tmp_path, fake_telegram, workers=False) as bot:
        foreign = await bot.services.jobs.create(
            "http://127.0.0.1:9/theirs.mp4", user_id=OTHER, chat_id=OTHER
        )
        own = await bot.services.jobs.create(
            "http://127.0.0.1:9/mine.mp4", user_id=USER, chat_id=USER
        )
        panel = await bot.send(USER, "/settings")
        presses = [
            *MALFORMED,
            "ask:deadbeef:video:720p",  # well formed, but no such keyboard
            "cancel:9223372036854775807",  # well formed, no such job
            f"cancel:{foreign.job.id}",  # another user's job, in another chat
        ]
        sent_before = len(fake_telegram.calls("sendMessage"))
        edits_before = len(fake_telegram.calls("editMessageText"))
        for data in presses:
            fake_telegram.user_presses_button(USER, panel, data, check=False)
        await fake_telegram.async_wait_for(
            lambda: len(fake_telegram.callback_answers) == len(presses), timeout=15
        )
        texts = [a.get("text") for a in fake_telegram.callback_answers.values()]
        assert texts == [EXPIRED] * len(presses)
        # nothing else happened: no job touched, no message sent or edited
        assert (await bot.services.jobs.get(foreign.job.id)).status == foreign.job.status
        assert (await bot.services.jobs.get(own.job.id)).status == own.job.status
        assert len(fake_telegram.calls("sendMessage")) == sent_before
        assert len(fake_telegram.calls("editMessageText")) == edits_before
        assert not [r for r in caplog.records if r.getMessage() == "bot handler failed"]
        # the bot still works
        assert "Send me a link" in ((await bot.send(USER, "/help")).text or "")
