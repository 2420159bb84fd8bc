"""upload.*: file parts in, file chunks out — with Telegram's rules enforced.

Download (upload.getFile), without ``precise``: offset and limit multiples of 4 KiB,
``1 MiB % limit == 0``, and one request never crosses a 1 MiB boundary; with ``precise``:
multiples of 1 KiB and limit ≤ 1 MiB. Else LIMIT_INVALID / OFFSET_INVALID.

Upload: every part but the last has one size, a multiple of 1 KiB dividing 512 KiB; the
last is not bigger; at most 4000 parts; files over 10 MB must use saveBigFilePart.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telethon.tl import functions, types
from telethon.tl.tlobject import TLObject

from ..dispatch import CallContext, RpcFail, handles

MiB = 1024 * 1024
MAX_PART = 512 * 1024
MAX_PARTS = 4000
SMALL_FILE_MAX = 10 * MiB


@dataclass
class PendingUpload:
    """Parts received for one client file_id."""

    big: bool
    total_parts: int | None = None
    part_size: int | None = None  # size of the non-last parts, once known
    parts: dict[int, bytes] = field(default_factory=dict)


def _uploads(ctx: CallContext) -> dict[tuple[int, int], PendingUpload]:
    store: dict[tuple[int, int], PendingUpload] = ctx.server.pending_uploads
    return store


def _owner(ctx: CallContext) -> int:
    return ctx.me().id


def _valid_part_size(size: int) -> bool:
    return size > 0 and size % 1024 == 0 and MAX_PART % size == 0


def _check_part(data: bytes) -> None:
    if not data:
        raise RpcFail(400, "FILE_PART_EMPTY")
    if len(data) > MAX_PART:
        raise RpcFail(400, "FILE_PART_TOO_BIG")


@handles(functions.upload.SaveFilePartRequest)
def save_file_part(ctx: CallContext, req: functions.upload.SaveFilePartRequest) -> Any:
    owner = _owner(ctx)
    _check_part(req.bytes)
    if not 0 <= req.file_part < MAX_PARTS:
        raise RpcFail(400, "FILE_PART_INVALID")
    pending = _uploads(ctx).setdefault((owner, req.file_id), PendingUpload(big=False))
    if pending.big:
        raise RpcFail(400, "FILE_PART_INVALID")
    pending.parts[req.file_part] = req.bytes
    ctx.conn.uploaded_bytes += len(req.bytes)
    return True


@handles(functions.upload.SaveBigFilePartRequest)
def save_big_file_part(ctx: CallContext, req: functions.upload.SaveBigFilePartRequest) -> Any:
    owner = _owner(ctx)
    _check_part(req.bytes)
    total = req.file_total_parts
    if not 0 < total <= MAX_PARTS:
        raise RpcFail(400, "FILE_PARTS_INVALID")
    if not 0 <= req.file_part < total:
        raise RpcFail(400, "FILE_PART_INVALID")
    pending = _uploads(ctx).setdefault(
        (owner, req.file_id), PendingUpload(big=True, total_parts=total)
    )
    if not pending.big or pending.total_parts != total:
        raise RpcFail(400, "FILE_PARTS_INVALID")
    size = len(req.bytes)
    if req.file_part < total - 1:
        if not _valid_part_size(size):
            raise RpcFail(400, "FILE_PART_SIZE_INVALID")
        if pending.part_size is None:
            pending.part_size = size
        elif pending.part_size != size:
            raise RpcFail(400, "FILE_PART_SIZE_CHANGED")
    elif pending.part_size is not None and size > pending.part_size:
        raise RpcFail(400, "FILE_PART_SIZE_INVALID")
    pending.parts[req.file_part] = req.bytes
    ctx.conn.uploaded_bytes += size
    return True


@dataclass
class Assembled:
    name: str
    size: int
    data: bytes | None
    path: Path | None


def assemble(ctx: CallContext, input_file: Any) -> Assembled:
    """Turn an InputFile/InputFileBig into the bytes the client uploaded, checking parts."""
    owner = _owner(ctx)
    big = isinstance(input_file, types.InputFileBig)
    if not isinstance(input_file, types.InputFile | types.InputFileBig):
        raise RpcFail(400, "MEDIA_INVALID")
    pending = _uploads(ctx).get((owner, input_file.id))
    if pending is None or pending.big != big:
        raise RpcFail(400, "FILE_PARTS_INVALID")
    n = input_file.parts
    if n <= 0 or n > MAX_PARTS or (big and n != pending.total_parts):
        raise RpcFail(400, "FILE_PARTS_INVALID")
    for i in range(n):
        if i not in pending.parts:
            raise RpcFail(400, f"FILE_PART_{i}_MISSING")
    if any(i >= n for i in pending.parts):
        raise RpcFail(400, "FILE_PARTS_INVALID")
    sizes = [len(pending.parts[i]) for i in range(n)]
    if n > 1:
        if len(set(sizes[:-1])) != 1 or not _valid_part_size(sizes[0]):
            raise RpcFail(400, "FILE_PART_SIZE_INVALID")
        if sizes[-1] > sizes[0]:
            raise RpcFail(400, "FILE_PART_SIZE_INVALID")
    total = sum(sizes)
    if not big and total > SMALL_FILE_MAX:
        raise RpcFail(400, "FILE_PARTS_INVALID")  # over 10 MB: saveBigFilePart is required
    del _uploads(ctx)[(owner, input_file.id)]
    chunks = (pending.parts[i] for i in range(n))
    if not big:
        data = b"".join(chunks)
        md5 = input_file.md5_checksum
        if md5 and hashlib.md5(data).hexdigest() != md5.lower():
            raise RpcFail(400, "MD5_CHECKSUM_INVALID")
        return Assembled(input_file.name, total, data, None)
    storage = ctx.world.storage_dir
    if storage is None:
        return Assembled(input_file.name, total, b"".join(chunks), None)
    storage.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=storage, prefix="upload-", delete=False) as fh:
        for chunk in chunks:
            fh.write(chunk)
    return Assembled(input_file.name, total, None, Path(fh.name))


def _check_range(offset: int, limit: int, precise: bool) -> None:
    if precise:
        if limit <= 0 or limit % 1024 or limit > MiB:
            raise RpcFail(400, "LIMIT_INVALID")
        if offset < 0 or offset % 1024:
            raise RpcFail(400, "OFFSET_INVALID")
        return
    if limit <= 0 or limit % 4096 or MiB % limit:
        raise RpcFail(400, "LIMIT_INVALID")
    if offset < 0 or offset % 4096:
        raise RpcFail(400, "OFFSET_INVALID")
    if offset // MiB != (offset + limit - 1) // MiB:
        raise RpcFail(400, "LIMIT_INVALID")


@handles(functions.upload.GetFileRequest)
def get_file(ctx: CallContext, req: functions.upload.GetFileRequest) -> TLObject:
    ctx.me()
    _check_range(req.offset, req.limit, bool(req.precise))
    loc = req.location
    world = ctx.world
    if isinstance(loc, types.InputDocumentFileLocation):
        doc = world.documents.get(loc.id)
        if doc is None or doc.access_hash != loc.access_hash:
            raise RpcFail(400, "FILE_ID_INVALID")
        if ctx.faults.take_expired_reference(doc.id):
            world.expire_reference(doc)
        if loc.file_reference != doc.file_reference:
            raise RpcFail(400, "FILE_REFERENCE_EXPIRED")
        if loc.thumb_size:
            if doc.thumb is None or loc.thumb_size != "m":
                raise RpcFail(400, "LOCATION_INVALID")
            data = doc.thumb[2][req.offset : req.offset + req.limit]
        else:
            data = doc.read(req.offset, req.limit)
        file_id, mtime = doc.id, doc.date
    elif isinstance(loc, types.InputPhotoFileLocation):
        photo = world.photos.get(loc.id)
        if photo is None or photo.access_hash != loc.access_hash:
            raise RpcFail(400, "FILE_ID_INVALID")
        if loc.file_reference != photo.file_reference:
            raise RpcFail(400, "FILE_REFERENCE_EXPIRED")
        if loc.thumb_size != "x":
            raise RpcFail(400, "LOCATION_INVALID")
        data = photo.data[req.offset : req.offset + req.limit]
        file_id, mtime = photo.id, photo.date
    else:
        raise RpcFail(400, "LOCATION_INVALID")
    ctx.stats.record_get_file(file_id, req.offset, req.limit, len(data), ctx.conn)
    ctx.extra["file_bytes"] = len(data)
    return types.upload.File(
        type=types.storage.FileUnknown(), mtime=int(mtime.timestamp()), bytes=data
    )
