"""Auth profiles (DESIGN.md §3, §6): cookie files per source, tried in turn.

A profile is a Netscape cookie file registered for one :class:`SourceType`. The file
is copied into ``DATA_DIR/cookies/<id>.txt`` (mode 0600) and only that path is stored;
cookie values are registered as log secrets whenever a file is read for use, so they
never reach a log line or an error message.

:class:`AuthProfiles` is the registry (add, list, enable/disable, remove, choose,
report). :class:`JobAuth` is one job attempt's view of it, used by the pipeline: it
picks the best untried profile before METADATA and, when METADATA or DOWNLOAD meets
an :class:`~mediaferry.errors.AuthError`, reports the failure and raises
:class:`~mediaferry.errors.AuthRetry` (retried at once) while another profile is left.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import re
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mediaferry.db.models import AuthProfile, utcnow
from mediaferry.errors import AuthError, AuthProfileError, AuthRetry
from mediaferry.logging import bind
from mediaferry.net.cookies import (
    header_for,
    parse_cookie_file,
    parse_cookie_text,
    read_cookie_text,
    register_secrets,
)
from mediaferry.plan import Cookie, SourceType

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.db.engine import Database
    from mediaferry.db.models import Job
    from mediaferry.jobs.control import JobControl
    from mediaferry.plan import JobRequest, MediaPlan

__all__ = [
    "AuthProfiles",
    "JobAuth",
    "ProfileStatus",
    "parse_source_type",
    "validate_profile_id",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

PROFILE_ID_RE = re.compile(r"[a-z0-9_-]{1,64}")


class ProfileStatus(StrEnum):
    ACTIVE = "ACTIVE"
    DEGRADED = "DEGRADED"
    DISABLED = "DISABLED"


# --------------------------------------------------------------------------- validation


def validate_profile_id(profile_id: str) -> str:
    if not PROFILE_ID_RE.fullmatch(profile_id):
        raise AuthProfileError(
            f"bad profile id {profile_id[:80]!r}: use 1-64 of a-z, 0-9, '_' and '-'"
        )
    return profile_id


def parse_source_type(value: str | SourceType) -> SourceType:
    """``youtube`` / ``YOUTUBE`` → SourceType.YOUTUBE; unknown names are refused."""
    name = str(value).strip().upper().replace("-", "_")
    if name in SourceType.__members__ and name != SourceType.UNSUPPORTED.value:
        return SourceType(name)
    known = ", ".join(s.value.lower() for s in SourceType if s != SourceType.UNSUPPORTED)
    raise AuthProfileError(f"unknown source {str(value)[:40]!r}; use one of {known}")


# --------------------------------------------------------------------------- registry


class AuthProfiles:
    """The auth profile registry: the database rows and their cookie file copies."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        # told (event, text) when a profile becomes DEGRADED: the operator's notifications
        self.notify: Callable[[str, str], None] | None = None

    @property
    def cookie_dir(self) -> Path:
        return self.settings.data_dir / "cookies"

    @property
    def max_bytes(self) -> int:
        return self.settings.auth_cookie_max_kb * 1024

    async def add(
        self,
        profile_id: str,
        source_type: str | SourceType,
        cookie_file: Path | str,
        *,
        priority: int = 0,
    ) -> AuthProfile:
        """Validate and register a profile; the cookie file is copied, never stored."""
        validate_profile_id(profile_id)
        source = parse_source_type(source_type)
        data = await asyncio.to_thread(read_cookie_text, Path(cookie_file), self.max_bytes)
        register_secrets(parse_cookie_text(data))
        if await self.get(profile_id) is not None:
            raise AuthProfileError(f"auth profile {profile_id!r} already exists")
        target = self.cookie_dir / f"{profile_id}.txt"
        tmp = await asyncio.to_thread(self._write_private, data)
        try:
            async with self.db.session() as session:
                profile = AuthProfile(
                    id=profile_id,
                    source_type=source.value,
                    cookie_file_path=str(target),
                    status=ProfileStatus.ACTIVE.value,
                    priority=priority,
                    failure_count=0,
                )
                session.add(profile)
                await session.flush()
                os.replace(tmp, target)
        except IntegrityError:
            raise AuthProfileError(f"auth profile {profile_id!r} already exists") from None
        finally:
            tmp.unlink(missing_ok=True)
        log.info(
            "auth profile %s added for %s", profile_id, source.value,
            extra={"auth_profile_id": profile_id},
        )  # fmt: skip
        return profile

    def _write_private(self, data: str) -> Path:
        self.cookie_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.cookie_dir, 0o700)
        fd, name = tempfile.mkstemp(dir=self.cookie_dir, prefix=".new-", suffix=".txt")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    async def get(self, profile_id: str) -> AuthProfile | None:
        async with self.db.session() as session:
            return await session.get(AuthProfile, profile_id)

    async def list(self, source_type: str | SourceType | None = None) -> builtins.list[AuthProfile]:
        """Every profile (of one source), by source, then in the order ``choose`` uses."""
        stmt = select(AuthProfile)
        if source_type is not None:
            stmt = stmt.where(AuthProfile.source_type == parse_source_type(source_type).value)
        async with self.db.session() as session:
            rows = builtins.list((await session.scalars(stmt)).all())
        return sorted(rows, key=lambda p: (p.source_type, *_rank(p)))

    async def _set_status(self, profile_id: str, status: ProfileStatus) -> AuthProfile:
        async with self.db.session() as session:
            profile = await session.get(AuthProfile, profile_id, with_for_update=True)
            if profile is None:
                raise AuthProfileError(f"no auth profile {profile_id[:80]!r}")
            profile.status = status.value
            if status == ProfileStatus.ACTIVE:
                profile.failure_count = 0  # a person vouched for it again
        log.info(
            "auth profile %s is now %s", profile_id, status.value,
            extra={"auth_profile_id": profile_id},
        )  # fmt: skip
        return profile

    async def disable(self, profile_id: str) -> AuthProfile:
        """Never use this profile until it is enabled again."""
        return await self._set_status(profile_id, ProfileStatus.DISABLED)

    async def enable(self, profile_id: str) -> AuthProfile:
        """Make the profile ACTIVE again (also a DEGRADED one), failures forgotten."""
        return await self._set_status(profile_id, ProfileStatus.ACTIVE)

    async def remove(self, profile_id: str) -> None:
        """Delete the profile and its copy of the cookie file."""
        async with self.db.session() as session:
            profile = await session.get(AuthProfile, profile_id)
            if profile is None:
                raise AuthProfileError(f"no auth profile {profile_id[:80]!r}")
            path = Path(profile.cookie_file_path)
            await session.delete(profile)
        if path.parent == self.cookie_dir:  # only ever delete our own copies
            path.unlink(missing_ok=True)
        log.info("auth profile %s removed", profile_id, extra={"auth_profile_id": profile_id})

    async def choose(
        self, source_type: str | SourceType, exclude: Iterable[str] = ()
    ) -> AuthProfile | None:
        """The best usable profile: ACTIVE by priority then fewest recent failures,
        then DEGRADED; never DISABLED, never one in ``exclude`` or without its file."""
        skip = set(exclude)
        usable = (ProfileStatus.ACTIVE.value, ProfileStatus.DEGRADED.value)
        async with self.db.session() as session:
            rows = (
                await session.scalars(
                    select(AuthProfile).where(
                        AuthProfile.source_type == SourceType(source_type).value,
                        AuthProfile.status.in_(usable),
                    )
                )
            ).all()
        for profile in sorted(rows, key=_rank):
            if profile.id in skip:
                continue
            if not Path(profile.cookie_file_path).is_file():
                log.warning(
                    "auth profile %s has no cookie file; skipped", profile.id,
                    extra={"auth_profile_id": profile.id},
                )  # fmt: skip
                continue
            return profile
        return None

    async def report(self, profile_id: str, ok: bool) -> AuthProfile | None:
        """Record a use: success clears failures (and restores a DEGRADED profile);
        ``auth_degrade_after`` failures in a row mark an ACTIVE profile DEGRADED."""
        limit = self.settings.auth_degrade_after
        async with self.db.session() as session:
            profile = await session.get(AuthProfile, profile_id, with_for_update=True)
            if profile is None:
                return None
            before = profile.status
            if ok:
                profile.failure_count = 0
                profile.last_success_at = utcnow()
                if before == ProfileStatus.DEGRADED.value:
                    profile.status = ProfileStatus.ACTIVE.value
            else:
                profile.failure_count = (profile.failure_count or 0) + 1
                profile.last_failure_at = utcnow()
                if before == ProfileStatus.ACTIVE.value and profile.failure_count >= limit:
                    profile.status = ProfileStatus.DEGRADED.value
        extra = {"auth_profile_id": profile_id}
        if profile.status != before:
            log.warning(
                "auth profile %s is now %s after %d failure(s) in a row",
                profile_id, profile.status, profile.failure_count, extra=extra,
            )  # fmt: skip
            if profile.status == ProfileStatus.DEGRADED.value and self.notify is not None:
                self.notify(
                    "auth_degraded",
                    f"Auth profile {profile_id} is DEGRADED after "
                    f"{profile.failure_count} failures in a row",
                )
        elif not ok:
            log.info("auth profile %s failed (%d in a row)", profile_id, profile.failure_count,
                     extra=extra)  # fmt: skip
        return profile


def _rank(p: AuthProfile) -> tuple[Any, ...]:
    order = {ProfileStatus.ACTIVE.value: 0, ProfileStatus.DEGRADED.value: 1}
    last_failure = p.last_failure_at.timestamp() if p.last_failure_at else 0.0
    return (order.get(p.status, 2), -(p.priority or 0), p.failure_count or 0, last_failure, p.id)


# --------------------------------------------------------------------------- one job


class JobAuth:
    """One job attempt's auth profile (a no-op when the source has none)."""

    def __init__(
        self,
        profiles: AuthProfiles | None = None,
        profile: AuthProfile | None = None,
        *,
        ctl: JobControl | None = None,
        meta: dict[str, Any] | None = None,
        source_type: SourceType | None = None,
        cookies: tuple[Cookie, ...] = (),
    ) -> None:
        self.profiles = profiles
        self.profile = profile
        self.ctl = ctl
        self.meta = meta if meta is not None else {}
        self.source_type = source_type
        self.cookies = cookies  # the profile's cookie file, read once for this attempt

    @property
    def profile_id(self) -> str | None:
        return self.profile.id if self.profile is not None else None

    @classmethod
    async def start(
        cls,
        profiles: AuthProfiles | None,
        job: Job,
        ctl: JobControl,
        meta: dict[str, Any],
        request: JobRequest,
    ) -> JobAuth:
        """Pick the best untried profile; put its cookie file and its cookies (read
        once for this attempt) into ``request``."""
        if profiles is None:
            return cls()
        source = SourceType(job.source_type)
        tried = [str(t) for t in meta.get("auth_tried", [])]
        profile = await profiles.choose(source, tried)
        if profile is None and tried:
            # every profile failed before (a manual retry of a final AUTH_ERROR): start over
            meta.pop("auth_tried", None)
            profile = await profiles.choose(source)
        if profile is None:
            return cls()
        path = Path(profile.cookie_file_path)
        cookies: tuple[Cookie, ...] = ()
        try:
            cookies = tuple(await asyncio.to_thread(parse_cookie_file, path, profiles.max_bytes))
        except AuthProfileError as exc:
            log.warning("auth profile %s unusable: %s", profile.id, exc.message)
        request.cookie_file = path
        request.cookies = cookies
        request.auth_profile_id = profile.id
        bind(auth_profile_id=profile.id)
        await ctl.save(auth_profile_id=profile.id, meta=meta)
        await ctl.event("AUTH_PROFILE_CHOSEN", {"auth_profile_id": profile.id})
        log.info("using auth profile %s", profile.id)
        return cls(profiles, profile, ctl=ctl, meta=meta, source_type=source, cookies=cookies)

    def guard(self, work: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
        """``work``, with an AuthError turned into a retry with the next profile."""
        if self.profile is None:
            return work

        async def guarded() -> T:
            try:
                return await work()
            except AuthRetry:
                raise
            except AuthError as exc:
                retry = await self._failed(exc)
                if retry is None:
                    raise
                raise retry from exc

        return guarded

    async def _failed(self, error: AuthError) -> AuthRetry | None:
        """Report the failure; an AuthRetry while another profile is left."""
        assert self.profiles is not None and self.profile is not None
        assert self.ctl is not None and self.source_type is not None
        pid = self.profile.id
        await self.profiles.report(pid, ok=False)
        tried = [str(t) for t in self.meta.get("auth_tried", [])]
        if pid not in tried:
            tried.append(pid)
        self.meta["auth_tried"] = tried
        await self.ctl.save(meta=self.meta)
        following = await self.profiles.choose(self.source_type, tried)
        await self.ctl.event(
            "AUTH_PROFILE_FAILED",
            {"auth_profile_id": pid, "next": following.id if following else None},
        )
        if following is None:
            log.warning("auth profile %s refused; no other profile left", pid)
            return None
        log.warning("auth profile %s refused; retrying with %s", pid, following.id)
        return AuthRetry(error.message, details=dict(error.details))

    def apply(self, plan: MediaPlan) -> None:
        """Give the plan the profile's cookies: the file for yt-dlp and aria2c, and a
        ``Cookie`` header for plain HTTP downloads (which do not read cookie files)."""
        if self.profile is None:
            return
        path = Path(self.profile.cookie_file_path)
        if plan.cookie_file is None:
            plan.cookie_file = path
        if plan.protocol == "http" and not any(k.lower() == "cookie" for k in plan.headers):
            value = header_for(self.cookies, plan.url)
            if value:
                plan.headers["Cookie"] = value

    async def succeeded(self) -> None:
        if self.profiles is not None and self.profile is not None:
            await self.profiles.report(self.profile.id, ok=True)
