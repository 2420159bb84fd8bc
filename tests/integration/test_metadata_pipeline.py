"""Metadata kept through the whole job (issue 12, step 4): the file's own tags reach the
job JSON, the archived file and the library; ``worst`` is accepted end to end."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from mediaferry.app import Services
from mediaferry.db.library import search_library
from mediaferry.jobs.service import job_to_dict
from mediaferry.jobs.states import JobStatus
from mediaferry.jobs.worker import WorkerPool
from mediaferry.media.tags import read_file_tags
from tests.support.media_server import MediaServer
from tests.support.services import wait_done

FF = ["ffmpeg", "-hide_banner", "-v", "error", "-nostdin", "-y"]


def tagged_mp3(folder: Path, name: str) -> Path:
    path = folder / name
    subprocess.run(
        [*FF, "-f", "lavfi", "-i", "sine=frequency=700:duration=3", "-c:a", "libmp3lame",
         "-b:a", "64k", "-metadata", "title=Ayat al-Kursi", "-metadata", "artist=Abdul Basit",
         "-metadata", "album=Selected Recitations", str(path)],
        check=True,
    )  # fmt: skip
    return path


async def test_a_direct_mp3_keeps_its_tags_into_job_file_and_library(
    services: Services, pool: WorkerPool, media_server: MediaServer
) -> None:
    name = f"track01-{uuid.uuid4().hex[:8]}.mp3"
    src = tagged_mp3(media_server.root, name)
    created = await services.jobs.create(media_server.media_url(name), archive=True)
    job = await wait_done(services, created.job.id)
    assert job.status == JobStatus.COMPLETED, job.error_message
    data = job_to_dict(job)
    assert (data["title"], data["performer"]) == ("Ayat al-Kursi", "Abdul Basit")
    delivered = Path(job.file_path or "")
    assert delivered.suffix == ".mp3" and delivered.name.startswith("Ayat al-Kursi")
    tags = read_file_tags(delivered)
    assert (tags.title, tags.artist, tags.album) == (
        "Ayat al-Kursi", "Abdul Basit", "Selected Recitations",
    )  # fmt: skip
    found = await search_library(services.db, "kursi")
    assert [(i.title, i.performer, i.path) for i in found] == [
        ("Ayat al-Kursi", "Abdul Basit", str(delivered))
    ]
    assert src.exists()


async def test_worst_is_accepted_end_to_end(
    services: Services, pool: WorkerPool, media_server: MediaServer
) -> None:
    """A page whose video only yt-dlp finds (og:video): the quality reaches the format
    parser, which must accept what the job service accepted."""
    page = f"og-{uuid.uuid4().hex[:8]}.html"
    video = media_server.media_url("h264_aac.mp4") + f"?k={uuid.uuid4().hex[:8]}"
    (media_server.root / page).write_text(
        "<!doctype html><html><head><title>Smallest please</title>"
        f'<meta property="og:video" content="{video}">'
        '<meta property="og:video:type" content="video/mp4"></head><body></body></html>'
    )
    created = await services.jobs.create(media_server.media_url(page), quality="worst")
    assert created.job.requested_quality == "worst"
    job = await wait_done(services, created.job.id)
    assert job.status == JobStatus.COMPLETED, (job.error_type, job.error_message)
    assert job.file_path and Path(job.file_path).suffix == ".mp4"
    assert (job.meta or {})["plan"]["protocol"] == "ytdlp"  # the plan came from yt-dlp
