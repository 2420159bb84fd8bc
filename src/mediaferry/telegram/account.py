"""The user account: log in (phone, code, 2FA password), log out, who am I.

Nothing typed here is logged or echoed: the phone number, the code and the password
are passed to Telethon and dropped; errors name what was wrong, never the value.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mediaferry.errors import AuthError, ConfigError
from mediaferry.logging import add_secret
from mediaferry.telegram._errors import NotLoggedIn, translate
from mediaferry.telegram.clients import TelegramClients, call

__all__ = ["Account", "LoginRefused", "login", "logout", "whoami"]

log = logging.getLogger(__name__)

Ask = Callable[[str], str]  # prompt -> answer, typed without echo


class LoginRefused(AuthError):
    """Telegram refused the login."""


@dataclass(slots=True)
class Account:
    id: int
    username: str | None
    name: str | None
    bot: bool

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "name": self.name, "bot": self.bot}


def _account(user: Any) -> Account:
    name = " ".join(p for p in (user.first_name, user.last_name) if p) or None
    return Account(int(user.id), user.username or None, name, bool(user.bot))


async def whoami(clients: TelegramClients) -> Account:
    """The logged-in user account (:class:`NotLoggedIn` if none)."""
    from telethon.tl import functions, types

    client = await clients.user()
    users = await call(client, functions.users.GetUsersRequest([types.InputUserSelf()]))
    return _account(users[0])


async def login(clients: TelegramClients, ask: Ask) -> Account:
    """Interactive login of the user account into the session file."""
    from telethon import errors as tl

    clients.require()
    if clients.uses_string_session:
        raise ConfigError(
            "MEDIAFERRY_TELEGRAM_USER_SESSION is set: that session is used; unset it to log in"
        )
    path = clients.user_session_path
    # a login that fails leaves no session file behind (only an unused auth key in it)
    fresh = not path.exists() or path.stat().st_size == 0
    done = False
    client = clients.make_client(clients.user_session())
    try:
        await clients.connect(client)
        phone = ask("Phone number (international format, not shown)").strip()
        add_secret(phone)
        if not phone.lstrip("+").replace(" ", "").isdigit():
            raise LoginRefused("that is not a phone number (digits, with the country code)")
        try:
            sent = await client.send_code_request(phone)
            code = ask("The code Telegram sent you (not shown)").strip()
            try:
                user = await client.sign_in(
                    phone=phone, code=code, phone_code_hash=sent.phone_code_hash
                )
            except tl.SessionPasswordNeededError:
                password = ask("Your two-step verification password (not shown)")
                add_secret(password)
                user = await client.sign_in(password=password)
        except (tl.PhoneCodeInvalidError, tl.PhoneCodeEmptyError):
            raise LoginRefused("wrong code; run `mediaferry tg login` again") from None
        except tl.PhoneCodeExpiredError:
            raise LoginRefused("the code expired; run `mediaferry tg login` again") from None
        except (tl.PasswordHashInvalidError, tl.PasswordEmptyError):
            raise LoginRefused("wrong password; run `mediaferry tg login` again") from None
        except (tl.PhoneNumberInvalidError, tl.PhoneNumberBannedError):
            raise LoginRefused("Telegram does not accept this phone number") from None
        except Exception as exc:
            raise translate(exc, "login") from None
        log.info("Telegram user account logged in")
        done = True
        return _account(user)
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()
        if fresh and not done:
            for leftover in (path, path.with_name(path.name + "-journal")):
                leftover.unlink(missing_ok=True)


async def logout(clients: TelegramClients) -> bool:
    """Log the account out at Telegram and delete the session file. False if there
    was no session."""
    clients.require()
    if clients.uses_string_session:
        raise ConfigError(
            "MEDIAFERRY_TELEGRAM_USER_SESSION is set: remove it from the configuration instead"
        )
    path = clients.user_session_path
    if not path.exists() or path.stat().st_size == 0:
        return False
    with contextlib.suppress(NotLoggedIn, AuthError):
        client = await clients.user()
        with contextlib.suppress(Exception):
            await client.log_out()
    await clients.close()
    for leftover in (path, path.with_name(path.name + "-journal")):
        leftover.unlink(missing_ok=True)
    return True
