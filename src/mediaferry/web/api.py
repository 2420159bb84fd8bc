"""The REST API: jobs (create, list, get, cancel, retry, file) and library search."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mediaferry.app import Services
from mediaferry.db.models import MediaItem
from mediaferry.errors import InvalidTransition, JobNotFound, LimitExceeded, UrlRejected
from mediaferry.jobs.service import job_to_dict, normalize_quality
from mediaferry.jobs.states import JobStatus
from mediaferry.web._http import ApiError
from mediaferry.web.auth import require_key, require_key_or_query

__all__ = ["JobCreate", "content_disposition", "router", "safe_path"]

MAX_ID = 2**63 - 1
JobId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="job id")]
ItemId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="library item id")]
Size = Annotated[int | None, Query(ge=0, le=2**62, description="bytes")]


class ErrorBody(BaseModel):
    """Every error: a short code, a readable detail (a list for invalid requests)."""

    error: str
    detail: Any
    error_type: str | None = None


def _err(text: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": text}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: _err("missing or wrong API key"),
    403: _err("no API key configured and the client is not local"),
    404: _err("no such job or file"),
    413: _err("request body over 1 MB"),
    422: _err("invalid request (body, path or query)"),
}
router = APIRouter(prefix="/api", tags=["api"], responses=ERRORS)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
Authorized = [Depends(require_key)]


class JobCreate(BaseModel):
    """A new job: a link, audio or video, and optionally quality and priority."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=8192, description="the media link")
    type: Literal["video", "audio"] = "video"
    quality: str | None = Field(
        None, max_length=32, description="best, 1080p, 720p, …, audio, audio_320, …"
    )
    priority: int = Field(0, ge=0, le=1000, description="higher runs first")
    archive: bool = False

    @field_validator("quality")
    @classmethod
    def _known_quality(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalize_quality(value)
        except UrlRejected as exc:
            raise ValueError(exc.message) from None


def _statuses(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    wanted = [part.strip().upper() for part in raw.split(",") if part.strip()]
    known = {s.value for s in JobStatus}
    bad = [s for s in wanted if s not in known]
    if bad:
        raise ApiError(
            422, f"unknown status {bad[0]!r}; use one or more of {', '.join(sorted(known))}"
        )
    return wanted or None


@router.post(
    "/jobs",
    dependencies=Authorized,
    status_code=201,
    responses={
        200: {"description": "an identical job already exists; it is returned"},
        400: _err("the URL is refused (error_type URL_REJECTED)"),
        429: _err("a limit was reached"),
    },
)
async def create_job(body: JobCreate, services: ServicesDep, response: Response) -> dict[str, Any]:
    """Create a job (201), or return the identical existing one (200)."""
    try:
        result = await services.jobs.create(
            body.url,
            job_type=body.type,
            quality=body.quality,
            priority=body.priority,
            archive=body.archive,
            origin="api",
        )
    except UrlRejected as exc:
        raise ApiError(400, exc.message, error="url_rejected", error_type="URL_REJECTED") from exc
    except LimitExceeded as exc:
        raise ApiError(429, exc.message, error_type="LIMIT_EXCEEDED") from exc
    response.status_code = 201 if result.created else 200
    response.headers["Location"] = f"/api/jobs/{result.job.id}"
    return job_to_dict(result.job)


@router.get("/jobs", dependencies=Authorized)
async def list_jobs(
    services: ServicesDep,
    status: Annotated[
        str | None, Query(max_length=200, description="comma-separated statuses")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")
    ] = None,
) -> dict[str, Any]:
    """Newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    jobs = await services.jobs.list(status=_statuses(status), limit=limit + 1, before_id=cursor)
    more = len(jobs) > limit
    jobs = jobs[:limit]
    return {
        "jobs": [job_to_dict(j) for j in jobs],
        "next_cursor": jobs[-1].id if more and jobs else None,
    }


@router.get("/jobs/{job_id}", dependencies=Authorized)
async def get_job(job_id: JobId, services: ServicesDep) -> dict[str, Any]:
    """The job, with its event timeline under ``events``."""
    try:
        job = await services.jobs.get(job_id)
    except JobNotFound as exc:
        raise ApiError(404, exc.message) from exc
    return job_to_dict(job, await services.jobs.events(job_id))


@router.post(
    "/jobs/{job_id}/cancel", dependencies=Authorized, responses={409: _err("already finished")}
)
async def cancel_job(job_id: JobId, services: ServicesDep) -> dict[str, Any]:
    """Cancel: at once if waiting, within seconds if running."""
    try:
        return job_to_dict(await services.jobs.cancel(job_id))
    except JobNotFound as exc:
        raise ApiError(404, exc.message) from exc
    except InvalidTransition as exc:
        raise ApiError(409, exc.message) from exc


@router.post(
    "/jobs/{job_id}/retry", dependencies=Authorized, responses={409: _err("not a failed job")}
)
async def retry_job(job_id: JobId, services: ServicesDep) -> dict[str, Any]:
    """Put a failed job back in the queue."""
    try:
        return job_to_dict(await services.jobs.retry(job_id))
    except JobNotFound as exc:
        raise ApiError(404, exc.message) from exc
    except InvalidTransition as exc:
        raise ApiError(409, exc.message) from exc


def safe_path(services: Services, raw: str | None) -> Path:
    """``raw`` resolved, if it is a file inside TMP_ROOT or ARCHIVE_ROOT; else 404."""
    missing = ApiError(404, "the file is not available")
    if not raw:
        raise missing
    roots = [services.settings.tmp_dir, services.settings.archive_dir]
    try:
        path = Path(raw).resolve(strict=True)
        resolved_roots = [root.resolve() for root in roots]
    except (OSError, RuntimeError, ValueError):
        raise missing from None
    if not any(path.is_relative_to(root) for root in resolved_roots) or not path.is_file():
        raise missing
    return path


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact UTF-8 one (RFC 6266)."""
    clean = "".join(ch for ch in name if ch.isprintable()).strip() or "download"
    fallback = (
        "".join(ch if 32 < ord(ch) < 127 and ch not in '"\\;%/' else "_" for ch in clean).strip(
            "._"
        )
        or "download"
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(clean, safe='')}"


def _file_response(path: Path) -> FileResponse:
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(
        path,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(path.name),
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/jobs/{job_id}/file",
    dependencies=[Depends(require_key_or_query)],
    response_class=FileResponse,
    responses={206: {"description": "a byte range"}, 416: {"description": "bad range"}},
)
async def job_file(job_id: JobId, services: ServicesDep) -> FileResponse:
    """The finished file (Range requests supported)."""
    try:
        job = await services.jobs.get(job_id)
    except JobNotFound as exc:
        raise ApiError(404, exc.message) from exc
    if job.status != JobStatus.COMPLETED:
        raise ApiError(409, f"job #{job_id} is {job.status.lower()}, not completed")
    return _file_response(safe_path(services, job.file_path))


def item_to_dict(item: MediaItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "job_id": item.job_id,
        "title": item.title,
        "performer": item.performer,
        "album": item.album,
        "duration": item.duration,
        "container": item.container,
        "file_format": item.file_format,
        "size": item.size,
        "source_type": item.source_type,
        "origin_url": item.origin_url,
        "media_id": item.media_id,
        "chat_id": item.chat_id,
        # a Telegram item (issue 10): the chat and message it was archived from
        "channel_id": item.channel_id,
        "message_id": item.message_id,
        "name": Path(item.path).name,
        "file_url": f"/api/library/{item.id}/file",
        "created_at": item.created_at.isoformat() if item.created_at else None,
    }


@router.get("/library", dependencies=Authorized)
async def library(
    services: ServicesDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="words to find")],
    fuzzy: bool = False,
    format: Annotated[str | None, Query(max_length=16, description="mp3, mp4, …")] = None,
    min_size: Size = None,
    max_size: Size = None,
    source: Annotated[str | None, Query(max_length=32)] = None,
    chat_id: Annotated[int | None, Query(ge=-MAX_ID, le=MAX_ID)] = None,
    chat: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="a Telegram chat's @name, title, -100<id> or id, or a bot chat's id",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Search archived media by title, performer and album."""
    named = chat if chat is not None else (str(chat_id) if chat_id is not None else None)
    by_chat = await services.library.chat_filter(named) if named is not None else {}
    try:
        items = await services.library.search(
            q,
            fuzzy=fuzzy,
            fmt=format,
            min_size=min_size,
            max_size=max_size,
            source=source,
            limit=limit,
            **by_chat,
        )
    except ValueError as exc:  # LibraryQueryError: an empty query, bad bounds
        raise ApiError(400, str(exc)) from exc
    return {"items": [item_to_dict(i) for i in items]}


@router.get(
    "/library/{item_id}/file",
    dependencies=[Depends(require_key_or_query)],
    response_class=FileResponse,
    responses={206: {"description": "a byte range"}, 416: {"description": "bad range"}},
)
async def library_file(item_id: ItemId, services: ServicesDep) -> FileResponse:
    """An archived file (Range requests supported)."""
    item = await services.library.item(item_id)
    if item is None:
        raise ApiError(404, f"no library item #{item_id}")
    return _file_response(safe_path(services, item.path))
