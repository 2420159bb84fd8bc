"""The web app (FastAPI) and its server (uvicorn), run inside ``mediaferry run``'s loop.

``mediaferry run`` calls :func:`start` and later awaits the stopper it returns. The
server binds its socket itself, so a port in use is an ``OSError`` here rather than
uvicorn's ``sys.exit``, and ``web_port = 0`` picks a free port (see
:attr:`WebServer.url`). Signals stay with ``mediaferry run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from mediaferry import __version__
from mediaferry.app import Services
from mediaferry.web import api, follows, health, metrics, sse, webhook
from mediaferry.web._http import MAX_BODY_BYTES, BodyLimit, install_error_handlers

__all__ = ["WebServer", "create_app", "start"]

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")


def create_app(
    services: Services,
    *,
    progress_interval: float = 0.5,
    ping_s: float = 15.0,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The FastAPI app over ``services`` (its event hub and metrics run with it)."""
    hub = sse.EventHub(
        services.bus, services.jobs, progress_interval=progress_interval, ping_s=ping_s
    )
    web_metrics = metrics.WebMetrics(services)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub.start()
        web_metrics.start()
        try:
            yield
        finally:
            await hub.stop()
            await web_metrics.stop()

    app = FastAPI(
        title="Mediaferry",
        version=__version__,
        description="Media downloads: jobs, live progress, library search.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.services = services
    app.state.hub = hub
    app.state.metrics = web_metrics
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(follows.router)
    app.include_router(sse.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(webhook.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # ``mediaferry run`` owns SIGINT/SIGTERM and stops us through the stopper
        yield


class WebServer:
    """uvicorn serving ``app`` as a task of the running loop; awaiting it stops it."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> WebServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            ws="none",
            lifespan="on",
            server_header=False,
            timeout_graceful_shutdown=5,
            timeout_keep_alive=30,
        )
        server = self._server = _Server(config)
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="web-server")
        while not server.started:
            if self._task.done():
                sock.close()
                await self._task
                raise RuntimeError("the web server did not start")
            await asyncio.sleep(0.02)
        log.info("web server listening on %s", self.url)
        return self

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self.app.state.hub.close_clients()  # open event streams would hold shutdown
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 15)
        except TimeoutError:
            self._server.force_exit = True
            await self._task
        finally:
            self._server = None
            self._task = None

    async def __call__(self) -> None:
        await self.stop()


async def start(services: Services) -> WebServer:
    """Serve the web app on ``web_host:web_port``; the result, awaited, stops it."""
    settings = services.settings
    if settings.api_key is None:
        log.warning("no MEDIAFERRY_API_KEY set: the API serves loopback clients only")
    app = create_app(services)
    return await WebServer(app, settings.web_host, settings.web_port).start()
