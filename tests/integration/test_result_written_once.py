"""A result is measured once and written once (issue 12, "Delivery owns delivery").

The database itself keeps the trace: a trigger records every UPDATE that names
``file_path``, ``file_size`` or ``sha256`` on ``jobs`` (SQLite and PostgreSQL alike), so
the test sees every writer, ORM or plain SQL. ffprobe is a small wrapper script around
the real binary that logs what it was asked to read.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from sqlalchemy import select, text

from mediaferry.app import Services
from mediaferry.db.models import MediaItem
from mediaferry.jobs.states import JobStatus
from tests.support.db_fixtures import make_settings
from tests.support.media_server import MediaServer, sha256_of
from tests.support.services import wait_done

SQLITE_TRACE = [
    "CREATE TABLE file_writes (job_id INTEGER, status TEXT, file_path TEXT)",
    "CREATE TRIGGER trace_file_writes AFTER UPDATE OF file_path, file_size, sha256 ON jobs "
    "BEGIN INSERT INTO file_writes VALUES (NEW.id, NEW.status, NEW.file_path); END",
]
PG_TRACE = [
    "CREATE TABLE file_writes (job_id BIGINT, status TEXT, file_path TEXT)",
    "CREATE FUNCTION trace_file_writes() RETURNS trigger AS $$ BEGIN "
    "INSERT INTO file_writes VALUES (NEW.id, NEW.status::text, NEW.file_path); RETURN NEW; "
    "END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER trace_file_writes AFTER UPDATE OF file_path, file_size, sha256 ON jobs "
    "FOR EACH ROW EXECUTE FUNCTION trace_file_writes()",
]


async def install_trace(services: Services) -> None:
    statements = PG_TRACE if services.db.is_postgres else SQLITE_TRACE
    async with services.db.engine.begin() as conn:
        for statement in statements:
            await conn.exec_driver_sql(statement)


async def file_writes(services: Services, job_id: int) -> list[tuple[str, str | None]]:
    async with services.db.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT status, file_path FROM file_writes WHERE job_id = :id"), {"id": job_id}
        )
        return [(str(r[0]), r[1]) for r in rows]


def ffprobe_logger(tmp_path: Path) -> tuple[Path, Path]:
    """An ffprobe that appends its arguments to a log, then runs the real one."""
    real = shutil.which("ffprobe")
    assert real is not None
    log = tmp_path / "ffprobe.log"
    script = tmp_path / "ffprobe"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n')
    os.chmod(script, 0o755)
    return script, log


async def test_an_archived_job_writes_its_file_once_and_measures_it_once(
    tmp_path: Path, db_url: str, media_server: MediaServer
) -> None:
    ffprobe, probe_log = ffprobe_logger(tmp_path)
    services = await Services.create(make_settings(tmp_path, db_url, ffprobe_path=str(ffprobe)))
    await install_trace(services)
    workers = services.worker_pool()
    await workers.start()
    try:
        url = media_server.url(f"/flaky/{uuid.uuid4().hex[:10]}/h264_aac.mp4?times=0")
        job = (await services.jobs.create(url, archive=True)).job
        done = await wait_done(services, job.id)
        assert done.status == JobStatus.COMPLETED, done.error_message
        archived = Path(done.file_path or "")
        assert archived.is_relative_to(services.settings.archive_dir) and archived.is_file()
        assert done.sha256 == sha256_of(archived)
        assert done.file_size == archived.stat().st_size

        # one writer: the final transition, with the archived path
        assert await file_writes(services, job.id) == [("COMPLETED", str(archived))]
        # the timeline: archived during DELIVER, then completed
        kinds = [e.event_type for e in await services.jobs.events(job.id)]
        assert kinds.index("DELIVER_STARTED") < kinds.index("ARCHIVED")
        assert kinds.index("ARCHIVED") < kinds.index("DELIVER_FINISHED")

        # the library entry re-uses VALIDATE's measurements: the archived file is never
        # probed (its hash is the one VALIDATE computed before the move)
        async with services.db.session() as session:
            [item] = (await session.scalars(select(MediaItem))).all()
        assert item.sha256 == done.sha256 and item.video_codec == "h264"
        probed = probe_log.read_text().splitlines()
        assert probed, "ffprobe ran through the logging wrapper"
        archive_dir = str(services.settings.archive_dir)
        assert not [line for line in probed if archive_dir in line]
    finally:
        await workers.stop()
        await services.close()
