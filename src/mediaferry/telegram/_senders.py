"""Extra MTProto connections to one DC, for parallel file parts.

Telethon talks to a DC over one connection; a file fetched or uploaded over that one
connection is capped by its throughput. Here several :class:`MTProtoSender` share the
client's authorisation: for the home DC they reuse its auth key (each connection is
a new MTProto session, introduced with ``initConnection``); for another DC the first
connection imports an exported authorisation and the others reuse its key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from telethon.network import MTProtoSender
from telethon.tl import functions
from telethon.tl.alltlobjects import LAYER

from mediaferry.telegram._errors import raise_translated

__all__ = ["SenderPool", "run_all"]

log = logging.getLogger(__name__)


class SenderPool:
    """``count`` connected senders to ``dc_id``; use as an async context manager."""

    def __init__(self, client: Any, dc_id: int | None, count: int) -> None:
        self.client = client
        session = client.session
        self.dc_id = dc_id or session.dc_id
        self.count = max(1, count)
        self.senders: list[Any] = []

    @property
    def home(self) -> bool:
        return bool(self.dc_id == self.client.session.dc_id)

    def _init(self, query: Any) -> Any:
        base = self.client._init_request
        init = functions.InitConnectionRequest(
            api_id=base.api_id, device_model=base.device_model,
            system_version=base.system_version, app_version=base.app_version,
            lang_code=base.lang_code, system_lang_code=base.system_lang_code,
            lang_pack=base.lang_pack, query=query, proxy=base.proxy,
        )  # fmt: skip
        return functions.InvokeWithLayerRequest(LAYER, init)

    async def _address(self) -> tuple[str, int]:
        session = self.client.session
        if self.home:
            return session.server_address, session.port
        dc = await self.client._get_dc(self.dc_id)
        return dc.ip_address, dc.port

    async def _open_one(self, auth_key: Any) -> Any:
        host, port = await self._address()
        sender = MTProtoSender(auth_key, loggers=self.client._log, retries=5, delay=1)
        await sender.connect(
            self.client._connection(
                host, port, self.dc_id, loggers=self.client._log,
                proxy=self.client._proxy, local_addr=self.client._local_addr,
            )
        )  # fmt: skip
        if auth_key is None:  # another DC: import an exported authorisation
            exported = await self.client(functions.auth.ExportAuthorizationRequest(self.dc_id))
            query = functions.auth.ImportAuthorizationRequest(exported.id, exported.bytes)
        else:
            query = functions.help.GetConfigRequest()
        await sender.send(self._init(query))
        return sender

    async def __aenter__(self) -> SenderPool:
        try:
            key = self.client.session.auth_key if self.home else None
            first = await self._open_one(key)
            self.senders.append(first)
            key = key or first.auth_key
            rest = await asyncio.gather(
                *(self._open_one(key) for _ in range(self.count - 1)), return_exceptions=True
            )
            for sender in rest:
                if isinstance(sender, BaseException):
                    log.warning("an extra Telegram connection failed: %r", sender)
                else:
                    self.senders.append(sender)
        except BaseException as exc:
            await self.close()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise_translated(exc, "opening Telegram connections")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        senders, self.senders = self.senders, []
        for sender in senders:
            with contextlib.suppress(Exception):
                await sender.disconnect()


async def run_all(work: list[Coroutine[Any, Any, None]]) -> None:
    """Run the workers together; the first failure cancels the others and is raised."""
    tasks = [asyncio.create_task(w) for w in work]
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                error = task.exception()
                if error is not None:
                    raise error
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
