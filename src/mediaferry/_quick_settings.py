"""The few settings a light command reads, without pydantic.

:class:`mediaferry.config.Settings` (pydantic-settings) costs more to import than
``mediaferry add URL`` may take in total. The fast CLI paths need only where the
database is and what creating a job checks, so those are read here from the same
places — ``MEDIAFERRY_*`` variables in any case, over a ``.env`` in the working
directory — with the same defaults and the same parsing. Whenever a value is not one
this reader is sure to read exactly as pydantic would (an unusual ``.env`` line, a
number out of range, an unknown log level …) it answers None and the caller builds
the full :class:`~mediaferry.config.Settings`, which also gives the usual error.
Settings a light command does not use are not validated by it (``run`` and
``worker`` validate them all). A test compares both readers field by field.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["PREFIX", "QuickSettings", "database_url_from_env", "quick_settings"]

PREFIX = "MEDIAFERRY_"
_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_PLAIN_VALUE = re.compile(r"""^(?:'[^'\\]*'|"[^"\\$]*"|[^'"\s#$\\]*)$""")
_INT = re.compile(r"^-?[0-9]+$")
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_DB_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
# name: (default, lowest, highest) — as config.Settings declares them
_INTS: dict[str, tuple[int, int, int | None]] = {
    "max_attempts": (4, 1, 100),
    "max_queue_length": (1000, 1, None),
    "max_active_per_user": (10, 1, None),
    "max_jobs_per_user_hour": (60, 1, None),
    "max_jobs_per_chat_hour": (120, 1, None),
    "max_url_length": (4096, 64, None),
}
_LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR"})
_LOG_FORMATS = frozenset({"json", "console"})
_ISLAMIC_DEFAULT = ("way2allah.com", "islamway.net", "ar.islamway.net")


class _Unsure(Exception):
    """A value this reader cannot be sure to read as pydantic does."""


class QuickSettings:
    """The settings of :class:`~mediaferry.config.Settings` that creating a job reads
    (and logging). A plain class: ``dataclasses`` alone would cost ``jobs --json``
    a sixth of its start-up."""

    FIELDS = (
        "data_dir", "database_url", "allow_private_networks", *_INTS,
        "islamic_domains", "browser_domains", "log_level", "log_format",
    )  # fmt: skip
    __slots__ = FIELDS

    def __init__(
        self,
        *,
        data_dir: Path,
        database_url: str,
        allow_private_networks: bool,
        max_attempts: int,
        max_queue_length: int,
        max_active_per_user: int,
        max_jobs_per_user_hour: int,
        max_jobs_per_chat_hour: int,
        max_url_length: int,
        islamic_domains: list[str],
        browser_domains: list[str],
        log_level: str,
        log_format: str,
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.allow_private_networks = allow_private_networks
        self.max_attempts = max_attempts
        self.max_queue_length = max_queue_length
        self.max_active_per_user = max_active_per_user
        self.max_jobs_per_user_hour = max_jobs_per_user_hour
        self.max_jobs_per_chat_hour = max_jobs_per_chat_hour
        self.max_url_length = max_url_length
        self.islamic_domains = islamic_domains
        self.browser_domains = browser_domains
        self.log_level = log_level
        self.log_format = log_format


def _dotenv(path: Path) -> dict[str, str] | None:
    """``KEY=value`` lines of a simple ``.env`` (keys lower-cased); None when a line
    needs python-dotenv's full rules (escapes, interpolation, multi-line values)."""
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV_LINE.match(line)
        if match is None or not _PLAIN_VALUE.match(match.group(2)):
            return None
        value = match.group(2)
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        out[match.group(1).lower()] = value
    return out


def _values(environ: dict[str, str] | None, cwd: Path | None) -> dict[str, str] | None:
    """Every ``MEDIAFERRY_*`` value by lower-case field name: the environment over
    ``.env``; None when the ``.env`` is not one this reader understands."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    dotenv = (cwd or Path.cwd()) / ".env"
    if dotenv.exists():
        found = _dotenv(dotenv)
        if found is None:
            return None
        values.update(found)
    for key, value in env.items():
        if key.upper().startswith(PREFIX):
            values[key.lower()] = value
    prefix = PREFIX.lower()
    return {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}


def _int(name: str, raw: str | None) -> int:
    default, low, high = _INTS[name]
    if raw is None:
        return default
    if not _INT.match(raw):
        raise _Unsure
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise _Unsure  # pydantic says what the limit is
    return value


def _bool(raw: str | None) -> bool:
    if raw is None:
        return False
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise _Unsure


def _domains(raw: str | None, default: tuple[str, ...]) -> list[str]:
    if raw is None:
        return list(default)
    return [p.strip().lower() for p in raw.split(",") if p.strip()]


def _database_url(values: dict[str, str], data_dir: Path) -> str:
    url = values.get("database_url", "")
    if url and not url.startswith(_DB_SCHEMES):
        raise _Unsure
    return url or f"sqlite+aiosqlite:///{(data_dir / 'mediaferry.db').resolve()}"


def quick_settings(
    environ: dict[str, str] | None = None, cwd: Path | None = None
) -> QuickSettings | None:
    """The settings as :class:`~mediaferry.config.Settings` would read them, or None
    when unsure (then build those)."""
    values = _values(environ, cwd)
    if values is None:
        return None
    try:
        raw_dir = values.get("data_dir")
        if raw_dir == "":
            raise _Unsure
        data_dir = Path(raw_dir if raw_dir is not None else "./data").expanduser()
        log_level = values.get("log_level", "INFO")
        log_format = values.get("log_format", "json")
        if log_level not in _LOG_LEVELS or log_format not in _LOG_FORMATS:
            raise _Unsure
        return QuickSettings(
            data_dir=data_dir,
            database_url=_database_url(values, data_dir),
            allow_private_networks=_bool(values.get("allow_private_networks")),
            islamic_domains=_domains(values.get("islamic_domains"), _ISLAMIC_DEFAULT),
            browser_domains=_domains(values.get("browser_domains"), ()),
            log_level=log_level,
            log_format=log_format,
            **{name: _int(name, values.get(name)) for name in _INTS},  # type: ignore[arg-type]
        )
    except _Unsure:
        return None


def database_url_from_env(
    environ: dict[str, str] | None = None, cwd: Path | None = None
) -> str | None:
    """The database URL :class:`~mediaferry.config.Settings` would build; None when
    unsure."""
    found = quick_settings(environ, cwd)
    return found.database_url if found is not None else None
