"""Source detection, the example-per-source contract, media ids (all offline)."""

from __future__ import annotations

import time

import pytest

from mediaferry.config import Settings
from mediaferry.errors import FormatNotFound
from mediaferry.plan import SourceType
from mediaferry.sources._ytdlp import parse_playlist_items
from mediaferry.sources.registry import SOURCES, detect_source, media_id_for, source_for

SETTINGS = Settings(browser_domains=["player.example.org"])


@pytest.mark.parametrize("cls", SOURCES, ids=lambda c: c.name.value)
def test_every_example_is_claimed_by_its_own_source_only(cls: type) -> None:
    assert cls.example, f"{cls.__name__} has no example URL"
    claimants = [other.name for other in SOURCES if other.suitable(cls.example, SETTINGS)]
    assert claimants == [cls.name]
    assert detect_source(cls.example, SETTINGS) == cls.name


def test_every_source_type_is_registered() -> None:
    assert {cls.name for cls in SOURCES} == set(SourceType)
    for source_type in SourceType:
        assert source_for(source_type, SETTINGS).name == source_type


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://youtu.be/dQw4w9WgXcQ", SourceType.YOUTUBE),
        ("https://music.youtube.com/watch?v=dQw4w9WgXcQ", SourceType.YOUTUBE),
        ("https://www.youtube.com/playlist?list=PLBCF2DAC6FFB574DE", SourceType.YOUTUBE),
        ("https://fb.watch/abcDEF123/", SourceType.FACEBOOK),
        ("https://www.facebook.com/reel/1234567890", SourceType.FACEBOOK),
        ("https://archive.org/details/some_item", SourceType.ARCHIVE_ORG),
        ("https://ar.islamway.net/lesson/12345/title", SourceType.ISLAMIC),
        ("https://www.way2allah.com/khotab-item-1.htm", SourceType.ISLAMIC),
        ("https://www.dailymotion.com/video/x7tgad0", SourceType.YTDLP),
        ("https://soundcloud.com/artist/track", SourceType.YTDLP),
        ("https://cdn.example.com/a/b/movie.MP4?token=1", SourceType.DIRECT),
        ("https://example.com/live/index.m3u8", SourceType.DIRECT),
        ("https://example.com/files/ubuntu.torrent", SourceType.TORRENT),
        ("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567", SourceType.TORRENT),
        ("https://t.me/durov/42", SourceType.TELEGRAM),
        ("https://example.com/some/article", SourceType.BROWSER),  # the fallback
        ("file:///etc/passwd", SourceType.UNSUPPORTED),
        ("javascript:alert(1)", SourceType.UNSUPPORTED),
    ],
)
def test_detect_source(url: str, expected: SourceType) -> None:
    assert detect_source(url, SETTINGS) == expected


def test_islamic_domains_are_configurable() -> None:
    settings = Settings(islamic_domains=["lectures.example.net"])
    assert detect_source("https://lectures.example.net/l/9", settings) == SourceType.ISLAMIC
    assert detect_source("https://way2allah.com/khotab-item-1.htm", settings) != (
        SourceType.ISLAMIC
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://youtu.be/dQw4w9WgXcQ",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&feature=share",
        "https://www.youtube.com/watch?feature=youtu.be&v=dQw4w9WgXcQ&t=42",
        "https://www.youtube.com/shorts/dQw4w9WgXcQ",
        "https://m.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
    ],
)
def test_youtube_forms_share_one_media_id(url: str) -> None:
    assert media_id_for(url, detect_source(url, SETTINGS), SETTINGS) == "dQw4w9WgXcQ"


def test_media_ids_for_other_sites_come_from_ytdlp_patterns() -> None:
    a = "https://vimeo.com/76979871"
    b = "https://player.vimeo.com/video/76979871"
    assert media_id_for(a, SourceType.YTDLP, SETTINGS) == "Vimeo:76979871"
    assert media_id_for(b, SourceType.YTDLP, SETTINGS) in ("Vimeo:76979871", "VimeoPlayer:76979871")
    fb = "https://www.facebook.com/watch/?v=10153231379946729"
    assert media_id_for(fb, SourceType.FACEBOOK, SETTINGS) == "10153231379946729"
    magnet = "magnet:?xt=urn:btih:ABCDEF0123456789ABCDEF0123456789ABCDEF01&dn=x"
    assert media_id_for(magnet, SourceType.TORRENT, SETTINGS) == (
        "abcdef0123456789abcdef0123456789abcdef01"
    )
    assert media_id_for("https://example.com/page", SourceType.BROWSER, SETTINGS) is None


def test_detection_is_fast_after_first_use() -> None:
    detect_source("https://www.youtube.com/watch?v=dQw4w9WgXcQ", SETTINGS)  # warm the cache
    urls = [f"https://unknown-{i}.example.com/page/{i}" for i in range(20)]
    start = time.perf_counter()
    for url in urls:
        assert detect_source(url, SETTINGS) == SourceType.BROWSER
    per_url = (time.perf_counter() - start) / len(urls)
    assert per_url < 0.05, f"{per_url * 1000:.1f} ms per URL"


@pytest.mark.parametrize(
    ("spec", "cap", "expected"),
    [
        (None, 3, [1, 2, 3]),
        ("1-4", 50, [1, 2, 3, 4]),
        ("5,7,9", 50, [5, 7, 9]),
        ("2-3, 8", 50, [2, 3, 8]),
        ("1-10000", 5, [1, 2, 3, 4, 5]),
    ],
)
def test_playlist_items(spec: str | None, cap: int, expected: list[int]) -> None:
    assert parse_playlist_items(spec, cap) == expected


@pytest.mark.parametrize("spec", ["a-b", "3-1", "0", "1;2"])
def test_bad_playlist_items(spec: str) -> None:
    with pytest.raises(FormatNotFound):
        parse_playlist_items(spec, 50)
