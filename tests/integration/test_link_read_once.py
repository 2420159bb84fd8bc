"""A link is extracted once per job (issue 12): the keyboard's description is kept.

The bot's quality keyboard calls ``JobService.estimate``; the job created from the
user's choice keeps that plan, METADATA re-uses it, and the yt-dlp child downloads from
the kept info instead of extracting the page again. Counted through the real child:
``ytdlp_python`` points at a small wrapper that logs each child's request (mode, and
whether it carried an info dict) and then execs the real interpreter. A stale plan
costs one more extraction, never more.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

from mediaferry.app import Services
from mediaferry.jobs.states import JobStatus
from mediaferry.plan import YTDLP_INFO
from tests.support.db_fixtures import make_settings
from tests.support.media_server import MediaServer
from tests.support.services import wait_done

# no <video> element: only yt-dlp's generic extractor (og:video) finds the media
PAGE = """<!doctype html><html><head><title>Kept lecture</title>
<meta property="og:title" content="Kept lecture">
<meta property="og:video" content="{base}/media/h264_aac.mp4">
<meta property="og:video:type" content="video/mp4">
</head><body><p>a talk</p></body></html>"""

WRAPPER = """#!{python}
import json, os, sys, tempfile
line = sys.stdin.buffer.readline()
request = json.loads(line)
with open({log!r}, "a") as f:
    f.write(json.dumps([request.get("mode"), bool(request.get("info"))]) + "\\n")
kept = tempfile.TemporaryFile()
kept.write(line)
kept.seek(0)
os.dup2(kept.fileno(), 0)
os.execv({python!r}, [{python!r}] + sys.argv[1:])
"""


def child_logger(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "children.log"
    script = tmp_path / "python-logged"
    script.write_text(WRAPPER.format(python=sys.executable, log=str(log)))
    os.chmod(script, 0o755)
    return script, log


def runs(log: Path) -> list[tuple[str, bool]]:
    if not log.exists():
        return []
    return [tuple(json.loads(line)) for line in log.read_text().splitlines()]  # type: ignore[misc]


async def run_from_keyboard(
    tmp_path: Path, db_url: str, media_server: MediaServer, **overrides: object
) -> tuple[list[tuple[str, bool]], list[str], int, int]:
    python, log = child_logger(tmp_path)
    settings = make_settings(tmp_path, db_url, ytdlp_python=str(python), **overrides)
    services = await Services.create(settings)
    workers = services.worker_pool()
    await workers.start()
    try:
        name = f"kept-{uuid.uuid4().hex[:8]}.html"
        url = media_server.add_page(name, PAGE)
        est = await services.jobs.estimate(url, timeout=60)
        assert est.plan is not None and est.plan.protocol == "ytdlp", est
        assert est.plan.extra.get(YTDLP_INFO), "the description keeps yt-dlp's info"
        page_hits = len(media_server.requests(f"/pages/{name}"))
        job = (await services.jobs.create(url, plan=est.plan)).job
        done = await wait_done(services, job.id)
        assert done.status == JobStatus.COMPLETED, done.error_message
        assert Path(done.file_path or "").is_file()
        kinds = [e.event_type for e in await services.jobs.events(job.id)]
        return runs(log), kinds, page_hits, len(media_server.requests(f"/pages/{name}"))
    finally:
        await workers.stop()
        await services.close()


async def test_a_job_from_the_keyboard_extracts_its_link_once(
    tmp_path: Path, db_url: str, media_server: MediaServer
) -> None:
    children, kinds, hits_after_estimate, hits_at_end = await run_from_keyboard(
        tmp_path, db_url, media_server
    )
    # one extraction (the keyboard's); the download child got the kept info
    assert children == [("extract", False), ("download", True)]
    assert "PLAN_REUSED" in kinds
    assert hits_at_end == hits_after_estimate  # the job never fetched the page again


async def test_a_stale_plan_costs_one_more_extraction_and_no_more(
    tmp_path: Path, db_url: str, media_server: MediaServer
) -> None:
    children, kinds, _, _ = await run_from_keyboard(
        tmp_path, db_url, media_server, plan_max_age_s=0
    )
    assert children == [("extract", False), ("extract", False), ("download", True)]
    assert "PLAN_REUSED" not in kinds
