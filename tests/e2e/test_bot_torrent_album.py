"""A multi-file torrent (issue 12, step 4): an album of five MP3s, a cover and an .nfo,
fetched by the real aria2c from a local web seed (BEP 19) and delivered through the fake
Bot API: each track its own audio, in order, with its own tags, not re-encoded; the
other files are listed in the caption and kept in the archive; nothing is dropped."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from mediaferry.db.library import search_library
from mediaferry.jobs.states import JobStatus
from tests.e2e._bot_harness import USER, running_bot
from tests.support.fake_telegram import FakeTelegram
from tests.support.media_server import MediaServer
from tests.support.torrent import make_multi_torrent

FF = ["ffmpeg", "-hide_banner", "-v", "error", "-nostdin", "-y"]
TRACKS = ["Al-Fatiha", "Al-Ikhlas", "Al-Falaq", "An-Nas", "Al-Kawthar"]


def packet_hashes(path: Path) -> list[str]:
    out = subprocess.run(
        [*FF, "-i", str(path), "-map", "0:a", "-c", "copy", "-f", "framemd5", "-"],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines() if not line.startswith("#")]


def make_album(folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    tracks = []
    for n, title in enumerate(TRACKS, start=1):
        path = folder / f"{n:02d} - track.mp3"
        subprocess.run(
            [*FF, "-f", "lavfi", "-i", f"sine=frequency={300 + 50 * n}:duration=2",
             "-c:a", "libmp3lame", "-b:a", "64k", "-metadata", f"title={title}",
             "-metadata", "artist=Qari Example", "-metadata", "album=Short Surahs",
             "-metadata", f"track={n}/5", str(path)],
            check=True,
        )  # fmt: skip
        tracks.append(path)
    subprocess.run(
        [*FF, "-f", "lavfi", "-i", "testsrc=size=400x400:rate=1:duration=1", "-frames:v", "1",
         str(folder / "cover.jpg")],
        check=True,
    )  # fmt: skip
    (folder / "info.nfo").write_text("Ripped for the tests.\n")
    return tracks


async def test_a_five_track_torrent_arrives_as_an_album_with_everything_kept(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    album = media_server.root / f"album-{uuid.uuid4().hex[:8]}"
    tracks = make_album(album)
    torrent = media_server.root / f"{album.name}.torrent"
    torrent.write_bytes(make_multi_torrent(album, media_server.url("/media/")))
    async with running_bot(tmp_path, fake_telegram) as bot:
        await bot.send(USER, "/archive_on")
        fake_telegram.user_sends_text(USER, f"/audio {media_server.media_url(torrent.name)}")
        call = await fake_telegram.async_wait_for("sendMediaGroup", timeout=120)
        [job] = await bot.jobs()
        job = await bot.job_status(job.id, JobStatus.COMPLETED, JobStatus.FAILED, timeout=60)
        assert job.status == JobStatus.COMPLETED, job.error_message
        found = await search_library(bot.services.db, "Ikhlas")
        archive = bot.services.settings.archive_dir
    media = call.params["media"]
    assert [m["type"] for m in media] == ["audio"] * 5
    assert [m["title"] for m in media] == TRACKS  # the files' own tags, in order
    assert {m["performer"] for m in media} == {"Qari Example"}
    assert "Also: " in media[0]["caption"] and "cover.jpg" in media[0]["caption"]
    assert "info.nfo" in media[0]["caption"]
    assert all("(part" not in m["caption"] for m in media)  # tracks, not pieces of a file
    uploads = [call.files[m["media"].removeprefix("attach://")] for m in media]
    assert all(u.filename.endswith(".mp3") for u in uploads)
    for track, upload in zip(tracks, uploads, strict=True):  # stream-copied, in order
        assert packet_hashes(upload.save(tmp_path / upload.filename)) == packet_hashes(track)
    shown = [m for m in fake_telegram.chat(USER) if m.kind == "audio"]
    assert len(shown) == 5
    # the archive keeps the five tracks and the two other files; the library knows tracks
    kept = sorted(p.name for p in archive.rglob("*") if p.is_file())
    assert sum(name.endswith(".mp3") for name in kept) == 5, kept
    assert any("cover" in name for name in kept) and any(name.endswith(".nfo") for name in kept)
    assert [(i.title, i.performer) for i in found] == [("Al-Ikhlas", "Qari Example")]
