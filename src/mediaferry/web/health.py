"""``GET /health``: database, disk, workers, aria2c; 200 or 503, no key, no secrets.

Also reports yt-dlp's readiness (version and age, JS runtime, EJS solver,
impersonation) with ``warnings`` (e.g. yt-dlp older than 60 days); those inform
and never turn the status to 503.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from mediaferry import __version__
from mediaferry.app import Services
from mediaferry.jobs.ytdlp_health import ytdlp_summary

__all__ = ["check_health", "router"]

router = APIRouter(tags=["health"])


async def _database(services: Services) -> dict[str, Any]:
    try:
        async with asyncio.timeout(5):
            latency = await services.jobs.ping()
    except Exception as exc:  # any failure means "down"; the type is enough to report
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round(latency, 1)}


async def _disk(services: Services) -> dict[str, Any]:
    try:
        status = await asyncio.to_thread(services.disk.status)
    except OSError as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {
        "ok": not status.is_low,
        "free_bytes": status.free_bytes,
        "floor_bytes": status.floor_bytes,
    }


async def _workers(services: Services) -> dict[str, Any]:
    try:
        stats = await services.jobs.worker_stats()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": stats.alive > 0, **stats.as_dict()}


async def check_health(services: Services) -> dict[str, Any]:
    database, disk, workers, aria2c = await asyncio.gather(
        _database(services),
        _disk(services),
        _workers(services),
        services.transfers.aria2_health(),
    )
    checks = {"database": database, "disk": disk, "workers": workers, "aria2c": aria2c}
    ok = all(c["ok"] for c in checks.values())
    # yt-dlp's readiness informs (version, age, JS runtime, warnings); it does not
    # make the service unhealthy: an old yt-dlp still serves most sites
    ytdlp = await ytdlp_summary(services.settings)
    return {
        "status": "ok" if ok else "fail",
        "version": __version__,
        "checks": checks,
        "ytdlp": ytdlp,
        "warnings": list(ytdlp.get("warnings") or []),
    }


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """200 when the database answers, disk space is above the floor and a worker
    heartbeat is fresh; otherwise 503 with the failing check."""
    report = await check_health(request.app.state.services)
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
