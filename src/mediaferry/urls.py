"""URL policy and normalisation.

* :func:`check_url` validates what a user sent (scheme allow-list, length, host,
  literal private addresses) without touching the network, so creating a job never
  needs DNS: a host that does not resolve yet is accepted and fails later.
* :func:`check_address` / :func:`resolve_public` run at connect time for every
  connection and redirect (see :mod:`mediaferry.transfer.http`), so DNS rebinding
  cannot reach a private address either.
* :func:`normalize_url` gives the canonical form used for de-duplication.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import idna

from mediaferry._special import refusal
from mediaferry.errors import NetworkError, UrlRejected

__all__ = [
    "ALLOWED_SCHEMES",
    "CheckedUrl",
    "check_address",
    "check_url",
    "is_blocked_ip",
    "normalize_url",
    "refusal",
    "resolve_public",
    "url_domain",
]

ALLOWED_SCHEMES = frozenset({"http", "https", "magnet"})

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "si",
        "feature",
        "ref_src",
        "_ga",
        "_gl",
        "spm",
    }
)
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    url: str
    normalized: str
    scheme: str
    host: str


def is_blocked_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for every address in the special-purpose table (:mod:`mediaferry._special`):
    loopback, private, link-local, multicast, documentation, reserved, and IPv6 forms
    that lead to such an IPv4 address."""
    return refusal(ip) is not None


_HEX_NUMBER = re.compile(r"0[xX][0-9a-fA-F]*")


def _whatwg_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address a host that "ends in a number" means (WHATWG URL IPv4 parser, as
    browsers and ``inet_aton`` read it): ``2130706433``, ``0x7f.1``, ``0177.0.0.1``.

    Raises :class:`UrlRejected` for a numeric host that is no valid address
    (``425.510.425.510``); None when the host is a domain name.
    """
    labels = host.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels.pop()
    last = labels[-1]
    if not (last.isascii() and (last.isdigit() or _HEX_NUMBER.fullmatch(last))):
        return None
    numbers: list[int] = []
    for label in labels:
        if not label:
            raise UrlRejected(f"the host {host} is not a valid IP address")
        try:
            if label[:2].lower() == "0x":
                value = int(label[2:] or "0", 16)
            elif len(label) > 1 and label.startswith("0"):
                value = int(label[1:], 8)
            else:
                value = int(label, 10) if label.isascii() and label.isdigit() else -1
        except ValueError:
            value = -1
        if value < 0:
            raise UrlRejected(f"the host {host} is not a valid IP address")
        numbers.append(value)
    if len(numbers) > 4 or any(n > 255 for n in numbers[:-1]):
        raise UrlRejected(f"the host {host} is not a valid IP address")
    if numbers[-1] >= 256 ** (5 - len(numbers)):
        raise UrlRejected(f"the host {host} is not a valid IP address")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


_LDH_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


def _check_host_name(host: str) -> None:
    """Refuse a host name that is not a valid (IDNA 2008 / UTS-46) domain name, or
    one that only becomes a name after UTS-46 mapping (``ⓔⓧⓐⓜⓟⓛⓔ.ⓒⓞⓜ``, fullwidth
    letters, ideographic full stops): the tools downstream would each read it their
    own way."""
    if len(host) > 253:
        raise UrlRejected("the host name is too long")
    if host.isascii():
        for label in host.split("."):
            if not _LDH_LABEL.fullmatch(label):
                raise UrlRejected(f"the host name {host[:80]} is not valid")
            if label.startswith("xn--"):
                try:
                    idna.decode(label)
                except (idna.IDNAError, UnicodeError, ValueError):
                    raise UrlRejected(f"the host name {host[:80]} is not valid") from None
        return
    try:
        mapped = idna.uts46_remap(host, std3_rules=True, transitional=False)
        idna.encode(host, uts46=True, std3_rules=True, transitional=False)
    except (idna.IDNAError, UnicodeError, ValueError):
        raise UrlRejected(f"the host name {host[:80]} is not a valid domain name") from None
    if mapped != host:
        raise UrlRejected(
            f"the host name {host[:80]} is written in a disguised form (it reads as {mapped[:80]})"
        )


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` denotes literally, including legacy forms like ``0x7f.1``;
    :class:`UrlRejected` for an invalid IPv6 literal or numeric host."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UrlRejected(f"the host [{host[:60]}] is not a valid IPv6 address") from None
    return _whatwg_ipv4(host)


_CONTROL = re.compile(r"[\x00-\x20\x7f]")  # control characters and spaces


def _host_of(parts: object) -> str:
    try:
        host = parts.hostname  # type: ignore[attr-defined]
    except ValueError:
        return ""
    return (host or "").rstrip(".").lower()


def check_url(url: object, *, allow_private: bool = False, max_length: int = 4096) -> CheckedUrl:
    """Validate a user-supplied URL offline; raise :class:`UrlRejected` with a reason."""
    if not isinstance(url, str):
        raise UrlRejected("not a URL")
    url = url.strip()
    if not url:
        raise UrlRejected("empty URL")
    if len(url) > max_length:
        raise UrlRejected(f"URL is too long ({len(url)} characters, at most {max_length})")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise UrlRejected("not a valid URL") from None
    scheme = parts.scheme.lower()
    if not scheme or not scheme.isascii() or " " in scheme:
        raise UrlRejected("not a URL (it needs http:// or https://)")
    if scheme not in ALLOWED_SCHEMES:
        raise UrlRejected(f"{scheme}: links are not allowed; send an http(s) or magnet link")
    if scheme != "magnet" and not parts.netloc:
        raise UrlRejected("not a URL (it needs http:// or https://)")
    if _CONTROL.search(url):
        raise UrlRejected("URL contains spaces or control characters")
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:
        raise UrlRejected("URL contains characters that are not valid text") from None
    if scheme == "magnet":
        if "xt=urn:" not in url.lower():
            raise UrlRejected("magnet link has no info hash")
        _check_magnet_urls(parts.query, allow_private=allow_private)
        return CheckedUrl(url=url, normalized=normalize_url(url), scheme=scheme, host="")
    if "\\" in parts.netloc:
        raise UrlRejected("URL has a backslash in its host part")
    host = _host_of(parts)
    if not host:
        raise UrlRejected("URL has no host")
    try:
        port = parts.port
    except ValueError:
        raise UrlRejected("URL has an invalid port") from None
    if port == 0:
        raise UrlRejected("URL has an invalid port")
    if "%" in host:
        raise UrlRejected("URL has a percent sign or zone in its host")
    ip = _literal_ip(host)
    if ip is None and parts.netloc.rpartition("@")[2].startswith("["):
        raise UrlRejected(f"the host [{host[:60]}] is not a valid IPv6 address")
    if ip is None:
        _check_host_name(host)
    if not allow_private:
        if ip is not None and (reason := refusal(ip)) is not None:
            raise UrlRejected(
                f"links to private or local network addresses are not allowed ({reason})"
            )
        if host in _LOCAL_NAMES or host.endswith((".localhost", ".local", ".internal")):
            raise UrlRejected("links to private or local network addresses are not allowed")
        if ip is None and "." not in host:
            raise UrlRejected("links to private or local network addresses are not allowed")
    if ip is not None and ip.version == 4 and str(ip) != host:
        raise UrlRejected(f"the host {host[:60]} is an address in a legacy form; write it as {ip}")
    return CheckedUrl(url=url, normalized=normalize_url(url), scheme=scheme, host=host)


def _check_magnet_urls(query: str, *, allow_private: bool) -> None:
    """A magnet's web seeds (``ws``) and HTTP trackers (``tr``) get the same policy."""
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in ("ws", "tr", "as", "xs") and value.lower().startswith(("http:", "https:")):
            try:
                check_url(value, allow_private=allow_private)
            except UrlRejected as exc:
                reason = f"the magnet link's {key}= address is refused: {exc.message}"
                raise UrlRejected(reason) from None


def check_address(address: str, *, allow_private: bool) -> None:
    """Refuse a resolved address that is not public (unless allowed)."""
    if allow_private:
        return
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        raise UrlRejected(f"unexpected address {address!r}") from None
    reason = refusal(ip)
    if reason is not None:
        raise UrlRejected(f"the link resolves to a private or local network address ({reason})")


async def resolve_public(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing any that are not public.

    All addresses must pass: a name that resolves to one public and one private
    address is refused, so a client cannot be steered to the private one.
    """
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NetworkError(f"could not resolve {host}: {exc.strerror}") from exc
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        addr = str(sockaddr[0])
        check_address(addr, allow_private=allow_private)
        if addr not in addresses:
            addresses.append(addr)
    if not addresses:
        raise NetworkError(f"could not resolve {host}")
    return addresses


def url_domain(url: str) -> str:
    try:
        return _host_of(urlsplit(url))
    except ValueError:
        return ""


def normalize_url(url: str) -> str:
    """Canonical form: lower-case scheme/host, no default port, no fragment,
    no tracking parameters, sorted query."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme == "magnet":
        params = parse_qsl(parts.query, keep_blank_values=True)
        xt = sorted(v.lower() for k, v in params if k == "xt")
        return "magnet:?" + urlencode([("xt", v) for v in xt])
    host = _host_of(parts)
    if host.startswith("www."):
        host = host[4:]
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if ":" not in host else f"[{host}]"
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        netloc += f":{port}"
    path = quote(unquote(parts.path), safe="/:@!$&'()*+,;=-._~%") or "/"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith("utm_")
    ]
    query.sort()
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))
