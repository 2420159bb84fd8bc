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
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mediaferry.db.models import AuthProfile, utcnow
from mediaferry.errors import AuthError, AuthProfileError, AuthRetry
from mediaferry.logging import add_secret, bind
from mediaferry.sources.base import SourceType

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.db.engine import Database
    from mediaferry.db.models import Job
    from mediaferry.jobs.control import JobControl
    from mediaferry.sources.base import JobRequest, MediaPlan

__all__ = [
    "AuthProfiles",
    "Cookie",
    "JobAuth",
    "ProfileStatus",
    "browser_cookies",
    "cookie_header",
    "cookie_headers",
    "cookie_request_hook",
    "parse_cookie_file",
    "parse_source_type",
    "validate_profile_id",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

PROFILE_ID_RE = re.compile(r"[a-z0-9_-]{1,64}")
_HEADERS = ("# netscape http cookie file", "# http cookie file")
_HTTPONLY = "#HttpOnly_"


class ProfileStatus(StrEnum):
    ACTIVE = "ACTIVE"
    DEGRADED = "DEGRADED"
    DISABLED = "DISABLED"


# --------------------------------------------------------------------------- cookie files


@dataclass(frozen=True, slots=True)
class Cookie:
    """One line of a Netscape cookie file."""

    domain: str
    include_subdomains: bool
    path: str
    secure: bool
    expires: int  # 0: a session cookie
    name: str
    value: str

    def matches(self, host: str, path: str, https: bool, now: float) -> bool:
        domain = self.domain.lower().lstrip(".")
        subdomains = self.include_subdomains or self.domain.startswith(".")
        host_ok = host == domain or (subdomains and host.endswith("." + domain))
        path_ok = path.startswith(self.path or "/")
        return host_ok and path_ok and (https or not self.secure) and not self.expired(now)

    def expired(self, now: float) -> bool:
        return self.expires != 0 and self.expires < now


def parse_cookie_text(text: str) -> builtins.list[Cookie]:
    """The cookies of a Netscape cookie file. Raises AuthProfileError on garbage."""
    cookies: list[Cookie] = []
    header = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip("\r\n")
        if line.startswith(_HTTPONLY):
            line = line[len(_HTTPONLY) :]
        elif not line.strip() or line.lstrip().startswith("#"):
            header = header or line.strip().lower() in _HEADERS
            continue
        fields = line.split("\t")
        if len(fields) != 7:
            # never echo the line: it may hold a cookie value
            raise AuthProfileError(
                f"line {number} is not a Netscape cookie line (7 tab-separated fields)"
            )
        domain, flag, path, secure, expires, name, value = fields
        if (
            not domain
            or flag.upper() not in ("TRUE", "FALSE")
            or not re.fullmatch(r"-?\d+(?:\.\d+)?", expires.strip() or "0")
        ):
            raise AuthProfileError(f"line {number} is not a valid Netscape cookie line")
        cookies.append(
            Cookie(
                domain=domain,
                include_subdomains=flag.upper() == "TRUE",
                path=path or "/",
                secure=secure.upper() == "TRUE",
                expires=max(0, int(float(expires.strip() or "0"))),
                name=name,
                value=value,
            )
        )
    if not cookies:
        what = "has the header but no cookies" if header else "is not a Netscape cookie file"
        raise AuthProfileError(f"the cookie file {what}")
    return cookies


def _read_text(path: Path, max_bytes: int) -> str:
    try:
        if not path.is_file():
            raise AuthProfileError(f"cookie file not found: {path}")
        size = path.stat().st_size
        if size > max_bytes:
            raise AuthProfileError(
                f"the cookie file is {size} bytes, over the {max_bytes} byte limit"
            )
        data = path.read_bytes()
    except PermissionError:
        raise AuthProfileError(f"cookie file not readable: {path}") from None
    except OSError as exc:
        raise AuthProfileError(f"cookie file not readable: {path} ({exc.strerror})") from None
    if b"\x00" in data:
        raise AuthProfileError("the cookie file is binary, not a Netscape cookie file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthProfileError("the cookie file is not UTF-8 text") from None


def parse_cookie_file(path: Path, max_bytes: int = 1 << 20) -> builtins.list[Cookie]:
    """Read and parse a cookie file for use; its values become log secrets."""
    cookies = parse_cookie_text(_read_text(path, max_bytes))
    _register_secrets(cookies)
    return cookies


def _register_secrets(cookies: Iterable[Cookie]) -> None:
    for cookie in cookies:
        add_secret(cookie.value)


def cookie_header(cookie_file: Path | None, url: str) -> str | None:
    """A ``Cookie`` header value for ``url`` from a Netscape cookie file, if any apply.

    Plain HTTP downloads do not read cookie files themselves; this is what lets a
    cookie profile work for direct files too.
    """
    return _header_for(_usable_cookies(cookie_file), url)


def _usable_cookies(cookie_file: Path | None) -> builtins.list[Cookie]:
    if cookie_file is None:
        return []
    try:
        return parse_cookie_file(cookie_file)
    except AuthProfileError as exc:
        log.warning("cookie file unusable: %s", exc.message)
        return []


def _header_for(cookies: Iterable[Cookie], url: str) -> str | None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    now = time.time()
    pairs = [
        f"{c.name}={c.value}"
        for c in cookies
        if c.matches(host, parts.path or "/", parts.scheme == "https", now)
    ]
    return "; ".join(pairs) or None


def cookie_request_hook(cookie_file: Path | None) -> Callable[[Any], Awaitable[None]] | None:
    """An httpx ``request`` event hook that gives every request — each redirect hop
    too — exactly the cookies of the profile that match its URL (so a redirect to
    another site never carries them)."""
    cookies = _usable_cookies(cookie_file)
    if not cookies:
        return None

    async def hook(request: Any) -> None:
        value = _header_for(cookies, str(request.url))
        if value:
            request.headers["Cookie"] = value
        else:
            request.headers.pop("Cookie", None)

    return hook


def browser_cookies(cookie_file: Path | None) -> builtins.list[dict[str, Any]]:
    """The profile's cookies in Playwright's ``add_cookies`` shape."""
    out: builtins.list[dict[str, Any]] = []
    for c in _usable_cookies(cookie_file):
        domain = c.domain.lower().lstrip(".")
        sub = c.include_subdomains or c.domain.startswith(".")
        out.append(
            {
                "name": c.name,
                "value": c.value,
                "domain": f".{domain}" if sub else domain,
                "path": c.path or "/",
                "expires": float(c.expires) if c.expires else -1,
                "secure": c.secure,
            }
        )
    return out


def cookie_headers(cookie_file: Path | None, url: str) -> dict[str, str]:
    """``{"Cookie": ...}`` for ``url``, or an empty dict."""
    value = cookie_header(cookie_file, url)
    return {"Cookie": value} if value else {}


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
        data = await asyncio.to_thread(_read_text, Path(cookie_file), self.max_bytes)
        _register_secrets(parse_cookie_text(data))
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
    ) -> None:
        self.profiles = profiles
        self.profile = profile
        self.ctl = ctl
        self.meta = meta if meta is not None else {}
        self.source_type = source_type

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
        """Pick the best untried profile and put its cookie file into ``request``."""
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
        try:
            await asyncio.to_thread(parse_cookie_file, path, profiles.max_bytes)
        except AuthProfileError as exc:
            log.warning("auth profile %s unusable: %s", profile.id, exc.message)
        request.cookie_file = path
        request.auth_profile_id = profile.id
        bind(auth_profile_id=profile.id)
        await ctl.save(auth_profile_id=profile.id, meta=meta)
        await ctl.event("AUTH_PROFILE_CHOSEN", {"auth_profile_id": profile.id})
        log.info("using auth profile %s", profile.id)
        return cls(profiles, profile, ctl=ctl, meta=meta, source_type=source)

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
            value = cookie_header(path, plan.url)
            if value:
                plan.headers["Cookie"] = value

    async def succeeded(self) -> None:
        if self.profiles is not None and self.profile is not None:
            await self.profiles.report(self.profile.id, ok=True)
