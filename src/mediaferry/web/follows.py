"""REST for follows: ``GET/POST /api/follows``, ``GET/PATCH/DELETE /api/follows/{id}``,
``POST /api/follows/{id}/check``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from mediaferry.errors import JobError, JobNotFound, LimitExceeded, UrlRejected
from mediaferry.follows.service import follow_to_dict
from mediaferry.web._http import ApiError
from mediaferry.web.api import ERRORS, MAX_ID, Authorized, ServicesDep, _err

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["follows"], responses=ERRORS)
FollowId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="follow id")]
Regex = Annotated[str | None, Field(None, max_length=300)]


class FollowCreate(BaseModel):
    """What to watch, what to fetch, how often, and what to do on the first check."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=4096, description="playlist, channel or feed URL")
    type: Literal["video", "audio"] = "video"
    quality: str = Field("best", max_length=32)
    every: str | None = Field(None, max_length=16, description="30m, 6h, 1d …")
    start: Literal["now", "backfill", "since"] = "now"
    backfill: int = Field(0, ge=0, le=10_000)
    since: str | None = Field(None, max_length=10, description="YYYY-MM-DD")
    include: Regex = None
    exclude: Regex = None
    min_duration_s: float | None = Field(None, ge=0)
    max_duration_s: float | None = Field(None, ge=0)
    archive: bool = True
    keep_last: int | None = Field(None, ge=0, le=10_000)
    keep_days: int | None = Field(None, ge=1, le=36_500)


class FollowChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paused: bool | None = None
    every: str | None = Field(None, max_length=16)
    include: Regex = None
    exclude: Regex = None
    min_duration_s: float | None = Field(None, ge=0)
    max_duration_s: float | None = Field(None, ge=0)
    archive: bool | None = None
    keep_last: int | None = Field(None, ge=0, le=10_000)
    keep_days: int | None = Field(None, ge=1, le=36_500)


def _refused(exc: Exception) -> ApiError:
    if isinstance(exc, JobNotFound):
        return ApiError(404, str(exc))
    if isinstance(exc, LimitExceeded):
        return ApiError(429, str(exc), error_type="LIMIT_EXCEEDED")
    if isinstance(exc, JobError):  # the link could not be read as a playlist/feed
        return ApiError(400, str(exc), error="follow_refused", error_type=exc.error_type.value)
    return ApiError(400, str(exc), error="follow_refused", error_type="URL_REJECTED")


@router.get("/follows", dependencies=Authorized)
async def list_follows(services: ServicesDep) -> dict[str, Any]:
    """Every follow with its last check, new items and last error."""
    return {"follows": [follow_to_dict(f) for f in await services.follows.list_follows()]}


@router.post(
    "/follows",
    dependencies=Authorized,
    status_code=201,
    responses={400: _err("not a playlist, channel or feed; or invalid options")},
)
async def create_follow(body: FollowCreate, services: ServicesDep) -> dict[str, Any]:
    """Follow a URL; its first check is due at once."""
    try:
        follow = await services.follows.add(
            body.url,
            job_type=body.type,
            quality=body.quality,
            every=body.every,
            start=body.start,
            backfill=body.backfill,
            since=body.since,
            include=body.include,
            exclude=body.exclude,
            min_duration_s=body.min_duration_s,
            max_duration_s=body.max_duration_s,
            archive=body.archive,
            keep_last=body.keep_last,
            keep_days=body.keep_days,
        )
    except (UrlRejected, LimitExceeded, JobError) as exc:
        raise _refused(exc) from exc
    return follow_to_dict(follow)


@router.get("/follows/{follow_id}", dependencies=Authorized)
async def get_follow(follow_id: FollowId, services: ServicesDep) -> dict[str, Any]:
    try:
        return follow_to_dict(await services.follows.get(follow_id))
    except JobNotFound as exc:
        raise _refused(exc) from exc


@router.patch("/follows/{follow_id}", dependencies=Authorized)
async def change_follow(
    follow_id: FollowId, body: FollowChange, services: ServicesDep
) -> dict[str, Any]:
    """Pause/resume (``paused``) or change the interval, filters or retention."""
    changes = body.model_dump(exclude_unset=True)
    try:
        return follow_to_dict(await services.follows.update(follow_id, **changes))
    except (UrlRejected, JobNotFound) as exc:
        raise _refused(exc) from exc


@router.delete("/follows/{follow_id}", dependencies=Authorized, status_code=204)
async def delete_follow(follow_id: FollowId, services: ServicesDep) -> Response:
    try:
        await services.follows.remove(follow_id)
    except JobNotFound as exc:
        raise _refused(exc) from exc
    return Response(status_code=204)


@router.post("/follows/{follow_id}/check", dependencies=Authorized)
async def check_follow(follow_id: FollowId, services: ServicesDep) -> dict[str, Any]:
    """Check now; the answer says what the check queued (or why it failed)."""
    try:
        result = await services.follows.check(follow_id)
    except JobNotFound as exc:
        raise _refused(exc) from exc
    return {
        "id": follow_id,
        "new": result.new,
        "duplicates": result.duplicates,
        "skipped": result.skipped,
        "remaining": result.remaining,
        "not_modified": result.not_modified,
        "error": result.error,
        "jobs": result.job_ids,
    }
