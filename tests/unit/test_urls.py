from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaferry.errors import UrlRejected
from mediaferry.urls import check_address, check_url, is_blocked_ip, normalize_url


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.mp4",
        "data:text/html,hi",
        "javascript:alert(1)",
        "gopher://example.com",
        "not a url",
        "example.com/video.mp4",
        "",
        "   ",
        "http://",
        "https://example.com:0/x",
        "https://example.com:99999/x",
        "http://127.0.0.1/x",
        "http://localhost:8080/x",
        "http://10.1.2.3/x",
        "http://192.168.1.1/x",
        "http://172.16.0.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[fe80::1]/x",
        "http://224.0.0.1/x",
        "http://0.0.0.0/x",
        "http://2130706433/x",
        "http://0x7f.1/x",
        "http://127.1/x",
        "http://intranet/x",
        "http://printer.local/x",
        "http://a.localhost/x",
        "magnet:?dn=nohash",
        "https://example.com/" + "a" * 10_000,
    ],
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(UrlRejected):
        check_url(url)


def test_refusal_reasons_are_readable() -> None:
    with pytest.raises(UrlRejected, match="file: links are not allowed"):
        check_url("file:///etc/passwd")
    with pytest.raises(UrlRejected, match="private or local"):
        check_url("http://127.0.0.1/")
    with pytest.raises(UrlRejected, match="too long"):
        check_url("https://example.com/" + "a" * 10_000)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "http://example.com/a.mp4",
        "https://not-resolving-yet.example/x.mp3",
        "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567",
        "https://93.184.216.34/video.mp4",
    ],
)
def test_accepted_urls_need_no_network(url: str) -> None:
    assert check_url(url).url == url


def test_private_addresses_allowed_when_configured() -> None:
    assert check_url("http://127.0.0.1:8000/a.mp4", allow_private=True).host == "127.0.0.1"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "::1",
        "::ffff:10.0.0.1",
        "fe80::1",
        "ff02::1",
        "100.64.0.1",
        "0.0.0.0",
    ],
)
def test_connect_time_check_refuses_private(address: str) -> None:
    with pytest.raises(UrlRejected):
        check_address(address, allow_private=False)
    check_address(address, allow_private=True)


def test_public_addresses_pass() -> None:
    check_address("93.184.216.34", allow_private=False)
    check_address("2606:2800:220:1:248:1893:25c8:1946", allow_private=False)


@given(st.ip_addresses())
def test_blocked_ip_is_at_least_as_strict_as_is_global(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    # is_global is not the source of truth (it calls 192.0.0.192 global on 3.11; the
    # IANA table in mediaferry._special is), but whatever it calls non-global is refused
    if ip.is_multicast or not ip.is_global:
        assert is_blocked_ip(ip)


@given(st.text(max_size=300))
def test_check_url_never_crashes(text: str) -> None:
    try:
        check_url(text)
    except UrlRejected:
        pass


@given(st.text(max_size=200))
def test_normalize_never_crashes_and_is_idempotent(text: str) -> None:
    once = normalize_url("https://example.com/" + text)
    assert normalize_url(once) == once


def test_normalisation_drops_tracking_and_sorts() -> None:
    a = normalize_url("HTTPS://WWW.Example.COM:443/path?b=2&utm_source=x&a=1&fbclid=abc#frag")
    b = normalize_url("https://example.com/path?a=1&b=2&si=zzz&gclid=1")
    assert a == b == "https://example.com/path?a=1&b=2"


def test_magnet_normalisation_keeps_only_the_hash() -> None:
    a = normalize_url("magnet:?xt=urn:btih:ABCDEF&dn=name&tr=http://t")
    assert a == normalize_url("magnet:?dn=other&xt=urn:btih:abcdef")
