"""Quality normalisation and format choice on canned yt-dlp info dicts."""

from __future__ import annotations

from typing import Any

import pytest

from mediaferry.config import Settings
from mediaferry.errors import FormatNotFound, ProtectedContent, SizeLimitExceeded
from mediaferry.plan import JobRequest
from mediaferry.sources._ytdlp import plan_from_info
from mediaferry.sources.quality import Quality, choose_formats, normalize_quality

MB = 1_000_000
GB = 1000 * MB


def fmt(fid: str, **kw: Any) -> dict[str, Any]:
    return {"format_id": fid, **kw}


# A YouTube-like mix: progressive 360p, DASH video in H.264 and VP9, AAC and Opus audio.
INFO: dict[str, Any] = {
    "id": "abc",
    "title": "A talk",
    "duration": 600,
    "uploader": "Someone",
    "thumbnail": "https://i.example/abc.jpg",
    "extractor_key": "Youtube",
    "formats": [
        fmt("18", ext="mp4", vcodec="avc1.42001E", acodec="mp4a.40.2", height=360, tbr=500),
        fmt("140", ext="m4a", vcodec="none", acodec="mp4a.40.2", abr=129, filesize=9 * MB),
        fmt("139", ext="m4a", vcodec="none", acodec="mp4a.40.5", abr=48, filesize=3 * MB),
        fmt("251", ext="webm", vcodec="none", acodec="opus", abr=160, filesize=11 * MB),
        fmt(
            "136",
            ext="mp4",
            vcodec="avc1.4d401f",
            acodec="none",
            height=720,
            width=1280,
            filesize=40 * MB,
        ),
        fmt(
            "247", ext="webm", vcodec="vp9", acodec="none", height=720, width=1280, filesize=30 * MB
        ),
        fmt(
            "137",
            ext="mp4",
            vcodec="avc1.640028",
            acodec="none",
            height=1080,
            width=1920,
            filesize=80 * MB,
        ),
        fmt(
            "313",
            ext="webm",
            vcodec="vp9",
            acodec="none",
            height=2160,
            width=3840,
            filesize=900 * MB,
        ),
    ],
}


@pytest.mark.parametrize(
    ("raw", "job_type", "expected"),
    [
        ("best", "video", Quality("video")),
        (None, "video", Quality("video")),
        ("720p", "video", Quality("video", height=720)),
        ("720", "video", Quality("video", height=720)),
        ("4K", "video", Quality("video", height=2160)),
        ("HD", "video", Quality("video", height=720)),
        ("144p", "video", Quality("video", height=144)),
        ("audio", "video", Quality("audio")),
        ("audio_128", "video", Quality("audio", abr=128)),
        ("audio-320k", "video", Quality("audio", abr=320)),
        ("best", "audio", Quality("audio")),
    ],
)
def test_normalize_quality(raw: str | None, job_type: str, expected: Quality) -> None:
    assert normalize_quality(raw, job_type) == expected


@pytest.mark.parametrize("raw", ["999p", "ultra", "720p60fps"])
def test_unknown_quality_is_format_not_found(raw: str) -> None:
    with pytest.raises(FormatNotFound):
        normalize_quality(raw, "video")


def test_best_takes_the_highest_resolution() -> None:
    choice = choose_formats(INFO, Quality("video"), 4 * GB)
    assert choice.format_spec.startswith("313+251/")  # VP9 pairs with Opus
    assert choice.height == 2160
    assert choice.size == 911 * MB
    assert not choice.compatible


def test_same_height_prefers_h264_aac_that_telegram_plays() -> None:
    choice = choose_formats(INFO, Quality("video", height=720), 4 * GB)
    assert choice.format_spec.startswith("136+140/")
    assert choice.compatible and choice.ext == "mp4"
    assert choice.size == 49 * MB and not choice.size_is_estimate


def test_height_is_a_ceiling() -> None:
    choice = choose_formats(INFO, Quality("video", height=480), 4 * GB)
    assert choice.format_spec.startswith("18/")  # progressive 360p, already has audio
    assert choice.size == int(500 * 1000 / 8 * 600)  # estimated from tbr × duration
    assert choice.size_is_estimate


def test_size_limit_picks_a_smaller_format_that_fits() -> None:
    choice = choose_formats(INFO, Quality("video"), 100 * MB)
    assert choice.format_spec.startswith("137+140/")


def test_nothing_fits_is_size_limit() -> None:
    with pytest.raises(SizeLimitExceeded):
        choose_formats(INFO, Quality("video"), 10 * MB)


def test_no_format_at_that_quality() -> None:
    with pytest.raises(FormatNotFound):
        choose_formats(INFO, Quality("video", height=144), 4 * GB)


def test_audio_prefers_aac_and_respects_bitrate() -> None:
    assert choose_formats(INFO, Quality("audio"), 4 * GB).format_spec.startswith("251/")
    assert choose_formats(INFO, Quality("audio", abr=128), 4 * GB).format_spec.startswith("140/")
    assert choose_formats(INFO, Quality("audio", abr=64), 4 * GB).format_spec.startswith("139/")


def test_audio_from_a_muxed_only_source() -> None:
    info = {
        "duration": 10,
        "formats": [
            fmt("hd", ext="mp4", vcodec="avc1", acodec="mp4a", height=720, tbr=2000),
            fmt("sd", ext="mp4", vcodec="avc1", acodec="mp4a", height=360, tbr=500),
        ],
    }
    assert choose_formats(info, Quality("audio"), GB).format_spec.startswith("sd/")


def test_drm_only_media_is_protected() -> None:
    info = {"formats": [fmt("a", vcodec="avc1", acodec="mp4a", height=720, has_drm=True)]}
    with pytest.raises(ProtectedContent):
        choose_formats(info, Quality("video"), GB)


def test_single_format_result_uses_a_selector() -> None:
    info = {"id": "x", "url": "https://e.example/x.mp4", "ext": "mp4", "filesize": 5 * MB}
    choice = choose_formats(info, Quality("video", height=720), GB)
    assert "height<=720" in choice.format_spec
    assert choice.size == 5 * MB


def test_plan_from_info_single_video() -> None:
    request = JobRequest(job_id=1, url="https://youtu.be/abc", job_type="video", quality="720p")
    plan = plan_from_info(INFO, request, Settings())
    assert plan.protocol == "ytdlp"
    assert (plan.title, plan.duration, plan.uploader, plan.media_id) == (
        "A talk",
        600.0,
        "Someone",
        "abc",
    )
    assert plan.thumbnail_url == "https://i.example/abc.jpg"
    assert plan.format_spec and plan.format_spec.startswith("136+140")
    assert plan.extra["telegram_compatible"] is True


def test_plan_from_info_playlist_is_capped() -> None:
    entries = [
        {"id": f"v{i}", "url": f"https://youtu.be/v{i}", "title": f"#{i}"} for i in range(10_000)
    ]
    info = {
        "_type": "playlist",
        "id": "PL1",
        "title": "Huge",
        "entries": entries,
        "playlist_count": 10_000,
    }
    request = JobRequest(job_id=1, url="https://y/pl", job_type="audio", quality="audio")
    plan = plan_from_info(info, request, Settings(max_playlist_items=50))
    assert plan.entries is not None and len(plan.entries) == 50
    assert plan.entries[0].media_id == "v0" and plan.entries[0].url == "https://youtu.be/v0"
    assert plan.extra["playlist_count"] == 10_000


def test_a_request_budget_picks_a_format_that_fits_before_downloading() -> None:
    settings = Settings()
    roomy = plan_from_info(INFO, JobRequest(1, "https://youtu.be/abc", "video", "best"), settings)
    tight = plan_from_info(
        INFO,
        JobRequest(1, "https://youtu.be/abc", "video", "best", max_bytes=100 * MB),
        settings,
    )
    assert roomy.format_spec != tight.format_spec
    assert tight.format_spec is not None and tight.format_spec.startswith("137+140/")
    with pytest.raises(SizeLimitExceeded):
        plan_from_info(
            INFO, JobRequest(1, "https://youtu.be/abc", "video", "best", max_bytes=MB), settings
        )


def test_available_qualities_are_the_real_ones_with_sizes() -> None:
    from mediaferry.sources.quality import available_qualities

    found = available_qualities(INFO, 4 * GB)
    heights = [int(q.rstrip("p")) for q in found]
    assert heights == sorted(heights, reverse=True) and heights
    assert max(heights) <= max(f.get("height") or 0 for f in INFO["formats"])
    assert all(size is None or size > 0 for size in found.values())
    plan = plan_from_info(INFO, JobRequest(1, "https://youtu.be/abc", "video", "best"), Settings())
    assert plan.extra["qualities"] == found
