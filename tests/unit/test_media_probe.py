"""Parsing ffprobe's JSON (no subprocess): rotation, cover pictures, odd values."""

from __future__ import annotations

from pathlib import Path

from mediaferry.media.probe import parse_probe
from mediaferry.media.validate import duration_tolerance

PHONE_VIDEO = {
    "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "12.5", "size": "1000",
               "bit_rate": "640", "start_time": "0.000"},
    "streams": [
        {"index": 0, "codec_type": "video", "codec_name": "hevc", "width": 1920, "height": 1080,
         "avg_frame_rate": "30000/1001", "pix_fmt": "yuv420p10le",
         "side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]},
        {"index": 1, "codec_type": "audio", "codec_name": "aac", "channels": 2,
         "sample_rate": "48000"},
    ],
}  # fmt: skip

MP3_WITH_COVER = {
    "format": {"format_name": "mp3", "duration": "N/A"},
    "streams": [
        {"index": 0, "codec_type": "audio", "codec_name": "mp3", "duration": "181.2"},
        {"index": 1, "codec_type": "video", "codec_name": "mjpeg", "width": 500, "height": 500,
         "disposition": {"attached_pic": 1}},
    ],
}  # fmt: skip


def test_rotated_phone_video(tmp_path: Path) -> None:
    info = parse_probe(tmp_path / "v.mp4", PHONE_VIDEO)
    assert info.video is not None and info.video.rotation == 90
    assert info.video.fps == 29.97 and info.display_size == (1080, 1920)
    assert info.audio is not None and info.audio.sample_rate == 48000
    assert (info.duration, info.size, info.bit_rate) == (12.5, 1000, 640)


def test_cover_picture_is_not_video_and_stream_duration_is_used(tmp_path: Path) -> None:
    path = tmp_path / "a.mp3"
    path.write_bytes(b"x" * 10)
    info = parse_probe(path, MP3_WITH_COVER)
    assert not info.has_video and info.cover_index == 1 and info.has_audio
    assert info.duration == 181.2 and info.size == 10 and info.display_size == (None, None)


def test_duration_tolerance_grows_with_length() -> None:
    assert duration_tolerance(10) == 3.0
    assert duration_tolerance(3600) == 180.0


# what ffprobe says about 400 KB of random bytes named r.bin, and a picture
RANDOM_BIN = {
    "format": {"format_name": "bin", "probe_score": 50, "size": "409600"},
    "streams": [{"index": 0, "codec_type": "video", "codec_name": "bintext", "width": 1280,
                 "height": 20480, "pix_fmt": "pal8"}],
}  # fmt: skip
ANSI_NFO = {
    "format": {"format_name": "tty", "duration": "66.68", "size": "409600"},
    "streams": [{"index": 0, "codec_type": "video", "codec_name": "ansi", "width": 640,
                 "height": 400}],
}  # fmt: skip
PICTURE = {
    "format": {"format_name": "image2", "duration": "0.04", "size": "5000"},
    "streams": [{"index": 0, "codec_type": "video", "codec_name": "mjpeg", "width": 500,
                 "height": 500}],
}  # fmt: skip
HUGE_FRAME = {
    "format": {"format_name": "matroska,webm", "duration": "5", "size": "5000"},
    "streams": [{"index": 0, "codec_type": "video", "codec_name": "vp9", "width": 1280,
                 "height": 20480}],
}  # fmt: skip


def test_catch_all_demuxers_and_pictures_are_not_media(tmp_path: Path) -> None:
    for data in (RANDOM_BIN, ANSI_NFO, PICTURE, HUGE_FRAME):
        info = parse_probe(tmp_path / "r.bin", data)
        assert not info.has_video and not info.has_audio, data["format"]


def test_real_containers_still_count(tmp_path: Path) -> None:
    (tmp_path / "a.mp3").write_bytes(b"x")
    assert parse_probe(tmp_path / "v.mp4", PHONE_VIDEO).has_video
    assert parse_probe(tmp_path / "a.mp3", MP3_WITH_COVER).has_audio
