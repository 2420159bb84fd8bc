"""Files sent to the bot (issue 10): what may be fetched and how, what a caption asks,
how Bot API refusals become job errors, and that a tg://bot job URL is no link."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from mediaferry.config import Settings, load_settings
from mediaferry.delivery.caption import caption, plain_caption
from mediaferry.errors import ErrorType, RateLimited, UrlRejected
from mediaferry.jobs.bot_files import refusal, wants_archive
from mediaferry.plan import BotFile, bot_file_from_dict
from mediaferry.sources.telegram import bot_file_route, bot_file_title
from mediaferry.transfer.botapi import TelegramRefused, _refusal
from mediaferry.urls import check_url

MB = 1024 * 1024
TOKEN = "123456789:TEST-token"
API = {"telegram_api_id": 1, "telegram_api_hash": "0123456789abcdef0123456789abcdef"}


def _settings(tmp_path: Path, **kw: Any) -> Settings:
    return load_settings(data_dir=tmp_path, telegram_token=TOKEN, **kw)


def _file(size: int | None, chat_id: int = 1001, **kw: Any) -> BotFile:
    return BotFile(chat_id, 7, kw.pop("kind", "video"), "FID", "UNIQ", size=size, **kw)


@pytest.mark.parametrize("chat_id", [1001, -4001234, -1001500000001])
def test_the_route_is_mtproto_with_it_in_every_chat(tmp_path: Path, chat_id: int) -> None:
    """A private chat, a basic group, a supergroup or channel: the bot's MTProto session
    reads each (its own box, or channels.getMessages); without it, getFile."""
    off, on = _settings(tmp_path), _settings(tmp_path, **API)
    assert bot_file_route(off, _file(5 * MB, chat_id)) == "botapi"
    assert bot_file_route(on, _file(5 * MB, chat_id)) == "mtproto"
    assert not load_settings(data_dir=tmp_path, **API).bot_mtproto_enabled  # no token


@pytest.mark.parametrize(
    ("size", "chat_id", "mtproto", "expected"),
    [
        (0, 1001, False, "empty (0 bytes)"),
        (20 * MB, 1001, False, None),
        (30 * MB, 1001, False, "files over 20 MB need MTProto: set MEDIAFERRY_TELEGRAM_API_ID"),
        (30 * MB, 1001, True, None),
        (30 * MB, -1001234, True, None),  # a supergroup: over MTProto too
        (30 * MB, -4001234, True, None),  # a basic group
        (30 * MB, -1001234, False, "files over 20 MB need MTProto"),
        (2001 * MB, -1001234, True, "over 2000 MB"),
        (2001 * MB, 1001, True, "over 2000 MB"),
        (600 * MB, 1001, True, "over this server's limit of 500 MB"),
        (None, 1001, False, None),
    ],
)
def test_refusals_are_one_clear_line(
    tmp_path: Path, size: int | None, chat_id: int, mtproto: bool, expected: str | None
) -> None:
    settings = _settings(tmp_path, max_file_size_mb=500 if size == 600 * MB else 4000,
                         **(API if mtproto else {}))  # fmt: skip
    reason = refusal(settings, _file(size, chat_id))
    assert "private chat" not in (reason or "")  # no chat is limited to 20 MB with MTProto
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason and "\n" not in reason


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("/archive", True),
        ("my talk /archive", True),
        ("/archive@mediaferry_bot please", True),
        ("/ARCHIVE", True),
        ("/archive_on", False),
        ("see /archives", False),
        ("nothing", False),
        (None, False),
    ],
)
def test_the_archive_caption(text: str | None, wanted: bool) -> None:
    assert wants_archive(text) is wanted


def test_a_bot_file_round_trips_through_job_meta_and_names_itself() -> None:
    file = _file(10, kind="document", mime="video/mp4", file_name="talk.final.mp4")
    assert bot_file_from_dict(asdict(file)) == file
    assert bot_file_from_dict({"chat_id": 1}) is None and bot_file_from_dict("x") is None
    assert file.is_video and not _file(10, kind="audio").is_video
    assert bot_file_title(file) == "talk.final"
    assert bot_file_title(_file(1, caption="\n  First line\nsecond")) == "First line"
    assert bot_file_title(_file(1, title="Own", file_name="x.mp3")) == "Own"
    # the job's URL names the message; nobody can send it as a link
    assert file.url == "tg://bot/1001/7"
    with pytest.raises(UrlRejected):
        check_url(file.url)
    assert caption("Talk", file.url) == "<b>Talk</b>"
    assert plain_caption("Talk", file.url) == "Talk"


def test_bot_api_refusals_become_job_errors() -> None:
    flood = _refusal(429, {"ok": False, "parameters": {"retry_after": 7}})
    assert isinstance(flood, RateLimited) and flood.retry_after == 7
    big = _refusal(400, {"ok": False, "description": "Bad Request: file is too big"})
    assert big.error_type == ErrorType.SIZE_LIMIT and "need MTProto" in big.message
    gone = _refusal(400, {"ok": False, "description": "Bad Request: invalid file_id"})
    assert isinstance(gone, TelegramRefused) and not gone.retryable
    down = _refusal(502, None)
    assert down.error_type == ErrorType.TELEGRAM_ERROR and down.retryable
    assert TOKEN not in down.message
