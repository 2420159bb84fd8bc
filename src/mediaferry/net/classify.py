"""Translate library failures (yt-dlp, aria2, HTTP) into Mediaferry's error tree.

Precision first: the exception *type* and the HTTP *status* decide when they are
known; message patterns are the last resort. yt-dlp runs in a child process, so its
exceptions cross the boundary as a :class:`Failure` (plain, JSON-able data) built by
:func:`describe_exception` in the child and classified by :func:`classify_failure`
in the parent.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from mediaferry.errors import (
    AuthError,
    DiskFull,
    ExtractorError,
    ExtractorUpdateRequired,
    FormatNotFound,
    GeoBlocked,
    HttpError,
    JobCancelled,
    JobError,
    MediaError,
    NetworkError,
    ParserError,
    ProtectedContent,
    RateLimited,
    SizeLimitExceeded,
    StageTimeout,
    UnknownError,
    UnsupportedSource,
)

__all__ = [
    "URL_POLICY_MARK",
    "Failure",
    "classify_aria2",
    "classify_failure",
    "classify_http_status",
    "describe_exception",
    "parse_retry_after",
]

# Raised (as text) by the yt-dlp child's address guard; see ytdlp_child.
URL_POLICY_MARK = "Mediaferry URL policy"


@dataclass(slots=True)
class Failure:
    """A library exception flattened to plain data.

    ``types`` holds the class names (with their bases) of the exception and of
    every exception it wraps, so a subclass is recognised by its base's name.
    """

    message: str
    types: list[str] = field(default_factory=list)
    status: int | None = None
    retry_after: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Failure:
        return cls(
            message=str(data.get("message", "")),
            types=[str(t) for t in data.get("types", [])],
            status=data.get("status"),
            retry_after=data.get("retry_after"),
        )


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it wraps (yt-dlp's exc_info/cause, __cause__, __context__)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 20:
        cur = todo.pop(0)
        if cur is None or any(cur is s for s in seen):
            continue
        seen.append(cur)
        exc_info = getattr(cur, "exc_info", None)
        if isinstance(exc_info, tuple) and len(exc_info) == 3:
            todo.append(exc_info[1])
        cause = getattr(cur, "cause", None)
        if isinstance(cause, BaseException):
            todo.append(cause)
        todo += [cur.__cause__, cur.__context__]
    return seen


def describe_exception(exc: BaseException) -> Failure:
    """Flatten ``exc`` (typically a yt-dlp exception) into a :class:`Failure`."""
    types: list[str] = []
    status: int | None = None
    retry_after: str | None = None
    for item in _chain(exc):
        for klass in type(item).__mro__:
            if klass.__name__ not in types and klass not in (object, BaseException):
                types.append(klass.__name__)
        item_status = getattr(item, "status", None)
        if status is None and isinstance(item_status, int) and 100 <= item_status <= 599:
            status = item_status
            headers = getattr(getattr(item, "response", None), "headers", None)
            if headers is not None:
                value = headers.get("Retry-After")
                retry_after = str(value) if value is not None else None
    return Failure(message=str(exc), types=types, status=status, retry_after=retry_after)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


_retry_after = parse_retry_after


def classify_http_status(
    status: int, retry_after: str | None = None, message: str | None = None
) -> JobError:
    """The error for an HTTP status: 401/403 auth, 429 rate limit, 404/410 final, 5xx retry."""
    details = {"http_status": status}
    if status in (401, 403):
        return AuthError(message or f"access denied (HTTP {status})", details=details)
    if status == 429:
        return RateLimited(
            message or "the site is limiting requests (HTTP 429)",
            retry_after=_retry_after(retry_after),
            details=details,
        )
    if status in (404, 410):
        return HttpError(message or f"not found (HTTP {status})", status=status, details=details)
    delay = _retry_after(retry_after) if status == 503 else None
    return HttpError(message or f"HTTP {status}", status=status, retry_after=delay, details=details)


# (exception class name, error class, message) — checked in order, before messages.
_TYPE_RULES: tuple[tuple[str, type[JobError], str], ...] = (
    ("DownloadCancelled", JobCancelled, "cancelled"),
    ("UnsupportedError", UnsupportedSource, "this link is not supported"),
    ("GeoRestrictedError", GeoBlocked, "not available in the server's country"),
    # urllib3's NewConnectionError subclasses ConnectTimeoutError: check it first
    ("NameResolutionError", NetworkError, "could not resolve the host"),
    ("NewConnectionError", NetworkError, "could not connect"),
    ("ConnectionRefusedError", NetworkError, "connection refused"),
    ("TimeoutError", StageTimeout, "the server stopped responding"),
    ("ReadTimeoutError", StageTimeout, "the server stopped responding"),
    ("ConnectTimeoutError", StageTimeout, "the server did not answer"),
    ("ContentTooShortError", NetworkError, "the download broke off"),
    ("IncompleteRead", NetworkError, "the download broke off"),
    ("ConnectionResetError", NetworkError, "connection reset"),
    ("SSLError", NetworkError, "TLS error"),
    ("ProxyError", NetworkError, "proxy error"),
    ("TransportError", NetworkError, "network error"),
    ("ConnectionError", NetworkError, "network error"),
)

_I = re.IGNORECASE
# (pattern, error class) — the last resort, checked in order.
_MESSAGE_RULES: tuple[tuple[re.Pattern[str], type[JobError]], ...] = (
    (re.compile(r"\bDRM\b|drm[- ]protected|widevine|playready", _I), ProtectedContent),
    (re.compile(r"sign in to confirm|confirm you.re not a bot", _I), AuthError),
    (re.compile(r"private video|this video is private|video is private", _I), AuthError),
    (
        re.compile(r"members[- ]only|join this channel|available to this channel's members", _I),
        AuthError,
    ),
    (re.compile(r"only available for registered users|login required|log in to", _I), AuthError),
    (re.compile(r"age[- ]restricted|inappropriate for some users|use --cookies", _I), AuthError),
    (
        re.compile(
            r"available in your country|geo[- ]?restrict|not available from your "
            r"location|blocked it in your country|country.{0,20}restrict",
            _I,
        ),
        GeoBlocked,
    ),
    (re.compile(r"unsupported url", _I), UnsupportedSource),
    (re.compile(r"no space left on device|disk full", _I), DiskFull),
    (re.compile(r"timed out|timeout", _I), StageTimeout),
    (
        re.compile(
            r"connection (refused|reset|aborted)|name or service not known|temporary "
            r"failure in name resolution|network is unreachable|no route to host",
            _I,
        ),
        NetworkError,
    ),
    (
        re.compile(
            r"requested format is not available|no video formats found|no formats found", _I
        ),
        FormatNotFound,
    ),
    (re.compile(r"larger than max-filesize|file is larger than", _I), SizeLimitExceeded),
    (
        re.compile(
            r"please report this issue|yt-dlp -U|update yt-dlp|unable to extract|"
            r"nsig extraction failed|signature extraction failed|n challenge solving "
            r"failed|some formats may be missing|unable to decode n",
            _I,
        ),
        ExtractorUpdateRequired,
    ),
    (
        re.compile(r"video unavailable|has been removed|no longer available|does not exist", _I),
        HttpError,
    ),
)

_STATUS_IN_TEXT = re.compile(r"HTTP Error (\d{3})|status=(\d{3})|\bHTTP (\d{3})\b")


def _short(message: str, limit: int = 300) -> str:
    message = re.sub(r"^ERROR:\s*", "", message.strip())
    return message if len(message) <= limit else message[: limit - 1] + "…"


def classify_failure(failure: Failure) -> JobError:
    """The Mediaferry error for a (yt-dlp) failure: status, then type, then message."""
    text = _short(failure.message)
    details: dict[str, Any] = {"library_error": failure.types[:3], "message": text}
    if URL_POLICY_MARK in text:
        return UnsupportedSource(
            "links to private or local network addresses are not allowed", details=details
        )
    if failure.status is not None:
        err = classify_http_status(failure.status, failure.retry_after)
        err.details.update(details)
        return err
    types = set(failure.types)
    for name, cls, default in _TYPE_RULES:
        if name in types:
            return cls(text or default, details=details)
    return _classify_text(text, types, details)


def _classify_text(text: str, types: set[str], details: dict[str, Any]) -> JobError:
    for pattern, cls in _MESSAGE_RULES:
        if pattern.search(text):
            if cls is HttpError:
                return HttpError(text, status=410, details=details)
            return cls(text, details=details)
    match = _STATUS_IN_TEXT.search(text)
    if match:
        status = int(next(g for g in match.groups() if g))
        err = classify_http_status(status, None, text)
        err.details.update(details)
        return err
    if "PostProcessingError" in types:
        return MediaError(text, details=details)
    if "ExtractorError" in types or "DownloadError" in types:
        return ExtractorError(text, details=details)
    return UnknownError(text or "unknown failure", details=details)


# aria2 exit/error codes (aria2c(1) "EXIT STATUS").
_ARIA2_CODES: dict[int, tuple[type[JobError], str]] = {
    2: (StageTimeout, "the server stopped responding"),
    5: (StageTimeout, "the download was too slow"),
    6: (NetworkError, "network problem"),
    7: (NetworkError, "the download was interrupted"),
    8: (NetworkError, "the server cannot resume the download"),
    9: (DiskFull, "not enough disk space"),
    19: (NetworkError, "could not resolve the host"),
    20: (ParserError, "the metalink file is broken"),
    25: (ParserError, "the torrent file is broken"),
    26: (ParserError, "the torrent file is corrupt or missing information"),
    27: (UnsupportedSource, "the magnet link is malformed"),
    28: (UnsupportedSource, "bad download options"),
    32: (NetworkError, "checksum validation failed"),
}


def classify_aria2(code: int | str | None, message: str = "") -> JobError:
    """The error for an aria2 ``errorCode``/``errorMessage`` pair."""
    text = _short(message) or "aria2 download failed"
    details: dict[str, Any] = {"aria2_error_code": code, "message": text}
    try:
        num = int(code) if code is not None else 1
    except ValueError:
        num = 1
    match = _STATUS_IN_TEXT.search(text)
    if num == 3:
        return HttpError(text, status=404, details={**details, "http_status": 404})
    if num == 24:
        return AuthError(text, details={**details, "http_status": 401})
    if num == 29:
        return HttpError(text, status=503, details={**details, "http_status": 503})
    if num == 23:
        return HttpError(text, status=None, details=details)
    if num == 22 and match:
        err = classify_http_status(int(next(g for g in match.groups() if g)), None, text)
        err.details.update(details)
        return err
    if num in _ARIA2_CODES:
        cls, default = _ARIA2_CODES[num]
        return cls(f"{default}: {text}" if message else default, details=details)
    if num in (13, 14, 15, 16, 17, 18):
        if re.search(r"no space left", text, _I):
            return DiskFull(text, details=details)
        return UnknownError(f"local file error: {text}", details=details)
    return _classify_text(text, set(), details)
