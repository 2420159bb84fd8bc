"""Host names at intake: numeric hosts as browsers read them, IDNA/UTS-46 validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaferry.errors import UrlRejected
from mediaferry.urls import check_url
from tests.support.hostile_urls import HOSTILE_URLS


@pytest.mark.parametrize(
    ("host", "means"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("0", "0.0.0.0"),
    ],
)
def test_numeric_hosts_are_judged_as_the_address_they_mean(host: str, means: str) -> None:
    with pytest.raises(UrlRejected, match="private or local"):
        check_url(f"http://{host}/")
    with pytest.raises(UrlRejected, match=f"write it as {means}"):
        check_url(f"http://{host}/", allow_private=True)


def test_a_public_address_in_legacy_form_is_refused_too() -> None:
    # httpx, yt-dlp, aria2c and Chromium would not all read it the same way
    with pytest.raises(UrlRejected, match=r"write it as 93\.184\.216\.34"):
        check_url("http://0x5db8d822/a.mp4")


@pytest.mark.parametrize(
    "host",
    ["425.510.425.510", "256.256.256.256", "1.2.3.4.5", "0x100000000", "example.123", "08.1.1.1"],
)
def test_numbers_that_are_no_address_are_refused(host: str) -> None:
    for allow in (False, True):
        with pytest.raises(UrlRejected, match="not a valid IP address"):
            check_url(f"http://{host}/", allow_private=allow)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("ⓔⓧⓐⓜⓟⓛⓔ.ⓒⓞⓜ", "reads as example.com"),
        ("ⓛⓞⓒⓐⓛⓗⓞⓢⓣ", "reads as localhost"),
        ("ｅｘａｍｐｌｅ.com", "reads as example.com"),
        ("example。com", "reads as example.com"),
        ("exa\u200dmple.com", "not a valid domain name"),
        ("💩.la", "not a valid domain name"),
        ("xn--zz.com", "not valid"),
        ("-example.com", "not valid"),
        ("a" * 64 + ".com", "not valid"),
        ("[v1.x]", "not a valid IPv6 address"),
        ("[fe80::1%25eth0]", "percent sign or zone"),
        ("ex%61mple.com", "percent sign"),
    ],
)
def test_bad_host_names_are_refused_with_a_reason(host: str, reason: str) -> None:
    with pytest.raises(UrlRejected, match=reason):
        check_url(f"http://{host}/a.mp4", allow_private=True)


@pytest.mark.parametrize(
    "host", ["bücher.de", "faß.de", "例え.テスト", "xn--bcher-kva.de", "my_site.example.com"]
)
def test_valid_names_pass(host: str) -> None:
    assert check_url(f"https://{host}/a.mp4").host == host


def test_backslash_and_surrogates_are_refused() -> None:
    with pytest.raises(UrlRejected, match="backslash"):
        check_url("http://127.0.0.1\\@example.com/")
    with pytest.raises(UrlRejected, match="not valid text"):
        check_url("http://example.com/a.mp4?\ud800")


def test_magnet_web_seeds_get_the_same_policy() -> None:
    magnet = "magnet:?xt=urn:btih:" + "a" * 40 + "&ws=http%3A%2F%2F192.0.0.192%2Fx"
    with pytest.raises(UrlRejected, match="ws= address is refused"):
        check_url(magnet)
    assert check_url(magnet, allow_private=True).scheme == "magnet"


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_the_corpus_only_ever_raises_url_rejected(url: str) -> None:
    try:
        checked = check_url(url)
    except UrlRejected as exc:
        assert exc.message and "\n" not in exc.message
    else:
        assert checked.scheme in ("http", "https", "magnet")


@given(st.text(min_size=1, max_size=80))
def test_any_host_text_is_refused_or_accepted_never_crashes(host: str) -> None:
    try:
        check_url(f"http://{host}/x.mp4")
    except UrlRejected:
        pass
