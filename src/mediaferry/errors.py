"""Mediaferry's one exception tree.

Every failure a job can meet carries an :class:`ErrorType`, whether it is worth
retrying, and a short message a user can read. Library exceptions (yt-dlp, aria2,
httpx, ffmpeg, Telegram, Playwright) are translated into these at the boundary with
``raise ... from exc``; nothing above that boundary catches a library's own types.

::

    MediaferryError
    ├── ConfigError                      bad settings at start-up
    ├── UrlRejected                      URL policy refusal (scheme, SSRF, malformed)
    ├── LimitExceeded                    queue / per-user / per-chat limits
    ├── JobNotFound
    ├── InvalidTransition                a refused or lost state change
    ├── AuthProfileError                 a bad auth profile (id, source, cookie file)
    ├── BackupRefused                    a backup/restore refused before anything changed
    ├── BackupFailed                     a backup/restore tool failed (nothing kept)
    ├── UpdateFailed                     `mediaferry update` failed; the old yt-dlp is kept
    └── JobError                         a job's failure, with an ErrorType
        ├── NetworkError                 NETWORK_ERROR     retried
        ├── HttpError                    HTTP_ERROR        retried for 5xx
        ├── AuthError                    AUTH_ERROR
        │   └── AuthRetry                AUTH_ERROR        retried at once, next profile
        ├── RateLimited                  RATE_LIMIT        retried after Retry-After
        ├── ExtractorError               EXTRACTOR_ERROR
        ├── ExtractorUpdateRequired      EXTRACTOR_UPDATE_REQUIRED
        ├── GeoBlocked                   GEO_BLOCK
        ├── SizeLimitExceeded            SIZE_LIMIT
        ├── FormatNotFound               FORMAT_NOT_FOUND
        ├── ParserError                  PARSER_ERROR
        ├── ProtectedContent             PROTECTED_CONTENT
        ├── UnsupportedSource            UNSUPPORTED_SOURCE
        ├── DiskFull                     DISK_FULL         waits, never fails
        ├── DatabaseUnavailable          NETWORK_ERROR     waits for the database, no attempt spent
        ├── StageTimeout                 TIMEOUT           retried
        ├── JobCancelled                 CANCELLED
        ├── TelegramError                TELEGRAM_ERROR    retried (flood waits honoured)
        ├── MediaError                   UNKNOWN (ffprobe/ffmpeg could not read or write)
        └── UnknownError                 UNKNOWN
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

__all__ = [
    "AuthError",
    "AuthProfileError",
    "AuthRetry",
    "BackupFailed",
    "BackupRefused",
    "ConfigError",
    "DatabaseUnavailable",
    "DiskFull",
    "ErrorType",
    "ExtractorError",
    "ExtractorUpdateRequired",
    "FormatNotFound",
    "GeoBlocked",
    "HttpError",
    "InvalidTransition",
    "JobCancelled",
    "JobError",
    "JobNotFound",
    "LimitExceeded",
    "MediaError",
    "MediaferryError",
    "NetworkError",
    "ParserError",
    "ProtectedContent",
    "RateLimited",
    "SizeLimitExceeded",
    "StageTimeout",
    "TelegramError",
    "UnknownError",
    "UnsupportedSource",
    "UrlRejected",
    "user_message",
]


class ErrorType(StrEnum):
    NETWORK_ERROR = "NETWORK_ERROR"
    HTTP_ERROR = "HTTP_ERROR"
    AUTH_ERROR = "AUTH_ERROR"
    RATE_LIMIT = "RATE_LIMIT"
    EXTRACTOR_ERROR = "EXTRACTOR_ERROR"
    EXTRACTOR_UPDATE_REQUIRED = "EXTRACTOR_UPDATE_REQUIRED"
    GEO_BLOCK = "GEO_BLOCK"
    SIZE_LIMIT = "SIZE_LIMIT"
    FORMAT_NOT_FOUND = "FORMAT_NOT_FOUND"
    PARSER_ERROR = "PARSER_ERROR"
    PROTECTED_CONTENT = "PROTECTED_CONTENT"
    UNSUPPORTED_SOURCE = "UNSUPPORTED_SOURCE"
    DISK_FULL = "DISK_FULL"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"
    TELEGRAM_ERROR = "TELEGRAM_ERROR"
    STALE = "STALE"
    UNKNOWN = "UNKNOWN"


# What a user is told, per error type. Details go to logs and job events.
_USER_MESSAGES: dict[ErrorType, str] = {
    ErrorType.NETWORK_ERROR: "The site could not be reached.",
    ErrorType.HTTP_ERROR: "The site answered with an error.",
    ErrorType.AUTH_ERROR: "This media needs a login or is private.",
    ErrorType.RATE_LIMIT: "The site is limiting requests; trying again later.",
    ErrorType.EXTRACTOR_ERROR: "The media could not be extracted from this page.",
    ErrorType.EXTRACTOR_UPDATE_REQUIRED: "The downloader for this site needs an update.",
    ErrorType.GEO_BLOCK: "This media is not available in the server's country.",
    ErrorType.SIZE_LIMIT: "The file is larger than the allowed size.",
    ErrorType.FORMAT_NOT_FOUND: "No format of the requested type and quality exists.",
    ErrorType.PARSER_ERROR: "No media was found on this page.",
    ErrorType.PROTECTED_CONTENT: "This media is DRM-protected and cannot be downloaded.",
    ErrorType.UNSUPPORTED_SOURCE: "This link is not supported.",
    ErrorType.DISK_FULL: "The server is low on disk space; the job will wait.",
    ErrorType.TIMEOUT: "The download took too long.",
    ErrorType.CANCELLED: "Cancelled.",
    ErrorType.TELEGRAM_ERROR: "Telegram refused the upload.",
    ErrorType.STALE: "The job was interrupted too many times.",
    ErrorType.UNKNOWN: "Something went wrong.",
}


def user_message(error_type: ErrorType | str | None) -> str:
    """The short, human message shown to users for an error type."""
    try:
        return _USER_MESSAGES[ErrorType(error_type or "UNKNOWN")]
    except ValueError:
        return _USER_MESSAGES[ErrorType.UNKNOWN]


class MediaferryError(Exception):
    """Something went wrong."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__class__.__doc__ or "error").strip().splitlines()[0]
        super().__init__(self.message)


class ConfigError(MediaferryError):
    """The configuration is invalid."""


class UrlRejected(MediaferryError):
    """This URL is not allowed."""


class LimitExceeded(MediaferryError):
    """A limit was reached; try again later."""


class JobNotFound(MediaferryError):
    """No such job."""


class InvalidTransition(MediaferryError):
    """That change of job status is not allowed."""


class JobError(MediaferryError):
    """Something went wrong."""

    error_type: ClassVar[ErrorType] = ErrorType.UNKNOWN
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.details = details or {}

    @property
    def is_retryable(self) -> bool:
        return self.retryable


class NetworkError(JobError):
    """The site could not be reached."""

    error_type = ErrorType.NETWORK_ERROR
    retryable = True


class HttpError(JobError):
    """The site answered with an error."""

    error_type = ErrorType.HTTP_ERROR

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after, details=details)
        self.status = status

    @property
    def is_retryable(self) -> bool:
        return self.status is not None and self.status >= 500


class AuthError(JobError):
    """This media needs a login or is private."""

    error_type = ErrorType.AUTH_ERROR


# auth profiles (jobs/auth.py) ------------------------------------------------------
class AuthRetry(AuthError):
    """This media needs a login; trying the next auth profile."""

    retryable = True

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("retry_after", 0.0)
        super().__init__(message, **kwargs)


class AuthProfileError(MediaferryError):
    """The auth profile is invalid."""


# end auth profiles -------------------------------------------------------------------


class BackupRefused(MediaferryError):
    """The backup or restore was refused; nothing was changed."""


class BackupFailed(MediaferryError):
    """The backup or restore failed; nothing was changed."""


class UpdateFailed(MediaferryError):
    """yt-dlp could not be updated; the installed version is kept."""


class RateLimited(JobError):
    """The site is limiting requests."""

    error_type = ErrorType.RATE_LIMIT
    retryable = True


class ExtractorError(JobError):
    """The media could not be extracted."""

    error_type = ErrorType.EXTRACTOR_ERROR
    retryable = True


class ExtractorUpdateRequired(JobError):
    """The downloader for this site needs an update."""

    error_type = ErrorType.EXTRACTOR_UPDATE_REQUIRED


class GeoBlocked(JobError):
    """Not available in the server's country."""

    error_type = ErrorType.GEO_BLOCK


class SizeLimitExceeded(JobError):
    """The file is larger than the allowed size."""

    error_type = ErrorType.SIZE_LIMIT


class FormatNotFound(JobError):
    """No format of the requested type and quality exists."""

    error_type = ErrorType.FORMAT_NOT_FOUND


class ParserError(JobError):
    """No media was found on this page."""

    error_type = ErrorType.PARSER_ERROR


class ProtectedContent(JobError):
    """This media is DRM-protected."""

    error_type = ErrorType.PROTECTED_CONTENT


class UnsupportedSource(JobError):
    """This link is not supported."""

    error_type = ErrorType.UNSUPPORTED_SOURCE


class DiskFull(JobError):
    """The server is out of disk space."""

    error_type = ErrorType.DISK_FULL
    retryable = True


class DatabaseUnavailable(JobError):
    """The database could not be reached."""

    error_type = ErrorType.NETWORK_ERROR
    retryable = True


class StageTimeout(JobError):
    """The stage took too long."""

    error_type = ErrorType.TIMEOUT
    retryable = True


class JobCancelled(JobError):
    """Cancelled."""

    error_type = ErrorType.CANCELLED


class TelegramError(JobError):
    """Telegram refused the request."""

    error_type = ErrorType.TELEGRAM_ERROR
    retryable = True


class MediaError(JobError):
    """The file is not playable media."""

    error_type = ErrorType.UNKNOWN


class UnknownError(JobError):
    """Something went wrong."""

    error_type = ErrorType.UNKNOWN
