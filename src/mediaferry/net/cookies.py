"""Netscape cookie files: read, parse, and turn into request cookies.

An auth profile's cookie file is read *once per job attempt* (:func:`read_cookies`)
into :attr:`JobRequest.cookies <mediaferry.plan.JobRequest.cookies>`; sources and the
HTTP backend turn those into a ``Cookie`` header per URL (:func:`cookie_headers`),
an httpx request hook (:func:`cookie_request_hook`) or Playwright cookies
(:func:`browser_cookies`). Every value read becomes a log secret.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mediaferry.errors import AuthProfileError
from mediaferry.logging import add_secret
from mediaferry.plan import Cookie

if TYPE_CHECKING:
    import httpx

__all__ = [
    "Cookie",
    "browser_cookies",
    "cookie_header",
    "cookie_headers",
    "cookie_request_hook",
    "header_for",
    "parse_cookie_file",
    "parse_cookie_text",
    "read_cookie_text",
    "read_cookies",
    "register_secrets",
]

log = logging.getLogger(__name__)

_HEADERS = ("# netscape http cookie file", "# http cookie file")
_HTTPONLY = "#HttpOnly_"


def parse_cookie_text(text: str) -> list[Cookie]:
    """The cookies of a Netscape cookie file. Raises AuthProfileError on garbage."""
    cookies: list[Cookie] = []
    header = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip("\r\n")
        if line.startswith(_HTTPONLY):
            line = line[len(_HTTPONLY) :]
        elif not line.strip() or line.lstrip().startswith("#"):
            header = header or line.strip().lower() in _HEADERS
            continue
        fields = line.split("\t")
        if len(fields) != 7:
            # never echo the line: it may hold a cookie value
            raise AuthProfileError(
                f"line {number} is not a Netscape cookie line (7 tab-separated fields)"
            )
        domain, flag, path, secure, expires, name, value = fields
        if (
            not domain
            or flag.upper() not in ("TRUE", "FALSE")
            or not re.fullmatch(r"-?\d+(?:\.\d+)?", expires.strip() or "0")
        ):
            raise AuthProfileError(f"line {number} is not a valid Netscape cookie line")
        cookies.append(
            Cookie(
                domain=domain,
                include_subdomains=flag.upper() == "TRUE",
                path=path or "/",
                secure=secure.upper() == "TRUE",
                expires=max(0, int(float(expires.strip() or "0"))),
                name=name,
                value=value,
            )
        )
    if not cookies:
        what = "has the header but no cookies" if header else "is not a Netscape cookie file"
        raise AuthProfileError(f"the cookie file {what}")
    return cookies


def read_cookie_text(path: Path, max_bytes: int) -> str:
    try:
        if not path.is_file():
            raise AuthProfileError(f"cookie file not found: {path}")
        size = path.stat().st_size
        if size > max_bytes:
            raise AuthProfileError(
                f"the cookie file is {size} bytes, over the {max_bytes} byte limit"
            )
        data = path.read_bytes()
    except PermissionError:
        raise AuthProfileError(f"cookie file not readable: {path}") from None
    except OSError as exc:
        raise AuthProfileError(f"cookie file not readable: {path} ({exc.strerror})") from None
    if b"\x00" in data:
        raise AuthProfileError("the cookie file is binary, not a Netscape cookie file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthProfileError("the cookie file is not UTF-8 text") from None


def parse_cookie_file(path: Path, max_bytes: int = 1 << 20) -> list[Cookie]:
    """Read and parse a cookie file for use; its values become log secrets."""
    cookies = parse_cookie_text(read_cookie_text(path, max_bytes))
    register_secrets(cookies)
    return cookies


def register_secrets(cookies: Iterable[Cookie]) -> None:
    for cookie in cookies:
        add_secret(cookie.value)


def read_cookies(cookie_file: Path | None, max_bytes: int = 1 << 20) -> tuple[Cookie, ...]:
    """The usable cookies of a profile's file: none (and a warning) if it is unusable."""
    if cookie_file is None:
        return ()
    try:
        return tuple(parse_cookie_file(cookie_file, max_bytes))
    except AuthProfileError as exc:
        log.warning("cookie file unusable: %s", exc.message)
        return ()


def cookie_header(cookie_file: Path | None, url: str) -> str | None:
    """A ``Cookie`` header value for ``url`` from a Netscape cookie file, if any apply."""
    return header_for(read_cookies(cookie_file), url)


def header_for(cookies: Iterable[Cookie], url: str) -> str | None:
    """The ``Cookie`` header value of the ``cookies`` that match ``url``, if any."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    now = time.time()
    pairs = [
        f"{c.name}={c.value}"
        for c in cookies
        if c.matches(host, parts.path or "/", parts.scheme == "https", now)
    ]
    return "; ".join(pairs) or None


def cookie_request_hook(
    cookies: tuple[Cookie, ...],
) -> Callable[[httpx.Request], Awaitable[None]] | None:
    """An httpx ``request`` event hook that gives every request — each redirect hop
    too — exactly the cookies of the profile that match its URL (so a redirect to
    another site never carries them)."""
    if not cookies:
        return None

    async def hook(request: httpx.Request) -> None:
        value = header_for(cookies, str(request.url))
        if value:
            request.headers["Cookie"] = value
        else:
            request.headers.pop("Cookie", None)

    return hook


def browser_cookies(cookies: Iterable[Cookie]) -> list[dict[str, Any]]:
    """The profile's cookies in Playwright's ``add_cookies`` shape."""
    out: list[dict[str, Any]] = []
    for c in cookies:
        domain = c.domain.lower().lstrip(".")
        sub = c.include_subdomains or c.domain.startswith(".")
        out.append(
            {
                "name": c.name,
                "value": c.value,
                "domain": f".{domain}" if sub else domain,
                "path": c.path or "/",
                "expires": float(c.expires) if c.expires else -1,
                "secure": c.secure,
            }
        )
    return out


def cookie_headers(cookies: Iterable[Cookie], url: str) -> dict[str, str]:
    """``{"Cookie": ...}`` for ``url``, or an empty dict."""
    value = header_for(cookies, url)
    return {"Cookie": value} if value else {}
