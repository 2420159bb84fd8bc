"""Telethon's exceptions become Mediaferry errors here, and nowhere else.

======================================  ==============================================
Telethon                                Mediaferry
======================================  ==============================================
FloodWaitError, FloodPremiumWaitError   RateLimited (RATE_LIMIT, ``retry_after`` = n s)
401 Unauthorized, AuthKeyError,         AuthError (AUTH_ERROR): log in again
  SessionRevoked, AuthKeyUnregistered
ChannelPrivate, ChatForbidden, 403      AuthError: this account cannot see the chat
UsernameNotOccupied/Invalid, PeerIdInv  ChatNotFound (AUTH_ERROR, not retried)
  ChannelInvalid, Chat/UserIdInvalid
FileReferenceExpired                    handled inside (the message is fetched again)
ConnectionError, OSError, timeouts      NetworkError (NETWORK_ERROR, retried)
500 ServerError, other RPC errors       TelegramError (TELEGRAM_ERROR, retried)
======================================  ==============================================
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, NoReturn

from mediaferry.errors import (
    AuthError,
    FormatNotFound,
    JobError,
    NetworkError,
    RateLimited,
    TelegramError,
)

__all__ = ["ChatNotFound", "NoMedia", "NotLoggedIn", "raise_translated", "translate"]


class ChatNotFound(AuthError):
    """No such Telegram chat, or this account cannot see it."""


class NotLoggedIn(AuthError):
    """The Telegram user account is not logged in: run `mediaferry tg login`."""


class NoMedia(FormatNotFound):
    """This Telegram message has no file to download."""


@functools.cache
def _groups() -> dict[str, Any]:
    """Telethon's error classes, imported on first use (Telethon takes ~0.7 s to import)."""
    from telethon import errors as tl

    return {
        "tl": tl,
        "private": (
            tl.ChannelPrivateError, tl.ChatForbiddenError, tl.ChatAdminRequiredError,
            tl.ChannelPublicGroupNaError,
        ),
        "not_found": (
            tl.UsernameNotOccupiedError, tl.UsernameInvalidError, tl.PeerIdInvalidError,
            tl.ChannelInvalidError, tl.ChatIdInvalidError, tl.UserIdInvalidError,
        ),
        "login": (
            tl.AuthKeyError, tl.UnauthorizedError, tl.SessionRevokedError,
            tl.AuthKeyUnregisteredError, tl.AuthKeyDuplicatedError,
        ),
    }  # fmt: skip


def translate(exc: BaseException, what: str = "Telegram") -> JobError:
    """The Mediaferry error for a Telethon (or network) exception; never leaks secrets:
    the message names the RPC error, not its request."""
    if isinstance(exc, JobError):
        return exc
    groups = _groups()
    tl_errors = groups["tl"]
    if isinstance(exc, tl_errors.FloodWaitError | tl_errors.FloodPremiumWaitError):
        seconds = float(getattr(exc, "seconds", 0) or 0)
        return RateLimited(f"Telegram asks to wait {seconds:.0f} s", retry_after=seconds)
    if isinstance(exc, groups["private"]):
        return AuthError(f"{what}: this account cannot see the chat (it is private)")
    if isinstance(exc, groups["not_found"]):
        return ChatNotFound(f"{what}: no such chat, or this account cannot see it")
    if isinstance(exc, groups["login"]):
        return NotLoggedIn(
            f"{what}: the Telegram session is not valid any more ({type(exc).__name__}); "
            "log in again with `mediaferry tg login`"
        )
    if isinstance(exc, tl_errors.ForbiddenError):
        return AuthError(f"{what}: Telegram refused access ({exc.message})")
    if isinstance(exc, tl_errors.RPCError):
        name = getattr(exc, "message", None) or type(exc).__name__
        return TelegramError(f"{what}: Telegram answered {name}")
    if isinstance(exc, ConnectionError | OSError | asyncio.IncompleteReadError | TimeoutError):
        return NetworkError(f"{what}: the connection to Telegram failed ({type(exc).__name__})")
    if isinstance(exc, ValueError):  # Telethon's "could not find the input entity"
        return ChatNotFound(f"{what}: no such chat, or this account cannot see it")
    return TelegramError(f"{what}: {type(exc).__name__}")


def raise_translated(exc: BaseException, what: str = "Telegram") -> NoReturn:
    raise translate(exc, what) from exc
