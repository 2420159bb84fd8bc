"""The caption of a download with other files (a torrent's cover, notes): they are
named, escaped, and the caption stays within Telegram's 1024 characters."""

from __future__ import annotations

from mediaferry.delivery.caption import MAX_CAPTION, caption
from tests.support._tg_markup import utf16_len, visible_text


def test_other_files_are_listed_escaped() -> None:
    text = caption("Album", "http://127.0.0.1/a.torrent", None, ["cover.jpg", "<b>&.nfo"])
    assert visible_text(text, "HTML") == (
        "Album\nAlso: cover.jpg, <b>&.nfo\nhttp://127.0.0.1/a.torrent"
    )


def test_many_long_names_stay_within_the_limit() -> None:
    names = [f"{'Ж' * 200} {n}.nfo" for n in range(500)]
    text = caption("T" * 5000, "http://127.0.0.1/" + "a" * 3000, None, names)
    shown = visible_text(text, "HTML")
    assert utf16_len(shown) <= MAX_CAPTION and "more" in shown
