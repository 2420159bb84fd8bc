"""Metadata kept (issue 12, step 4): a file's own tags beat guesses from its name,
site metadata beats the file's tags, the chosen values are written into the result,
and audio Telegram already plays is stream-copied, not re-encoded.

Every input is made here with the real ffmpeg (and hostile tags with mutagen)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from mutagen.flac import FLAC
from mutagen.id3 import APIC, ID3, TIT2, TPE1
from mutagen.mp4 import MP4

from mediaferry.config import Settings
from mediaferry.media.postprocess import postprocess
from mediaferry.media.tags import MAX_TAG_CHARS, clean_tag, read_file_tags
from mediaferry.plan import MediaPlan

FF = ["ffmpeg", "-hide_banner", "-v", "error", "-nostdin", "-y"]
SINE = ["-f", "lavfi", "-i", "sine=frequency=500:duration=3"]
CODEC = {
    ".mp3": ["-c:a", "libmp3lame", "-b:a", "64k", "-id3v2_version", "3"],
    ".m4a": ["-c:a", "aac", "-b:a", "64k"],
    ".flac": ["-c:a", "flac"],
}
TAGS = {
    "title": "Surat Al-Kahf",
    "artist": "Mishary Alafasy",
    "album": "Quran",
    "date": "2019",
    "track": "18/114",
}


def make_audio(path: Path, *, tagged: bool) -> Path:
    meta: list[str] = ["-map_metadata", "-1"]
    if tagged:
        for key, value in TAGS.items():
            meta += ["-metadata", f"{key}={value}"]
    subprocess.run([*FF, *SINE, *CODEC[path.suffix], *meta, str(path)], check=True)
    return path


def packet_hashes(path: Path) -> list[str]:
    """MD5 of every audio packet, without re-encoding."""
    out = subprocess.run(
        [*FF, "-i", str(path), "-map", "0:a", "-c", "copy", "-f", "framemd5", "-"],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines() if not line.startswith("#")]


def codec_of(path: Path) -> str:
    return subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=codec_name", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path, **overrides)  # type: ignore[arg-type]


def direct_plan(src: Path) -> MediaPlan:
    """What a direct link's source says: the file name is all it knows."""
    return MediaPlan(url=f"http://127.0.0.1:9/files/{src.name}", title=src.stem)


@pytest.mark.parametrize("ext", [".mp3", ".m4a", ".flac"])
async def test_the_files_own_tags_win_over_its_name(ext: str, tmp_path: Path) -> None:
    src = make_audio(tmp_path / f"track_18{ext}", tagged=True)
    done = await postprocess(
        src, job_type="audio", plan=direct_plan(src), work_dir=tmp_path / "w",
        settings=settings_for(tmp_path),
    )  # fmt: skip
    assert (done.kind, done.title, done.performer, done.album) == (
        "audio", "Surat Al-Kahf", "Mishary Alafasy", "Quran",
    )  # fmt: skip
    [part] = done.parts
    # FLAC is not something Telegram plays: converted to AUDIO_FORMAT (m4a); MP3/M4A kept
    assert part.path.suffix == {".flac": ".m4a"}.get(ext, ext)
    written = read_file_tags(part.path)
    assert (written.title, written.artist, written.album) == (
        "Surat Al-Kahf", "Mishary Alafasy", "Quran",
    )  # fmt: skip
    assert written.date is not None and written.date.startswith("2019")
    assert written.track == "18"


@pytest.mark.parametrize("ext", [".mp3", ".m4a", ".flac"])
async def test_untagged_files_are_named_after_the_file(ext: str, tmp_path: Path) -> None:
    src = make_audio(tmp_path / f"Evening Talk{ext}", tagged=False)
    done = await postprocess(
        src, job_type="audio", plan=direct_plan(src), work_dir=tmp_path / "w",
        settings=settings_for(tmp_path),
    )  # fmt: skip
    assert (done.title, done.performer, done.album) == ("Evening Talk", None, None)
    assert read_file_tags(done.parts[0].path).title == "Evening Talk"


async def test_site_metadata_wins_over_the_files_tags(tmp_path: Path) -> None:
    src = make_audio(tmp_path / "x.m4a", tagged=True)
    plan = MediaPlan(url="https://example.org/watch?v=1", title="Site Title", uploader="Channel")
    done = await postprocess(
        src, job_type="audio", plan=plan, work_dir=tmp_path / "w", settings=settings_for(tmp_path)
    )
    # title and performer from the site; the album only the file knows
    assert (done.title, done.performer, done.album) == ("Site Title", "Channel", "Quran")
    tags = MP4(done.parts[0].path).tags
    assert tags is not None and tags["\xa9nam"] == ["Site Title"] and tags["\xa9alb"] == ["Quran"]


async def test_mp3_is_stream_copied_whatever_audio_format_says(tmp_path: Path) -> None:
    src = make_audio(tmp_path / "song.mp3", tagged=True)
    done = await postprocess(
        src, job_type="video", plan=direct_plan(src), work_dir=tmp_path / "w",
        settings=settings_for(tmp_path, audio_format="m4a"),
    )  # fmt: skip
    [part] = done.parts
    assert done.kind == "audio" and part.path.suffix == ".mp3" and codec_of(part.path) == "mp3"
    assert packet_hashes(part.path) == packet_hashes(src)  # not one frame re-encoded
    assert str(ID3(part.path)["TIT2"]) == "Surat Al-Kahf"


async def test_m4a_is_stream_copied_with_audio_format_mp3(tmp_path: Path) -> None:
    src = make_audio(tmp_path / "talk.m4a", tagged=False)
    done = await postprocess(
        src, job_type="audio", plan=direct_plan(src), work_dir=tmp_path / "w",
        settings=settings_for(tmp_path, audio_format="mp3"),
    )  # fmt: skip
    [part] = done.parts
    assert part.path.suffix == ".m4a" and packet_hashes(part.path) == packet_hashes(src)


async def test_flac_is_converted_to_audio_format(tmp_path: Path) -> None:
    src = make_audio(tmp_path / "lossless.flac", tagged=True)
    done = await postprocess(
        src, job_type="audio", plan=direct_plan(src), work_dir=tmp_path / "w",
        settings=settings_for(tmp_path, audio_format="mp3"),
    )  # fmt: skip
    assert done.parts[0].path.suffix == ".mp3" and codec_of(done.parts[0].path) == "mp3"
    assert FLAC(src).tags is not None  # the source is untouched


# -- bad input: hostile tags ------------------------------------------------------


def hostile_mp3(tmp_path: Path, cover_mb: int = 20) -> Path:
    """1 MB title, control characters, HTML markup, a 20 MB cover and an ID3v1 trailer
    in a legacy 8-bit encoding."""
    src = make_audio(tmp_path / "hostile.mp3", tagged=False)
    id3 = ID3()
    id3.add(TIT2(encoding=3, text=["<b>Bold</b> & <a href='x'>" + "A" * 1_000_000]))
    id3.add(TPE1(encoding=3, text=["Evil\x07\x1b[31m\u202eArtist\r\n<i>"]))
    cover = tmp_path / "huge.jpg"
    subprocess.run(
        [*FF, "-f", "lavfi", "-i", "testsrc=size=4000x4000:rate=1:duration=1", "-frames:v", "1",
         "-q:v", "1", str(cover)], check=True,
    )  # fmt: skip
    data = cover.read_bytes()
    padding = cover_mb * 1024 * 1024 - len(data)
    id3.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="c", data=data + b"\0" * padding))
    id3.save(src, v2_version=3)
    # ID3v1: 128 bytes at the end, "TAG" + title(30) artist(30) album(30) year(4) ...
    v1 = b"TAG" + "Привет мир".encode("cp1251").ljust(30, b"\0")
    v1 += b"\xff\xfe\x80\x81".ljust(30, b"\0") + b"\x90" * 30 + b"19\x0099" + b"\0" * 31
    with src.open("ab") as fh:
        fh.write(v1[:128].ljust(128, b"\0"))
    return src


async def test_hostile_tags_are_bounded_and_printable(tmp_path: Path) -> None:
    src = hostile_mp3(tmp_path)
    done = await postprocess(
        src, job_type="audio", plan=direct_plan(src), work_dir=tmp_path / "w",
        settings=settings_for(tmp_path),
    )  # fmt: skip
    assert done.title is not None and len(done.title) <= MAX_TAG_CHARS
    assert done.title.startswith("<b>Bold</b> & <a href='x'>A")  # markup is text, escaped later
    assert done.performer == "Evil [31mArtist <i>"
    [part] = done.parts
    assert part.thumbnail is not None and part.thumbnail.stat().st_size < 200_000
    assert part.path.stat().st_size < 2 * 1024 * 1024  # the 20 MB cover was not carried over
    assert len(str(ID3(part.path)["TIT2"])) <= MAX_TAG_CHARS


def test_only_an_id3v1_tag_in_a_legacy_encoding_is_read_as_text(tmp_path: Path) -> None:
    src = make_audio(tmp_path / "old.mp3", tagged=False)
    v1 = b"TAG" + "Привет".encode("cp1251").ljust(30, b"\0") + b"\xff\x01\x02".ljust(30, b"\0")
    with src.open("ab") as fh:
        fh.write(v1.ljust(128, b"\0"))
    tags = read_file_tags(src)
    assert tags.title is not None and tags.title.isprintable()
    assert tags.artist is None or tags.artist.isprintable()


def test_clean_tag() -> None:
    assert clean_tag("  a\tb\n\x00c  ") == "a b c"
    assert clean_tag("\u202e\u200b") is None
    assert clean_tag(b"caf\xc3\xa9") == "café"
    long = clean_tag("x" * 10_000)
    assert long is not None and len(long) == MAX_TAG_CHARS and long.endswith("…")


async def test_a_hostile_file_name_gives_a_bounded_valid_name(tmp_path: Path) -> None:
    """A torrent decides its files' names: 255 bytes with control characters."""
    name = "\x1b[31m<b>Ж" + "x" * 100 + "\u202e\t" + "y" * 200
    name = name.encode()[: 255 - len(".flac")].decode(errors="ignore") + ".flac"
    assert len(name.encode()) == 255  # the longest name a file system allows
    src = make_audio(tmp_path / name, tagged=False)
    done = await postprocess(
        src, job_type="audio", plan=direct_plan(src), work_dir=tmp_path / "w",
        settings=settings_for(tmp_path),
    )  # fmt: skip
    [part] = done.parts
    assert len(part.path.name.encode()) <= 210 and part.path.suffix == ".m4a"
    assert part.path.name.isprintable() and "\x1b" not in part.path.name
    assert done.title is not None and done.title.isprintable()
