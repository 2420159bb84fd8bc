"""Archive mode through the real pipeline: local media server, real ffmpeg, real DBs."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mediaferry.app import Services
from mediaferry.config import Settings
from mediaferry.db.library import search_library
from mediaferry.db.models import ChatSettings, MediaItem, utcnow
from mediaferry.jobs.states import JobStatus
from mediaferry.jobs.worker import WorkerPool
from mediaferry.media.result import processed_from_meta
from tests.support.db_fixtures import make_settings
from tests.support.media_server import MediaServer, sha256_of
from tests.support.services import wait_done

S = JobStatus


def unique_url(server: MediaServer, name: str = "h264_aac.mp4") -> tuple[str, str]:
    """A URL only this test uses (so recorded requests are this test's alone)."""
    key = uuid.uuid4().hex[:10]
    return server.url(f"/flaky/{key}/{name}?times=0"), f"/flaky/{key}/"


async def items(services: Services) -> list[MediaItem]:
    async with services.db.session() as session:
        return list((await session.scalars(select(MediaItem).order_by(MediaItem.id))).all())


async def event_types(services: Services, job_id: int) -> list[str]:
    return [e.event_type for e in await services.jobs.events(job_id)]


def archive_folder(settings: Settings, source: str) -> Path:
    return settings.archive_dir / source / f"{utcnow():%Y-%m}"


async def test_archived_job_lands_in_the_library_and_is_reused(
    services: Services, pool: WorkerPool, media_server: MediaServer
) -> None:
    url, prefix = unique_url(media_server)
    job = (await services.jobs.create(url, archive=True)).job
    done = await wait_done(services, job.id)
    assert done.status == S.COMPLETED, done.error_message

    # layout: ARCHIVE_ROOT/<source>/<yyyy-mm>/<title>.<ext>, the job points at it
    archived = Path(done.file_path or "")
    assert archived.parent == archive_folder(services.settings, "direct")
    assert archived.suffix == ".mp4" and archived.is_file()
    assert not list(services.storage.jobs_root.glob(f"{job.id}/**/*.mp4"))
    assert done.sha256 == sha256_of(archived)
    # a retry from DELIVER would find the archived files
    again = processed_from_meta((done.meta or {})["processed"])
    assert again is not None and again.parts[0].path == archived
    # its thumbnail is kept beside it, as media servers expect
    sidecar = archived.with_suffix(".jpg")
    assert sidecar.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
    assert again.parts[0].thumbnail == sidecar

    [item] = await items(services)
    assert item.path == str(archived) and item.job_id == job.id
    assert (item.video_codec, item.audio_codec, item.file_format) == ("h264", "aac", "mp4")
    assert item.size == archived.stat().st_size and item.sha256 == done.sha256
    assert item.origin_url == url and item.source_type == "DIRECT"
    assert item.duration and 4 < item.duration < 6
    assert "ARCHIVED" in await event_types(services, job.id)
    found = await search_library(services.db, item.title or "")
    assert [f.id for f in found] == [item.id]

    # the same media again, once the old job is gone: served from the archive
    downloads = len(media_server.requests(prefix))
    assert await services.jobs.clear_finished(include_completed=True) == 1
    created = await services.jobs.create(url)
    assert created.created
    second = created.job
    done2 = await wait_done(services, second.id)
    assert done2.status == S.COMPLETED, done2.error_message
    assert len(media_server.requests(prefix)) == downloads  # nothing fetched
    kinds = await event_types(services, second.id)
    assert "REUSED_ARCHIVE" in kinds
    assert not {"METADATA_STARTED", "DOWNLOAD_STARTED"} & set(kinds)
    assert done2.file_path == str(archived) and done2.sha256 == item.sha256
    reused = processed_from_meta((done2.meta or {})["processed"])
    assert reused is not None and reused.parts[0].thumbnail == sidecar  # re-sent with it
    assert len(await items(services)) == 1  # no duplicate library entry


async def test_a_request_to_archive_is_not_answered_by_a_job_that_did_not_archive(
    services: Services, pool: WorkerPool, media_server: MediaServer
) -> None:
    url, prefix = unique_url(media_server)
    first = await wait_done(services, (await services.jobs.create(url)).job.id)
    assert first.status == S.COMPLETED, first.error_message
    downloads = len(media_server.requests(prefix))
    # the same media asked to be archived (here by a chat with archive mode on): a job of
    # its own, made of the first job's file, which keeps its own
    async with services.db.session() as session:
        session.add(ChatSettings(chat_id=91, archive_mode=True))
    made = await services.jobs.create(url, chat_id=91, archive=True)
    assert made.created
    second = await wait_done(services, made.job.id)
    assert second.status == S.COMPLETED, second.error_message
    assert len(media_server.requests(prefix)) == downloads
    kinds = await event_types(services, second.id)
    assert "REUSED_FILE" in kinds and "DOWNLOAD_STARTED" not in kinds
    [item] = await items(services)
    assert item.path == second.file_path and item.sha256 == first.sha256
    assert sha256_of(Path(first.file_path or "")) == first.sha256
    # from now on it answers both kinds of request
    for archive in (True, False):
        again = await services.jobs.create(url, archive=archive)
        assert not again.created and again.job.id == second.id


async def test_a_changed_archived_file_is_not_reused(
    services: Services, pool: WorkerPool, media_server: MediaServer
) -> None:
    url, prefix = unique_url(media_server)
    first = await wait_done(services, (await services.jobs.create(url, archive=True)).job.id)
    assert first.status == S.COMPLETED, first.error_message
    with Path(first.file_path or "").open("ab") as f:
        f.write(b"tampered")
    downloads = len(media_server.requests(prefix))
    await services.jobs.clear_finished(include_completed=True)
    second = await wait_done(services, (await services.jobs.create(url, archive=True)).job.id)
    assert second.status == S.COMPLETED, second.error_message
    assert len(media_server.requests(prefix)) > downloads
    assert "REUSED_ARCHIVE" not in await event_types(services, second.id)
    assert second.file_path != first.file_path
    assert Path(second.file_path or "").name.endswith(" (2).mp4")
    assert len(await items(services)) == 2


async def test_chat_archive_mode_archives_and_other_jobs_do_not(
    services: Services, pool: WorkerPool, media_server: MediaServer
) -> None:
    async with services.db.session() as session:
        session.add(ChatSettings(chat_id=77, archive_mode=True))
    url_chat, _ = unique_url(media_server, "audio.m4a")
    url_plain, _ = unique_url(media_server, "noaudio.mp4")
    chat_job = (await services.jobs.create(url_chat, job_type="audio", chat_id=77)).job
    plain_job = (await services.jobs.create(url_plain, chat_id=78)).job
    chat_done = await wait_done(services, chat_job.id)
    plain_done = await wait_done(services, plain_job.id)
    assert chat_done.status == plain_done.status == S.COMPLETED
    assert Path(chat_done.file_path or "").is_relative_to(services.settings.archive_dir)
    assert Path(plain_done.file_path or "").is_relative_to(services.settings.tmp_dir)
    [item] = await items(services)
    assert item.job_id == chat_job.id and item.chat_id == 77
    assert item.video_codec is None and item.audio_codec == "aac"
    found = await search_library(services.db, item.title or "", chat_id=77)
    assert [f.id for f in found] == [item.id]
    assert await search_library(services.db, item.title or "", chat_id=78) == []


@pytest.fixture(scope="module")
def noisy_name(media_dir: Path) -> str:
    """A 12 s video of noise, over 2 MiB: more than a 1 MB upload limit allows."""
    name = f"noisy-{uuid.uuid4().hex[:8]}.mp4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=12",
         "-f", "lavfi", "-i", "sine=duration=12", "-vf", "noise=alls=30:allf=t",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25",
         "-c:a", "aac", "-shortest", str(media_dir / name)],
        check=True,
    )  # fmt: skip
    assert (media_dir / name).stat().st_size > 2 * 2**20
    return name


async def test_multi_part_results_are_archived_part_by_part_and_reused(
    tmp_path: Path, db_url: str, media_server: MediaServer, noisy_name: str
) -> None:
    settings = make_settings(tmp_path, db_url, telegram_upload_limit_mb=1, video_preset="ultrafast")
    services = await Services.create(settings)
    workers = services.worker_pool()
    await workers.start()
    try:
        url, prefix = unique_url(media_server, noisy_name)
        created = await services.jobs.create(url, chat_id=5, archive=True)
        job = await wait_done(services, created.job.id)
        assert job.status == S.COMPLETED, job.error_message
        library = await items(services)
        total = len(library)
        assert total >= 3
        stem = noisy_name.removesuffix(".mp4")
        assert [i.title for i in library] == [
            f"{stem} (part {n} of {total})" for n in range(1, total + 1)
        ]
        assert [Path(i.path).name for i in library] == [
            f"{stem} (part {n} of {total}).mp4" for n in range(1, total + 1)
        ]
        assert all(i.size <= 2**20 and Path(i.path).is_file() for i in library)
        assert job.file_path == library[0].path
        assert sum(i.size for i in library) == job.file_size

        downloads = len(media_server.requests(prefix))
        await services.jobs.clear_finished(include_completed=True)
        again = await services.jobs.create(url, chat_id=5)
        job2 = await wait_done(services, again.job.id)
        assert job2.status == S.COMPLETED, job2.error_message
        assert len(media_server.requests(prefix)) == downloads
        assert "REUSED_ARCHIVE" in await event_types(services, job2.id)
        reused = processed_from_meta((job2.meta or {})["processed"])
        assert reused is not None and reused.title == stem
        assert [str(p.path) for p in reused.parts] == [i.path for i in library]
        assert all(p.width == 160 for p in reused.parts)
        async with services.db.session() as session:
            n = await session.scalar(select(func.count()).select_from(MediaItem))
        assert n == total
    finally:
        await workers.stop()
        await services.close()
