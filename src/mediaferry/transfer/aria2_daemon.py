"""The aria2c daemon Mediaferry starts and supervises, and its JSON-RPC client.

One ``aria2c --enable-rpc`` process listens on 127.0.0.1 on a random free port with a
random secret (``--rpc-listen-all=false``), saves its session, and stops with our
process (``--stop-with-process``). DHT, LPD and peer exchange are off unless
``aria2_enable_dht``. If the daemon dies it is restarted; :attr:`generation` grows
with each start so a transfer can tell that its download died with the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from mediaferry.errors import ConfigError, NetworkError

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = ["Aria2Daemon", "Aria2RpcError"]

log = logging.getLogger(__name__)


class Aria2RpcError(Exception):
    """aria2 answered a JSON-RPC call with an error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"aria2 RPC error {code}: {message}")
        self.code = code
        self.message = message


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Aria2Daemon:
    """Starts, supervises and talks to one aria2c process."""

    def __init__(self, settings: Settings, session_dir: Path | None = None) -> None:
        self.settings = settings
        self.session_dir = session_dir or settings.data_dir / "aria2"
        self.generation = 0
        self.proc: asyncio.subprocess.Process | None = None
        self._port = 0
        self._secret = ""
        self._client: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._closing = False
        self._watcher: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _command(self) -> list[str]:
        dht = "true" if self.settings.aria2_enable_dht else "false"
        session = self.session_dir / "aria2.session"
        session.touch()
        return [
            self.settings.aria2c_path,
            "--enable-rpc=true",
            f"--rpc-listen-port={self._port}",
            f"--rpc-secret={self._secret}",
            "--rpc-listen-all=false",
            "--rpc-max-request-size=32M",
            f"--save-session={session}",
            "--save-session-interval=30",
            f"--stop-with-process={os.getpid()}",
            f"--enable-dht={dht}",
            f"--enable-dht6={dht}",
            f"--bt-enable-lpd={dht}",
            f"--enable-peer-exchange={dht}",
            "--seed-time=0",
            "--rpc-save-upload-metadata=false",
            "--max-concurrent-downloads=64",
            "--file-allocation=none",
            "--auto-file-renaming=false",
            "--allow-overwrite=true",
            "--console-log-level=warn",
            "--summary-interval=0",
            "--show-console-readout=false",
            f"--user-agent={self.settings.user_agent}",
        ]

    async def ensure(self) -> None:
        """Start the daemon if it is not running."""
        async with self._lock:
            if not self.alive:
                await self._start()

    async def _start(self) -> None:
        self.session_dir.mkdir(parents=True, exist_ok=True)
        self._port = _free_port()
        self._secret = secrets.token_hex(16)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self._command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise ConfigError(f"aria2c not found ({self.settings.aria2c_path})") from exc
        self.generation += 1
        if self._client is not None:
            await self._client.aclose()
        self._client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self._port}",
            timeout=self.settings.aria2_rpc_timeout_s,
            trust_env=False,
        )
        await self._wait_ready()
        self._watcher = asyncio.create_task(self._watch(self.proc, self.generation))
        log.info("aria2c daemon started", extra={"pid": self.proc.pid, "port": self._port})

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            try:
                await self._raw_call("aria2.getVersion")
                return
            except (httpx.TransportError, NetworkError):
                if not self.alive or loop.time() > deadline:
                    raise NetworkError("the aria2c daemon did not start") from None
                await asyncio.sleep(0.05)

    async def _watch(self, proc: asyncio.subprocess.Process, generation: int) -> None:
        code = await proc.wait()
        if self._closing or generation != self.generation:
            return
        log.warning("aria2c daemon died; restarting", extra={"exit_code": code})
        with contextlib.suppress(Exception):
            await self.ensure()

    async def _raw_call(self, method: str, *params: Any) -> Any:
        assert self._client is not None
        body = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": method,
            "params": [f"token:{self._secret}", *params],
        }
        response = await self._client.post("/jsonrpc", json=body)
        data = response.json()
        if "error" in data:
            raise Aria2RpcError(int(data["error"].get("code", 1)), str(data["error"]["message"]))
        return data.get("result")

    async def call(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call; NetworkError (retryable) if the daemon is unreachable."""
        await self.ensure()
        try:
            return await self._raw_call(method, *params)
        except httpx.TransportError as exc:
            raise NetworkError("the aria2c daemon stopped; the download will be retried") from exc

    async def _idle(self) -> bool:
        """Is no download active or waiting (all finished, failed or removed)?"""
        stat = await self._raw_call("aria2.getGlobalStat")
        return int(stat.get("numActive", 1)) == 0 and int(stat.get("numWaiting", 1)) == 0

    async def close(self) -> None:
        """Stop the daemon (used at shutdown)."""
        self._closing = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            idle = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._raw_call("aria2.saveSession"), 2)
                idle = await asyncio.wait_for(self._idle(), 2)
            # aria2c notices signals about once a second, and even its forceShutdown takes
            # seconds. With nothing in flight there is nothing to write: kill it at once;
            # else SIGTERM (a second one aborts at once), so control files are saved
            steps = (
                ((signal.SIGKILL, 5.0),)
                if idle
                else ((signal.SIGTERM, 0.1), (signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0))
            )
            for sig, wait in steps:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    await asyncio.wait_for(proc.wait(), wait)
                    break
                except TimeoutError:
                    continue
            await proc.wait()
        if self._watcher is not None:
            self._watcher.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
