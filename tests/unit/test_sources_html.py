"""The static media-page parser and torrent/magnet metadata (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaferry.errors import ParserError, UnsupportedSource
from mediaferry.net.torrent import magnet_info, parse_torrent
from mediaferry.sources._html import parse_media_page
from mediaferry.sources.islamic import pick_link
from tests.support._pages import ISLAMIC, NOMEDIA
from tests.support.torrent import info_hash, make_torrent

BASE = "http://lectures.example/pages/islamic.html"


def test_lecture_page_media_title_and_speaker() -> None:
    page = parse_media_page(ISLAMIC.replace("{base}", "http://lectures.example"), BASE)
    urls = [link.url for link in page.links]
    assert urls == [
        "http://lectures.example/media/audio.mp3",
        "http://lectures.example/media/audio.m4a",
        "http://lectures.example/media/h264_aac.mp4",
    ]  # the duplicate download link of the <audio> source is not listed twice
    assert page.title == "فضل العلم" and page.speaker == "محمد المثال"
    assert pick_link(page.links, "audio").url.endswith("audio.mp3")  # type: ignore[union-attr]
    assert pick_link(page.links, "video").url.endswith(".mp4")  # type: ignore[union-attr]


def test_page_without_media() -> None:
    assert parse_media_page(NOMEDIA, BASE).links == []


def test_meta_tags_and_untyped_sources() -> None:
    html = """<html><head><meta property="og:audio" content="/a/talk">
    <meta name="author" content="Speaker Name"><title>T | Site</title></head>
    <body><video><source src="/stream/7"></video><a href="blob:x">x</a></body></html>"""
    page = parse_media_page(html, "https://s.example/p")
    kinds = {link.url: link.kind for link in page.links}
    assert kinds == {"https://s.example/stream/7": "video"}  # og:audio without a type: unknown
    assert page.speaker == "Speaker Name" and page.title == "T"


def test_torrent_and_magnet_metadata(tmp_path: Path) -> None:
    file = tmp_path / "talk.mp3"
    file.write_bytes(b"x" * 300_000)
    data = make_torrent(file, "http://seed.example/talk.mp3")
    meta = parse_torrent(data)
    assert (meta.name, meta.size, meta.info_hash) == ("talk.mp3", 300_000, info_hash(data))
    assert meta.web_seeds == ["http://seed.example/talk.mp3"]
    with pytest.raises(ParserError):
        parse_torrent(b"<html>not a torrent</html>")
    magnet = magnet_info("magnet:?xt=urn:btih:ABC&dn=Talk&tr=http%3A%2F%2Ft.example%2Fa&xl=12")
    assert (magnet.info_hash, magnet.name, magnet.size) == ("abc", "Talk", 12)
    assert magnet.trackers == ["http://t.example/a"]
    with pytest.raises(UnsupportedSource):
        magnet_info("magnet:?dn=nohash")


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Members-only lecture", "Members-only lecture"),  # a hyphen inside a word stays
        ("Lecture 5 - Way2Allah", "Lecture 5"),
        ("Lecture | Site", "Lecture"),
        ("Part A - Part B - Site", "Part A - Part B"),
        ("Talk — Channel", "Talk"),
    ],
)
def test_the_site_name_is_cut_from_page_titles(title: str, expected: str) -> None:
    page = parse_media_page(f"<title>{title}</title><audio src='a.mp3'>", "https://x.org/p")
    assert page.title == expected
