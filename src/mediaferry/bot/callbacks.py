"""Inline-button callback data: built and parsed in one place.

Callback data comes back from Telegram exactly as the client sent it, so anyone can
forge it (``cancel:99999999999999999999999``, ``cancel:-1``, ``ask:../../x``).
:func:`parse_callback` is the only reader: every field is checked against a pattern
and bounded (job ids fit a signed 64-bit column, tokens and qualities are short
ASCII words), and anything else is None. A None, or data that names something the
presser cannot see, gets :data:`EXPIRED` as the answer and changes nothing.

Formats (at most 64 bytes, Telegram's limit)::

    cancel:<job id>
    ask:<token>:<video|audio>:<quality>
    set:<type|quality|archive|ask>:<value>
    follow:<pause|resume|remove>:<follow id>
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import telegram as tg

__all__ = [
    "EXPIRED",
    "MAX_DATA_BYTES",
    "MAX_JOB_ID",
    "AskChoice",
    "Callback",
    "CancelJob",
    "FollowAction",
    "SetOption",
    "answer",
    "ask_data",
    "cancel_data",
    "follow_data",
    "parse_callback",
    "set_data",
]

log = logging.getLogger(__name__)

EXPIRED = "This button has expired."
MAX_DATA_BYTES = 64  # Telegram's limit for callback_data
MAX_JOB_ID = 2**63 - 1  # BIGINT / SQLite INTEGER

_ID = re.compile(r"[1-9][0-9]{0,18}")
_WORD = re.compile(r"[A-Za-z0-9]{1,16}")
_SETTING_KEYS = frozenset({"type", "quality", "archive", "ask"})
_JOB_TYPES = frozenset({"video", "audio"})


@dataclass(frozen=True, slots=True)
class CancelJob:
    job_id: int


@dataclass(frozen=True, slots=True)
class AskChoice:
    token: str
    job_type: str
    quality: str


@dataclass(frozen=True, slots=True)
class SetOption:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class FollowAction:
    action: str  # pause | resume | remove
    follow_id: int


Callback = CancelJob | AskChoice | SetOption | FollowAction
_FOLLOW_ACTIONS = frozenset({"pause", "resume", "remove"})


def cancel_data(job_id: int) -> str:
    return f"cancel:{job_id}"


def ask_data(token: str, job_type: str, quality: str) -> str:
    return f"ask:{token}:{job_type}:{quality}"


def set_data(key: str, value: str) -> str:
    return f"set:{key}:{value}"


def follow_data(action: str, follow_id: int) -> str:
    return f"follow:{action}:{follow_id}"


def parse_callback(data: object) -> Callback | None:
    """The button ``data`` stands for, or None for anything malformed or out of bounds."""
    if not isinstance(data, str) or not data.isascii() or len(data) > MAX_DATA_BYTES:
        return None
    kind, _, rest = data.partition(":")
    fields = rest.split(":")
    if kind == "cancel" and len(fields) == 1 and _ID.fullmatch(fields[0]):
        job_id = int(fields[0])
        return CancelJob(job_id) if job_id <= MAX_JOB_ID else None
    if kind == "ask" and len(fields) == 3:
        token, job_type, quality = fields
        if _WORD.fullmatch(token) and job_type in _JOB_TYPES and _WORD.fullmatch(quality):
            return AskChoice(token, job_type, quality.lower())
        return None
    if kind == "follow" and len(fields) == 2:
        action, raw_id = fields
        if action in _FOLLOW_ACTIONS and _ID.fullmatch(raw_id) and int(raw_id) <= MAX_JOB_ID:
            return FollowAction(action, int(raw_id))
        return None
    if kind == "set" and len(fields) == 2:
        key, value = fields
        if key in _SETTING_KEYS and _WORD.fullmatch(value):
            return SetOption(key, value.lower())
    return None


async def answer(query: tg.CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Answer a press once; a query Telegram no longer accepts (too old, answered) is
    only logged, so a late or forged press never turns into an error message."""
    try:
        await query.answer(text, show_alert=alert)
    except tg.error.BadRequest as exc:
        log.info("callback query not answered: %s", exc)
