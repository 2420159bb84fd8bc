"""The table of RPC handlers and the context each handler gets.

A handler is a plain function ``(ctx, request) -> TLObject`` registered with
``@handles(RequestType)``; it raises :class:`RpcFail` for Telegram's rpc_error answers.
Handlers run in the server thread while holding the world lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telethon.tl.tlobject import TLObject, TLRequest

if TYPE_CHECKING:
    from .faults import ConnectionStats, Faults, Stats
    from .server import AuthState, FakeMTProtoServer
    from .world import FakeUser, World

__all__ = ["CallContext", "Handler", "RpcFail", "handles", "lookup", "method_name"]


class RpcFail(Exception):
    """An ``rpc_error`` answer: code (400, 401, 420 …) and Telegram's message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


@dataclass
class CallContext:
    server: FakeMTProtoServer
    auth: AuthState
    conn: ConnectionStats
    layer: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def world(self) -> World:
        return self.server.world

    @property
    def faults(self) -> Faults:
        return self.server.faults

    @property
    def stats(self) -> Stats:
        return self.server.stats

    @property
    def user_id(self) -> int | None:
        return self.auth.user_id

    def me(self) -> FakeUser:
        """The logged-in account, or 401 AUTH_KEY_UNREGISTERED like Telegram."""
        if self.auth.user_id is None or self.auth.user_id not in self.world.users:
            raise RpcFail(401, "AUTH_KEY_UNREGISTERED")
        return self.world.users[self.auth.user_id]


Handler = Callable[[CallContext, Any], TLObject]
_HANDLERS: dict[int, Handler] = {}


def handles(*request_types: type[TLRequest]) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for request_type in request_types:
            _HANDLERS[request_type.CONSTRUCTOR_ID] = fn
        return fn

    return register


def lookup(request: TLObject) -> Handler | None:
    return _HANDLERS.get(request.CONSTRUCTOR_ID)


def method_name(request: TLObject) -> str:
    """TL name of a Telethon request: ``upload.GetFileRequest`` → ``upload.getFile``."""
    cls = type(request)
    name = cls.__name__.removesuffix("Request")
    name = name[:1].lower() + name[1:]
    module = cls.__module__.rsplit(".", 1)[-1]
    if module == "functions":
        return name
    return f"{module}.{name}"
