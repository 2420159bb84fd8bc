from __future__ import annotations

from mediaferry.bot.intake import Estimate, ask_markup
from mediaferry.plan import SourceType


def labels(est: Estimate) -> list[str]:
    return [b.text for row in ask_markup("t0k3n", est).inline_keyboard for b in row]


def test_keyboard_offers_the_real_qualities_with_sizes() -> None:
    est = Estimate(
        SourceType.YOUTUBE,
        size=89_000_000,
        duration=600,
        qualities={"1080p": 89_000_000, "720p": 49_000_000, "360p": None},
    )
    texts = labels(est)
    assert texts[0].startswith("🎬 Video (~")
    assert [t.split()[0] for t in texts[1:4]] == ["1080p", "720p", "360p"]
    assert "MB" in texts[1] and "MB" in texts[2] and texts[3] == "360p"
    assert texts[-1].startswith("🎵 Audio (~")
    datas = [b.callback_data for row in ask_markup("t0k3n", est).inline_keyboard for b in row]
    assert "ask:t0k3n:video:720p" in datas and "ask:t0k3n:audio:audio" in datas


def test_keyboard_without_estimates_still_offers_choices() -> None:
    texts = labels(Estimate(SourceType.YTDLP))
    assert texts[0] == "🎬 Video" and texts[-1] == "🎵 Audio"
    assert "720p" in texts
    direct = labels(Estimate(SourceType.DIRECT, size=5_000_000))
    assert "720p" not in direct  # a file has one quality
