"""What users type for Telegram chats and messages, the archive template, the MTProto
settings: parsed offline, bad input refused in one line."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from mediaferry.config import load_settings
from mediaferry.errors import ConfigError, UrlRejected
from mediaferry.files.template import DEFAULT_TEMPLATE, check_template, render_template
from mediaferry.telegram.links import ChatRef, message_url, parse_chat, parse_message_link


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@Music_Chan", ChatRef(username="music_chan")),
        ("music_chan", ChatRef(username="music_chan")),
        ("t.me/music_chan", ChatRef(username="music_chan")),
        ("https://t.me/music_chan", ChatRef(username="music_chan")),
        ("https://telegram.me/s/music_chan", ChatRef(username="music_chan")),
        ("-1001234567890", ChatRef(channel_id=1234567890)),
        ("1234567890", ChatRef(peer_id=1234567890)),
        ("https://t.me/c/1234567890/55", ChatRef(channel_id=1234567890)),
    ],
)
def test_chat_references(text: str, expected: ChatRef) -> None:
    assert parse_chat(text) == expected


@pytest.mark.parametrize(
    "text", ["", "   ", "@a", "@bad name", "https://t.me/", "https://t.me/123/4", "@x$y"]
)
def test_bad_chat_references_are_one_line_errors(text: str) -> None:
    with pytest.raises(UrlRejected) as info:
        parse_chat(text)
    assert "\n" not in info.value.message


@pytest.mark.parametrize(
    ("url", "chat", "message_id", "single"),
    [
        ("https://t.me/music_chan/42", ChatRef(username="music_chan"), 42, False),
        ("https://t.me/music_chan/42?single", ChatRef(username="music_chan"), 42, True),
        ("http://www.t.me/s/Music_Chan/7", ChatRef(username="music_chan"), 7, False),
        ("https://t.me/c/1234567890/99", ChatRef(channel_id=1234567890), 99, False),
        ("t.me/c/1234567890/5/99?single=", ChatRef(channel_id=1234567890), 99, True),
    ],
)
def test_message_links(url: str, chat: ChatRef, message_id: int, single: bool) -> None:
    link = parse_message_link(url)
    assert (link.chat, link.message_id, link.single) == (chat, message_id, single)


@pytest.mark.parametrize(
    "url",
    [
        "https://t.me/music_chan",  # a chat, not a message
        "https://t.me/c/abc/5",
        "https://example.com/music_chan/5",
        "https://t.me/c/123/x",
        "https://t.me/music_chan/0",
    ],
)
def test_invalid_message_links_are_refused_in_one_line(url: str) -> None:
    with pytest.raises(UrlRejected) as info:
        parse_message_link(url)
    assert "\n" not in info.value.message


def test_canonical_message_urls() -> None:
    assert message_url(ChatRef(username="chan"), 5) == "https://t.me/chan/5"
    assert message_url(ChatRef(channel_id=77), 5, single=True) == "https://t.me/c/77/5?single"


def test_the_default_template_renders_a_safe_relative_path() -> None:
    values = {"chat": "My/Chan", "performer": "A..B", "title": "../../etc/passwd", "ext": "mp3"}
    path = render_template(DEFAULT_TEMPLATE, values)
    assert isinstance(path, PurePosixPath)
    assert len(path.parts) == 2  # a value never adds a folder
    assert ".." not in path.parts
    assert path.suffix == ".mp3"


@pytest.mark.parametrize(
    "template",
    [
        "../{title}.{ext}",
        "/abs/{title}.{ext}",
        "{chat}/../../{title}.{ext}",
        "{chat}//{title}",
        "{nope}.{ext}",
        "plain.mp3",
        "{title",
        "a\\b{title}",
        "",
        # format specs and conversions would fail (or pad) when the file is archived
        "{title:d}.{ext}",
        "{title!z}.{ext}",
        "{title!r}.{ext}",
        "{title:>300}.{ext}",
        "{title:{ext}}",
    ],
)
def test_bad_templates_are_refused_in_one_line(template: str) -> None:
    with pytest.raises(UrlRejected) as info:
        check_template(template)
    assert "\n" not in info.value.message


def test_api_id_must_be_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAFERRY_TELEGRAM_API_ID", "12ab")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "MEDIAFERRY_TELEGRAM_API_ID" in info.value.message
    assert "\n" not in info.value.message


def test_mtproto_is_off_without_id_and_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAFERRY_TELEGRAM_API_ID", "12345")
    assert not load_settings().mtproto_enabled
    monkeypatch.setenv("MEDIAFERRY_TELEGRAM_API_HASH", "0123456789abcdef")
    monkeypatch.setenv("MEDIAFERRY_TELEGRAM_MTPROTO_SERVER", "127.0.0.1:4430")
    settings = load_settings()
    assert settings.mtproto_enabled
    assert settings.telegram_mtproto_dc == 2
    assert "0123456789abcdef" not in repr(settings)


def test_mtproto_server_must_be_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAFERRY_TELEGRAM_MTPROTO_SERVER", "127.0.0.1")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "MEDIAFERRY_TELEGRAM_MTPROTO_SERVER" in info.value.message
