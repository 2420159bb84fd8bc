"""A running Mediaferry web server for the web tests: real services, real uvicorn on
127.0.0.1 and a random port, a real worker pool, and an SSE reader."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediaferry.app import Services
from mediaferry.jobs.worker import WorkerPool
from mediaferry.web.server import WebServer, create_app
from tests.support.db_fixtures import make_settings, migrated

API_KEY = "test-key-0123456789"


@dataclass
class Web:
    services: Services
    server: WebServer
    client: httpx.AsyncClient
    pool: WorkerPool | None

    @property
    def url(self) -> str:
        return self.server.url

    async def wait_job(self, job_id: int, *statuses: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            r = await self.client.get(f"/api/jobs/{job_id}")
            assert r.status_code == 200, r.text
            job: dict[str, Any] = r.json()
            if job["status"] in statuses:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} is {job['status']}, wanted {statuses}")
            await asyncio.sleep(0.05)


WebFactory = Callable[..., Awaitable[Web]]


@pytest.fixture(name="make_web")
async def make_web_fixture(tmp_path: Path, db_url: str) -> AsyncIterator[WebFactory]:
    """``await make_web(workers=True, api_key=API_KEY, **settings)`` → a running server."""
    async with contextlib.AsyncExitStack() as stack:

        async def factory(
            *, workers: bool = True, api_key: str | None = API_KEY, **overrides: Any
        ) -> Web:
            settings = make_settings(
                tmp_path,
                migrated(db_url),
                web_port=0,
                api_key=api_key,
                max_parallel_jobs=3,
                **overrides,
            )
            services = await Services.create(settings)
            stack.push_async_callback(services.close)
            pool = None
            if workers:
                pool = services.worker_pool()
                await pool.start()
                stack.push_async_callback(pool.stop, 0.2)
            app = create_app(services, progress_interval=0.1, ping_s=1.0)
            host = overrides.get("web_host", "127.0.0.1")
            server = await WebServer(app, host, 0).start()
            stack.push_async_callback(server.stop)
            headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
            client = httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{server.port}", headers=headers, timeout=20
            )
            stack.push_async_callback(client.aclose)
            return Web(services, server, client, pool)

        yield factory


@dataclass
class SseReader:
    """Reads ``/api/events`` in a task; ``events`` are (id, kind, data) in arrival order."""

    client: httpx.AsyncClient
    params: dict[str, str] = field(default_factory=dict)
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    status_code: int | None = None
    _task: asyncio.Task[None] | None = None
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> SseReader:
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self._connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _read(self) -> None:
        async with self.client.stream("GET", "/api/events", params=self.params) as r:
            self.status_code = r.status_code
            fields: dict[str, str] = {}
            async for line in r.aiter_lines():
                if line.startswith(":"):
                    self.comments.append(line)
                    self._connected.set()
                elif line == "":
                    if "data" in fields:
                        item = (int(fields["id"]), fields["event"], json.loads(fields["data"]))
                        self.events.append(item)
                        self._changed.set()
                    fields = {}
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.lstrip(" ")

    def for_job(self, job_id: int) -> list[tuple[int, str, dict[str, Any]]]:
        return [e for e in self.events if e[2].get("job_id") == job_id]

    async def wait_for(
        self, predicate: Callable[[list[tuple[int, str, dict[str, Any]]]], bool], timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.events):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"SSE condition not met; got {self.events[-10:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)


async def test_harness_serves_the_page_and_openapi(make_web: WebFactory) -> None:
    web = await make_web(workers=False)
    page = await web.client.get("/")
    assert page.status_code == 200 and "<title>Mediaferry</title>" in page.text
    schema = (await web.client.get("/openapi.json")).json()
    assert "/api/jobs" in schema["paths"] and "/api/events" in schema["paths"]
