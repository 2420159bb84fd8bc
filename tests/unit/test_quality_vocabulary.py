"""One quality vocabulary (issue 12): every word the job service accepts, the format
parser accepts too, for video and audio jobs; ``worst`` picks the smallest format."""

from __future__ import annotations

from typing import Any

import pytest

from mediaferry.jobs.service import QUALITIES
from mediaferry.jobs.service import normalize_quality as service_quality
from mediaferry.sources.quality import Quality, choose_formats, normalize_quality
from tests.unit.test_sources_quality import GB, INFO


@pytest.mark.parametrize("word", sorted(QUALITIES))
@pytest.mark.parametrize("job_type", ["video", "audio"])
def test_every_word_the_service_stores_the_parser_accepts(word: str, job_type: str) -> None:
    stored = service_quality(word)
    normalize_quality(stored, job_type)  # raises FormatNotFound if the vocabularies differ


def test_worst_is_a_smallest_first_request() -> None:
    assert normalize_quality("worst", "video") == Quality("video", worst=True)
    assert normalize_quality("WORST", "audio") == Quality("audio", worst=True)
    assert Quality("video", worst=True).label == "worst"


def test_worst_video_is_the_smallest_picture_telegram_plays() -> None:
    choice = choose_formats(INFO, normalize_quality("worst", "video"), 4 * GB)
    assert choice.height == 360 and choice.compatible
    assert choice.format_spec.startswith("18/")


def test_worst_audio_is_the_lowest_bitrate_telegram_plays() -> None:
    choice = choose_formats(INFO, normalize_quality("worst", "audio"), 4 * GB)
    assert choice.format_spec.startswith("139/")


def test_worst_on_a_single_format_result_asks_yt_dlp_for_w() -> None:
    single: dict[str, Any] = {"id": "x", "url": "http://127.0.0.1/x.mp4", "ext": "mp4"}
    choice = choose_formats(single, normalize_quality("worst", "video"), 4 * GB)
    assert choice.format_spec.endswith("/w")
