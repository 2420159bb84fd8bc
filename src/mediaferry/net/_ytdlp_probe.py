"""Inside the yt-dlp child: what yt-dlp, configured as Mediaferry configures it, can do.

Asked through yt-dlp's own objects: the version, the JavaScript runtime it found
(``YoutubeDL._js_runtimes``, the same object its ``--verbose`` header prints), the
YouTube JS challenge providers and whether each is available (the EJS solvers;
the same list as the ``JS Challenge Providers:`` trace line), the impersonation
targets its request handlers offer (curl_cffi), the request handlers registered and
whether they go through the guarding proxy (with the network set-up a job's child
gets: :func:`ytdlp_child.network_opts`), and, optionally, a self-test: a
small player script goes through yt-dlp's challenge director, the EJS solver
scripts and the configured runtime, and the answers are checked. The player is
built here (no network): its signature step reverses a string and its "n" step
shifts each character by one, shaped like a real player so the solver finds them.
"""

from __future__ import annotations

import time
from importlib import metadata
from typing import Any

__all__ = ["SELFTEST_PLAYER", "probe"]

_PLAYER_URL = "https://www.youtube.com/s/player/0a1b2c3d/player_ias.vflset/en_US/base.js"
SELFTEST_PLAYER = r"""
var _yt_player={};(function(g){var window=this;
var Qz=function(u){this.u=u;this.p={}};
Qz.prototype.apply=function(){var s=this.p.s;if(s)this.p.s=encodeURIComponent(
decodeURIComponent(s).split("").reverse().join(""));var n=this.p.n;if(n)this.p.n=
n.split("").map(function(c){return String.fromCharCode(c.charCodeAt(0)+1)}).join("")};
Qz.prototype.set=function(k,v){this.p[k]=v};
Qz.prototype.get=function(k){return this.p[k]};
Qz.prototype.clone=function(){return this};
function mk(a,b,c){var q=new Qz(a);q.set("alr","yes");if(c)q.set(b,c);return q}
g.mk=mk;})(_yt_player);
"""
_N_IN, _SIG_IN = "mediaferry", "Hello, world"
_N_OUT = "".join(chr(ord(c) + 1) for c in _N_IN)
_SIG_OUT = _SIG_IN[::-1]


def _runtime(ydl: Any) -> dict[str, Any] | None:
    for name, runtime in ydl._js_runtimes.items():
        info = runtime.info if runtime is not None else None
        if info is not None:
            return {
                "name": info.name,
                "path": info.path,
                "version": info.version,
                "supported": bool(info.supported),
                "configured": name,
            }
    return None


def _selftest(ie: Any) -> dict[str, Any]:
    from yt_dlp.extractor.youtube.jsc.provider import (
        JsChallengeRequest,
        JsChallengeType,
        NChallengeInput,
        SigChallengeInput,
    )

    ie._code_cache[ie._player_js_cache_key(_PLAYER_URL)] = SELFTEST_PLAYER
    requests = [
        JsChallengeRequest(JsChallengeType.N, NChallengeInput(_PLAYER_URL, [_N_IN]), "selftest"),
        JsChallengeRequest(
            JsChallengeType.SIG, SigChallengeInput(_PLAYER_URL, [_SIG_IN]), "selftest"
        ),
    ]
    started = time.monotonic()
    try:
        solved = ie._jsc_director.bulk_solve(requests)
    except Exception as exc:  # the director's own error: reported, not raised
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:300]}
    ms = round((time.monotonic() - started) * 1000)
    answers = {req.type.value: resp.output.results for req, resp in solved}
    ok = answers.get("n") == {_N_IN: _N_OUT} and answers.get("sig") == {_SIG_IN: _SIG_OUT}
    if ok:
        detail = f"solved in {ms} ms"
    elif not answers:
        detail = "not solved: no JS challenge provider is available"
    else:
        detail = f"wrong answers: {answers}"
    return {"ok": ok, "detail": detail, "ms": ms}


def probe(opts: dict[str, Any], *, selftest: bool) -> dict[str, Any]:
    """A JSON-able report of what this yt-dlp can do with ``opts``."""
    import yt_dlp
    from yt_dlp.extractor.youtube.pot._director import provider_display_list
    from yt_dlp.version import RELEASE_GIT_HEAD, __version__

    from mediaferry.net.ytdlp_child import route_through_guard

    try:
        import yt_dlp_ejs

        ejs_version: str | None = str(yt_dlp_ejs.version)
    except ImportError:
        ejs_version = None
    try:
        curl_cffi_version: str | None = metadata.version("curl_cffi")
    except metadata.PackageNotFoundError:
        curl_cffi_version = None
    with yt_dlp.YoutubeDL({**opts, "quiet": True, "no_warnings": True}) as ydl:
        route_through_guard(ydl, str(opts.get("proxy") or ""))
        ie = ydl.get_info_extractor("Youtube")
        ie.initialize()
        providers = ie._jsc_director.providers.values()
        available = ydl._get_available_impersonate_targets()
        targets = sorted({"-".join(filter(None, (t.client, t.version))) for t, _ in available})
        report: dict[str, Any] = {
            "version": __version__,
            "git_head": RELEASE_GIT_HEAD or None,
            "module": yt_dlp.__file__,
            "js_runtime": _runtime(ydl),
            "ejs_version": ejs_version,
            "challenge_providers": {p.PROVIDER_NAME: bool(p.is_available()) for p in providers},
            "challenge_providers_text": provider_display_list(providers),
            "curl_cffi": curl_cffi_version,
            "impersonate_targets": targets,
            "request_handlers": sorted(h.RH_NAME for h in ydl._request_director.handlers.values()),
            "guard_proxy": bool(opts.get("proxy")),
            "extractor_args": sorted(ydl.params.get("extractor_args") or {}),
        }
        if selftest:
            report["selftest"] = _selftest(ie)
    return report
