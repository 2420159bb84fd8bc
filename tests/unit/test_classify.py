"""Every mapping of library failures (yt-dlp, aria2, HTTP) to the error tree."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from yt_dlp.networking import Response
from yt_dlp.networking.exceptions import HTTPError, IncompleteRead, TransportError
from yt_dlp.utils import (
    DownloadCancelled,
    DownloadError,
    ExtractorError,
    GeoRestrictedError,
    UnsupportedError,
)

from mediaferry import errors as E
from mediaferry.net.classify import (
    URL_POLICY_MARK,
    Failure,
    classify_aria2,
    classify_failure,
    classify_http_status,
    describe_exception,
)


def http_error(status: int, headers: dict[str, str] | None = None) -> HTTPError:
    return HTTPError(Response(io.BytesIO(b""), "https://e.example/v", headers or {}, status))


def wrapped(exc: BaseException) -> DownloadError:
    """What YoutubeDL raises: a DownloadError carrying the original as exc_info."""
    try:
        raise exc
    except BaseException as inner:
        import sys

        return DownloadError(f"ERROR: {inner}", sys.exc_info())


def extractor(
    msg: str, *, expected: bool = True, cause: BaseException | None = None
) -> ExtractorError:
    return ExtractorError(msg, expected=expected, cause=cause, ie="youtube", video_id="abc")


def caused_by(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


YTDLP_CASES: list[tuple[str, Callable[[], BaseException], type[E.JobError], bool]] = [
    ("401", lambda: wrapped(http_error(401)), E.AuthError, False),
    (
        "403",
        lambda: wrapped(extractor("Unable to download", cause=http_error(403))),
        E.AuthError,
        False,
    ),
    ("404", lambda: wrapped(http_error(404)), E.HttpError, False),
    ("410", lambda: wrapped(http_error(410)), E.HttpError, False),
    ("429", lambda: wrapped(http_error(429, {"Retry-After": "30"})), E.RateLimited, True),
    ("500", lambda: wrapped(http_error(500)), E.HttpError, True),
    ("503", lambda: wrapped(http_error(503)), E.HttpError, True),
    (
        "refused",
        lambda: wrapped(caused_by(TransportError("x"), ConnectionRefusedError())),
        E.NetworkError,
        True,
    ),
    (
        "reset",
        lambda: wrapped(ConnectionResetError("Connection reset by peer")),
        E.NetworkError,
        True,
    ),
    ("incomplete", lambda: wrapped(IncompleteRead(100, 50)), E.NetworkError, True),
    (
        "timeout",
        lambda: wrapped(TimeoutError("The read operation timed out")),
        E.StageTimeout,
        True,
    ),
    (
        "unsupported",
        lambda: wrapped(UnsupportedError("https://e.example/x")),
        E.UnsupportedSource,
        False,
    ),
    (
        "bot check",
        lambda: wrapped(
            extractor("Sign in to confirm you're not a bot. Use --cookies-from-browser")
        ),
        E.AuthError,
        False,
    ),
    (
        "private",
        lambda: wrapped(extractor("Private video. Sign in if you've been granted")),
        E.AuthError,
        False,
    ),
    (
        "members",
        lambda: wrapped(
            extractor(
                "This video is available to this channel's members on level: X (members-only)"
            )
        ),
        E.AuthError,
        False,
    ),
    (
        "registered",
        lambda: wrapped(extractor("This video is only available for registered users")),
        E.AuthError,
        False,
    ),
    (
        "geo type",
        lambda: wrapped(GeoRestrictedError("The uploader has blocked it")),
        E.GeoBlocked,
        False,
    ),
    (
        "geo text",
        lambda: wrapped(
            extractor("The uploader has not made this video available in your country")
        ),
        E.GeoBlocked,
        False,
    ),
    ("drm", lambda: wrapped(extractor("This video is DRM protected")), E.ProtectedContent, False),
    (
        "report",
        lambda: wrapped(extractor("Unable to extract uploader id", expected=False)),
        E.ExtractorUpdateRequired,
        False,
    ),
    (
        "nsig",
        lambda: wrapped(extractor("nsig extraction failed: You may experience throttling")),
        E.ExtractorUpdateRequired,
        False,
    ),
    (
        "other extractor",
        lambda: wrapped(extractor("Video metadata is missing")),
        E.ExtractorError,
        True,
    ),
    (
        "format",
        lambda: DownloadError("ERROR: [youtube] abc: Requested format is not available"),
        E.FormatNotFound,
        False,
    ),
    ("disk", lambda: wrapped(OSError(28, "No space left on device")), E.DiskFull, True),
    ("cancelled", lambda: wrapped(DownloadCancelled()), E.JobCancelled, False),
    (
        "policy",
        lambda: wrapped(OSError(f"{URL_POLICY_MARK}: 10.0.0.1 is private")),
        E.UnsupportedSource,
        False,
    ),
]


@pytest.mark.parametrize(
    ("make", "cls", "retryable"), [c[1:] for c in YTDLP_CASES], ids=[c[0] for c in YTDLP_CASES]
)
def test_ytdlp_failures(
    make: Callable[[], BaseException], cls: type[E.JobError], retryable: bool
) -> None:
    failure = describe_exception(make())
    # it crosses the process boundary as JSON
    failure = Failure.from_json(json.loads(json.dumps(failure.to_json())))
    err = classify_failure(failure)
    assert type(err) is cls, (err, failure)
    assert err.is_retryable is retryable
    assert err.message


def test_retry_after_survives_the_boundary() -> None:
    err = classify_failure(describe_exception(wrapped(http_error(429, {"Retry-After": "30"}))))
    assert isinstance(err, E.RateLimited) and err.retry_after == 30.0
    assert err.details["http_status"] == 429


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (401, E.AuthError, False),
        (403, E.AuthError, False),
        (404, E.HttpError, False),
        (410, E.HttpError, False),
        (429, E.RateLimited, True),
        (500, E.HttpError, True),
        (502, E.HttpError, True),
        (400, E.HttpError, False),
    ],
)
def test_http_status(status: int, cls: type[E.JobError], retryable: bool) -> None:
    err = classify_http_status(status, "7")
    assert type(err) is cls and err.is_retryable is retryable
    if status == 429:
        assert err.retry_after == 7.0


@pytest.mark.parametrize(
    ("code", "message", "cls", "retryable"),
    [
        (3, "Resource not found", E.HttpError, False),
        (24, "Authorization failed", E.AuthError, False),
        (22, "The response status is not successful. status=403", E.AuthError, False),
        (22, "The response status is not successful. status=429", E.RateLimited, True),
        (22, "The response status is not successful. status=500", E.HttpError, True),
        (29, "The remote server is temporarily overloaded", E.HttpError, True),
        (2, "Timeout", E.StageTimeout, True),
        (5, "Too slow", E.StageTimeout, True),
        (6, "Network problem", E.NetworkError, True),
        (19, "Name resolution failed", E.NetworkError, True),
        (9, "Not enough disk space", E.DiskFull, True),
        (26, "Torrent file corrupted", E.ParserError, False),
        (27, "Bad magnet URI", E.UnsupportedSource, False),
        (16, "Failed to create file: No space left on device", E.DiskFull, True),
        ("1", "Connection refused", E.NetworkError, True),
    ],
)
def test_aria2_errors(
    code: int | str, message: str, cls: type[E.JobError], retryable: bool
) -> None:
    err = classify_aria2(code, message)
    assert type(err) is cls and err.is_retryable is retryable
