"""yt-dlp detection from the cached table stays exact: the required-text pre-check
never hides a match, the rules read from extractors' own ``suitable`` give yt-dlp's
answers, and the table file is re-used only for the yt-dlp it was built from."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediaferry.sources import _extractors
from mediaferry.sources._extractor_rules import build_table, read_rule
from mediaferry.sources._extractor_table import ASK, Rule
from mediaferry.sources._extractors import extractor_key_for, load_table, temp_id_for
from mediaferry.sources._literals import may_match, required_text

TRICKY = [
    r"https?://(?:www\.)?example\.com/video/(?P<id>\d+)",
    r"(?i)https?://(?:www\.)?YouTube\.com/watch\?v=(?P<id>[\w-]{11})",
    r"https?://(?:a|b\.c|d(?:e|f)g)\.tv/x+y?z*/(?:[^/]+/)*(?P<id>\w+)",
    r"https?://ex\.org/a{2}b{0,3}c{,2}d{1,}e\{f\}",
    r"https?://x\.net/(?:embed/)?(?=\d)(?P<id>\d+)(?!\.html)$",
    r"https?://y\.io/(\w+)/\1",
    r"https?://z\.com/[]x]\]+(?P<q>[^#&?]+)",
    r"(?:https?://)?foo\.bar/|bar:(?P<id>\d+)",
    r"https?://[^/]+\.example\.(?:com|org)/(?:(?P<a>a+)|b)c",
    "(?x)\n  https?://  # scheme\n  (?:www\\.)?sp\\ ace\\.com/\n  [ #]v/(?P<id>\\d+)\n",
    r"https?://café\.fr/vidéo/(?P<id>\d+)",
    r"https?://u\.com/(?i:Mixed)/x",
    r"https?://v\.com/\x41\u00e9/",
]


@pytest.mark.parametrize("pattern", TRICKY)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_strings_that_match_always_pass_the_check(pattern: str, data: st.DataObject) -> None:
    need = required_text(pattern)
    text = data.draw(st.from_regex(pattern))
    if re.match(pattern, text):
        assert may_match(need, text), (pattern, text, need)


def test_the_check_rejects_what_cannot_match() -> None:
    need = required_text(TRICKY[0])
    assert need is not None
    assert may_match(need, "https://www.example.com/video/42")
    assert not may_match(need, "http://127.0.0.1:8080/big.bin")
    both = required_text(TRICKY[8])
    assert may_match(both, "https://x.example.org/c")
    assert not may_match(both, "https://x.example.net/c")
    assert may_match(required_text(TRICKY[1]), "HTTPS://WWW.YOUTUBE.COM/watch?v=dQw4w9WgXcQ")


def test_unknown_syntax_requires_nothing() -> None:
    assert required_text(r"https?://v\.com/\x41/") is None  # hex escapes: not modelled
    assert required_text("(?x:a b)") is None  # verbose only in part
    assert required_text(False) is None  # yt-dlp's "never matches"
    assert may_match(None, "anything")
    need = required_text(TRICKY[0])
    assert may_match(need, "https://www.exämple.com/")  # non-ASCII URLs always go through


def _classes() -> list[Any]:
    from yt_dlp.extractor import gen_extractor_classes

    return [ie for ie in gen_extractor_classes() if ie.ie_key() != "Generic"]


def _test_urls(classes: list[Any]) -> list[str]:
    urls: set[str] = set()
    for ie in classes:
        try:
            cases = list(ie.get_testcases(include_onlymatching=True))
        except Exception:
            continue
        urls.update(c["url"] for c in cases if isinstance(c.get("url"), str))
    return sorted(u for u in urls if u.startswith(("http://", "https://")))


def _patterns(ie: object) -> list[re.Pattern[str]]:
    valid = ie._VALID_URL  # type: ignore[attr-defined]
    return [re.compile(p) for p in ([valid] if isinstance(valid, str) else valid)]


def test_every_extractor_passes_its_own_test_urls() -> None:
    classes = {ie.__name__: ie for ie in _classes()}
    for entry in build_table():
        if entry.need is None:
            continue
        ie = classes[entry.cls]
        for case in ie.get_testcases(include_onlymatching=True):
            url = case.get("url")
            if isinstance(url, str) and any(p.match(url) for p in _patterns(ie)):
                assert may_match(entry.need, url), (entry.key, url)


def _suitable(ie: Any, url: str) -> bool:
    try:
        return bool(ie.suitable(url))
    except Exception:
        return False


def test_the_table_answers_what_asking_every_extractor_answers() -> None:
    """Key and media id of a seeded sample of yt-dlp's test URLs, plus every test URL
    of an extractor with its own ``suitable`` (a full run over all ≈5,800 test URLs
    found no difference)."""
    classes = _classes()
    ruled = {e.cls for e in build_table() if e.rule is not None}
    urls = set(random.Random(7).sample(_test_urls(classes), 300))
    urls |= set(_test_urls([ie for ie in classes if ie.__name__ in ruled]))
    for url in sorted(urls):
        plain = next((ie for ie in classes if _suitable(ie, url)), None)
        assert extractor_key_for(url) == (plain.ie_key() if plain else None), url
        plain_id = plain.get_temp_id(url) if plain else None
        assert temp_id_for(url) == ((plain.ie_key(), str(plain_id)) if plain_id else None), url


def test_every_own_suitable_of_this_yt_dlp_is_read_as_a_rule() -> None:
    """None needs yt-dlp at detection time (``ask`` stays a fallback for new shapes)."""
    assert [e.key for e in build_table() if e.rule == ASK] == []


def test_rules_are_read_from_the_shapes_yt_dlp_uses() -> None:
    src = """
    @classmethod
    def suitable(cls, url):
        EXCLUDE_IE = (AIE, BIE)
        from yt_dlp.utils import parse_qs
        qs = parse_qs(url)
        if CIE.suitable(url):
            return False
        if qs.get('v', [None])[0]:
            return False
        return (False if any(ie.suitable(url) for ie in EXCLUDE_IE)
                or DIE._match_valid_url(url) else super().suitable(url))
    """
    assert read_rule(src) == Rule(("CIE", "AIE", "BIE"), ("v",), ("DIE",))
    src = "def suitable(cls, url):\n    return cls._match_valid_url(url) and not XIE.suitable(url)"
    assert read_rule(src) == Rule(("XIE",))
    for unreadable in (
        "def suitable(cls, url):\n    return True",
        "def suitable(cls, url):\n    return 'x' in url or super().suitable(url)",
        "def suitable(cls, url):\n    return False if XIE.suitable(url) else True",
        "def suitable(cls, url):\n    print(url)\n    return super().suitable(url)",
    ):
        assert read_rule(unreadable) == ASK, unreadable


def test_the_table_file_is_reused_only_for_the_same_yt_dlp(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    tmp_path.joinpath("cache").mkdir()
    _extractors._reset()
    try:
        built = load_table(cache)
        path = cache / _extractors.CACHE_NAME
        assert path.is_file() and len(built.entries) > 1000
        _extractors._reset()
        assert load_table(cache).entries == built.entries  # read back, equal
        data = json.loads(path.read_text())
        data["fingerprint"]["files"]["version.py"] = [0, 0]  # another yt-dlp
        data["entries"] = data["entries"][:3]
        path.write_text(json.dumps(data))
        _extractors._reset()
        assert load_table(cache).entries == built.entries  # rebuilt, not trusted
        path.write_text("{not json")
        _extractors._reset()
        assert load_table(cache).entries == built.entries
        assert json.loads(path.read_text())["fingerprint"] != data["fingerprint"]
    finally:
        _extractors._reset()


def test_detection_from_the_file_imports_no_yt_dlp(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    code = (
        "import sys; from pathlib import Path; "
        "from mediaferry.sources._extractors import temp_id_for; "
        f"c = Path({str(tmp_path / 'cache')!r}); "
        "print(temp_id_for('https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=1', c), "
        "temp_id_for('https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PLx', c), "
        "'yt_dlp' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert first.stdout.split()[-1] == "True"  # built the table (and wrote it)
    assert again.stdout.rsplit(" ", 1) == [first.stdout.rsplit(" ", 1)[0], "False\n"]
    assert "('Youtube', 'dQw4w9WgXcQ')" in again.stdout
