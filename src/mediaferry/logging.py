"""Structured logging: JSON lines on stdout, job context fields, secrets redacted.

Context (job_id, user_id, stage, ...) is carried in a context variable so every log
line emitted while a job runs carries it without passing it around. Debug logging
can be switched on for single jobs (``/debug_on``) through :data:`DEBUG_JOBS`.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

__all__ = [
    "DEBUG_JOBS",
    "add_secret",
    "bind",
    "configure_logging",
    "current_context",
    "log_context",
    "redact",
]

CONTEXT_FIELDS = (
    "job_id",
    "user_id",
    "chat_id",
    "source_type",
    "stage",
    "url_domain",
    "auth_profile_id",
    "downloader",
    "error_type",
    "http_status",
    "worker_id",
)

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(
    "mediaferry_log_context",
    default={},  # noqa: B039 - never mutated, always replaced
)
_secrets: set[str] = set()
DEBUG_JOBS: set[int] = set()

_PATTERNS = [
    # bot tokens: 123456:ABC-DEF...
    re.compile(r"(?<!\d)\d{6,12}:[A-Za-z0-9_-]{30,}"),
    # Authorization headers and bearer tokens
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer\s+)?[^\s\"',}]+"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    # secrets in query strings / key=value
    re.compile(
        r"(?i)\b(token|api[_-]?key|secret|password|passwd|cookie|session|sig|signature)"
        r"(=|\"?\s*:\s*\"?)[^&\s\"',}]+"
    ),
]


def add_secret(value: str | None) -> None:
    """Register a literal secret that must never appear in a log line."""
    if value and len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    """Remove registered secrets and secret-looking substrings from ``text``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    text = _PATTERNS[0].sub("***", text)
    text = _PATTERNS[1].sub(lambda m: m.group(1) + "***", text)
    text = _PATTERNS[2].sub("Bearer ***", text)
    text = _PATTERNS[3].sub(lambda m: m.group(1) + m.group(2) + "***", text)
    return text


def current_context() -> dict[str, Any]:
    return dict(_context.get())


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add context fields to every log line emitted inside the block."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: Any) -> None:
    """Add context fields for the rest of the current task."""
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


class _ContextFilter(logging.Filter):
    """Adds context fields to records, and lets DEBUG through for debugged jobs."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get()
        for key, value in ctx.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        if record.levelno >= self.level:
            return True
        job_id = getattr(record, "job_id", None)
        return job_id is not None and job_id in DEBUG_JOBS


# plus uvicorn's copy of the message with ANSI colour codes (noise in a JSON line)
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key in _RESERVED or key.startswith("_"):
                continue
            out[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            out["exc_info"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={record.__dict__[k]}"
            for k in CONTEXT_FIELDS
            if record.__dict__.get(k) is not None
        )
        ts = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += f"  [{extras}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


def configure_logging(level: str = "INFO", fmt: str = "json", stream: Any = None) -> None:
    """Install the structured handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_mediaferry", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler._mediaferry = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    numeric = logging.getLevelName(level.upper())
    handler.addFilter(_ContextFilter(numeric if isinstance(numeric, int) else logging.INFO))
    root.addHandler(handler)
    # Records must reach the handler for per-job DEBUG; the filter enforces the level.
    root.setLevel(logging.DEBUG)
    for noisy in ("httpx", "httpcore", "aiosqlite", "asyncio", "telegram", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level, logging.WARNING))
