"""Is yt-dlp ready for the real sites? One report for ``doctor``, ``/health`` and the
admin ``/health``.

The report comes from a probe child (:mod:`_ytdlp_probe`) run in the environment
and with the options every job's child gets, so it tells what the *next* job will
use, also right after ``mediaferry update``. Reports are cached for a few minutes
per environment (``/health`` may be polled often); an update, by any process, makes
the next report fresh.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from mediaferry.errors import MediaferryError
from mediaferry.net.ytdlp_env import base_opts, env_generation, ytdlp_python
from mediaferry.net.ytdlp_process import run_ytdlp_child

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = [
    "MAX_AGE_DAYS",
    "YtdlpReport",
    "admin_lines",
    "clear_cache",
    "release_date",
    "ytdlp_report",
    "ytdlp_summary",
]

MAX_AGE_DAYS = 60
_CACHE_S = 300.0
_PROBE_TIMEOUT_S = 60.0
_cache: dict[tuple[str, bool, bool, float], tuple[float, YtdlpReport]] = {}
_pending: set[asyncio.Task[YtdlpReport]] = set()
_VERSION_DATE = re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})")


def release_date(version: str) -> date | None:
    """yt-dlp versions are release dates: ``2026.10.26`` (``.N`` or a nightly suffix)."""
    m = _VERSION_DATE.match(version)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


@dataclass(slots=True)
class YtdlpReport:
    """What yt-dlp, as Mediaferry runs it, can do; ``warnings`` say what to fix."""

    installed: bool
    version: str | None = None
    age_days: int | None = None
    js_runtime: str | None = None  # "deno 2.9.8"
    js_runtime_path: str | None = None
    ejs_version: str | None = None
    challenge_providers: str = ""  # yt-dlp's own list: "deno, node (unavailable), …"
    ejs_available: bool = False
    impersonation: str | None = None  # "curl_cffi 0.17.0 (23 targets, through the URL guard)"
    selftest: str | None = None
    selftest_ok: bool | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """yt-dlp runs and can solve YouTube's JavaScript challenges."""
        return self.installed and self.ejs_available and self.selftest_ok is not False

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ready,
            "version": self.version,
            "age_days": self.age_days,
            "js_runtime": self.js_runtime,
            "ejs": self.ejs_version,
            "challenge_providers": self.challenge_providers,
            "impersonation": self.impersonation,
            **({"selftest": self.selftest} if self.selftest is not None else {}),
            **({"error": self.error} if self.error else {}),
            "warnings": self.warnings,
        }


def _from_probe(info: dict[str, Any], today: date) -> YtdlpReport:
    version = str(info.get("version") or "?")
    released = release_date(version)
    age = (today - released).days if released else None
    runtime = info.get("js_runtime") or None
    providers: dict[str, bool] = info.get("challenge_providers") or {}
    targets: list[str] = info.get("impersonate_targets") or []
    guarded = ", through the URL guard" if info.get("guard_proxy") else ""
    report = YtdlpReport(
        installed=True,
        version=version,
        age_days=age,
        js_runtime=f"{runtime['name']} {runtime['version']}" if runtime else None,
        js_runtime_path=runtime["path"] if runtime else None,
        ejs_version=info.get("ejs_version"),
        challenge_providers=str(info.get("challenge_providers_text") or ""),
        ejs_available=any(providers.values()),
        impersonation=(
            f"curl_cffi {info['curl_cffi']} ({len(targets)} targets{guarded})"
            if info.get("curl_cffi") and targets
            else None
        ),
    )
    test = info.get("selftest")
    if test is not None:
        report.selftest_ok = bool(test.get("ok"))
        report.selftest = str(test.get("detail") or "")
    w = report.warnings
    if age is not None and age > MAX_AGE_DAYS:
        w.append(
            f"yt-dlp {version} is {age} days old (over {MAX_AGE_DAYS}): run `mediaferry update`"
        )
    if runtime is None:
        w.append(
            "no JavaScript runtime found: YouTube will offer few or no formats "
            "(install the deno package, or set MEDIAFERRY_YTDLP_JS_RUNTIME)"
        )
    elif not runtime.get("supported"):
        w.append(f"{report.js_runtime} is too old for yt-dlp's challenge solver")
    if report.ejs_version is None:
        w.append("yt-dlp-ejs (the challenge solver scripts) is not installed")
    elif runtime is not None and not report.ejs_available:
        w.append("no JS challenge provider is available: " + report.challenge_providers)
    if report.selftest_ok is False:
        w.append(f"the JS challenge self-test failed: {report.selftest}")
    if report.impersonation is None:
        w.append("browser impersonation is unavailable (curl_cffi missing or unsupported)")
    return report


async def ytdlp_report(
    settings: Settings, *, selftest: bool = False, fresh: bool = False
) -> YtdlpReport:
    """The report for the environment and options jobs use (cached ~5 minutes)."""
    python = ytdlp_python(settings)
    # an update makes a new key
    key = (python, selftest, settings.allow_private_networks, env_generation(python))
    hit = _cache.get(key)
    if hit is not None and not fresh and time.monotonic() - hit[0] < _CACHE_S:
        return hit[1]
    request = {
        "mode": "probe",
        "opts": base_opts(settings),
        "selftest": selftest,
        "allow_private": settings.allow_private_networks,  # the network set-up jobs get
    }
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT_S):
            final = await run_ytdlp_child(request, python=python)
        report = _from_probe(final.get("info") or {}, datetime.now(UTC).date())
    except (MediaferryError, TimeoutError) as exc:
        message = exc.message if isinstance(exc, MediaferryError) else "the probe timed out"
        report = YtdlpReport(installed=False, error=message)
        report.warnings.append(f"yt-dlp does not run: {message}")
    _cache[key] = (time.monotonic(), report)
    return report


async def ytdlp_summary(settings: Settings, *, wait_s: float = 2.0) -> dict[str, Any]:
    """The report as JSON for ``/health``, waiting at most ``wait_s``: a probe still
    running then goes on in the background and answers the next call."""
    task = asyncio.ensure_future(ytdlp_report(settings))
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    try:
        report = await asyncio.wait_for(asyncio.shield(task), wait_s)
    except TimeoutError:
        return {"ok": None, "pending": True, "warnings": []}
    return report.as_dict()


def admin_lines(report: YtdlpReport) -> list[str]:
    """Plain lines for the admin's ``/health`` message."""
    if not report.installed:
        return [f"yt-dlp: does not run ({report.error})"]
    age = f" ({report.age_days} days old)" if report.age_days is not None else ""
    lines = [
        f"yt-dlp: {report.version}{age}",
        f"JS runtime: {report.js_runtime or 'none'}",
        f"EJS solver: {report.ejs_version or 'missing'}"
        + ("" if report.ejs_available else " (no provider available)"),
        f"Impersonation: {report.impersonation or 'unavailable'}",
    ]
    return lines + [f"⚠ {w}" for w in report.warnings]


def clear_cache() -> None:
    """Forget cached reports (after an update)."""
    _cache.clear()
