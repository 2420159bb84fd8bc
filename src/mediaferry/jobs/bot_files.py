"""Files sent or forwarded to the bot (issue 10): what may be fetched, and the jobs.

A file is fetched by the bot's own MTProto session when it has one (up to 2000 MB, in
a private chat, a group or a supergroup alike), else through the Bot API's ``getFile``
(up to 20 MB). :func:`refusal` says, before
any job exists, why a file cannot be taken (empty, too big for the route, over the
server's limit). Two kinds of job come from a file, both ordinary TELEGRAM jobs
deduplicated by the file's ``file_unique_id`` (read over MTProto, a file kept as it
came is also known by its Telegram document id once METADATA has read it: the
library's copy or another job's file is taken instead of a download, and the document
is this job's for ``tg archive`` and ``t.me`` links later; see
:mod:`mediaferry.jobs.tg_documents`):

* :func:`archive_job`: the file is kept byte for byte in the library; the chat gets a
  confirmation instead of the file back.
* :func:`audio_job`: a video's sound track, extracted as tagged audio (``AUDIO_FORMAT``)
  and sent back to the chat.
"""

from __future__ import annotations

import re
from typing import Any

from mediaferry.config import Settings
from mediaferry.errors import UrlRejected
from mediaferry.jobs.service import CreateResult, JobService
from mediaferry.plan import (
    BOTAPI_FILE_LIMIT,
    NEEDS_MTPROTO,
    REPLY_ARCHIVED,
    REPLY_KEY,
    BotFile,
)
from mediaferry.sources.telegram import MTPROTO_FILE_LIMIT, bot_file_route

__all__ = ["ARCHIVE_CAPTION", "archive_job", "audio_job", "refusal", "wants_archive"]

# "/archive" in a caption (not /archive_on): keep this file
ARCHIVE_CAPTION = re.compile(r"(?:^|\s)/archive(?:@\w+)?(?=\s|$)", re.IGNORECASE)
MiB = 1024 * 1024


def wants_archive(caption: str | None) -> bool:
    """The caption asks for the file to be archived (``/archive`` in it)."""
    return bool(caption and ARCHIVE_CAPTION.search(caption))


def _mb(size: int) -> str:
    return f"{size / MiB:.1f} MB"


def refusal(settings: Settings, file: BotFile) -> str | None:
    """Why ``file`` cannot be fetched here, as one line for the user; None if it can."""
    if file.size == 0:
        return "That file is empty (0 bytes); there is nothing to keep."
    size = file.size
    if size is None:
        return None  # the Bot API did not say; the job finds out
    if bot_file_route(settings, file) == "botapi" and size > BOTAPI_FILE_LIMIT:
        return f"That file is {_mb(size)}: {NEEDS_MTPROTO}."
    if size > MTPROTO_FILE_LIMIT:
        return f"That file is {_mb(size)}; Telegram files over 2000 MB cannot be fetched."
    if size > settings.max_file_size_bytes:
        return (
            f"That file is {_mb(size)}, over this server's limit of {settings.max_file_size_mb} MB."
        )
    return None


def _check(settings: Settings, file: BotFile) -> None:
    reason = refusal(settings, file)
    if reason is not None:
        raise UrlRejected(reason)


def _meta(file: BotFile) -> dict[str, Any]:
    return {
        "telegram": {
            "chat": file.origin,
            "message_id": file.message_id,
            "performer": file.performer or file.origin,
        }
    }


async def archive_job(
    jobs: JobService, settings: Settings, file: BotFile, *, user_id: int | None
) -> CreateResult:
    """The job that keeps ``file`` in the library, byte for byte (or the same file's
    existing one). Raises :class:`UrlRejected` with :func:`refusal`'s reason and
    :class:`LimitExceeded` at a limit."""
    _check(settings, file)
    audio = file.kind in ("audio", "voice")
    return await jobs.create_for_file(
        file,
        job_type="audio" if audio else "video",
        quality="audio" if audio else "best",
        user_id=user_id,
        archive=True,
        title=file.title,  # the document's own; else its tags or name, found later
        meta={**_meta(file), REPLY_KEY: REPLY_ARCHIVED},
    )


async def audio_job(
    jobs: JobService,
    settings: Settings,
    file: BotFile,
    *,
    user_id: int | None,
    message_id: int,
    archive: bool = False,
) -> CreateResult:
    """The job that sends ``file``'s sound track back as tagged audio (the file must
    be a video: :class:`UrlRejected` otherwise). ``message_id`` is the request the
    result answers (the ``/audio`` reply)."""
    if file.kind == "animation":
        raise UrlRejected("That is a GIF animation; it has no sound to extract.")
    if not file.is_video:
        raise UrlRejected("Reply /audio to a video to get its sound; that is not a video.")
    _check(settings, file)
    return await jobs.create_for_file(
        file,
        job_type="audio",
        quality="audio",
        user_id=user_id,
        archive=archive,
        message_id=message_id,
        title=file.title,  # the document's own; else its tags or name, found later
        meta=_meta(file),
    )
