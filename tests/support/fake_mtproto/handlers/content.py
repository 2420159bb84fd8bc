"""Reading: history (paged as Telegram pages it), search with media filters, single
messages, dialogs, username resolution, channels."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from telethon.tl import functions, types
from telethon.tl.tlobject import TLObject

from ..dispatch import CallContext, RpcFail, handles
from ..world import FakeChannel, FakeMessage, FakeUser
from ._peers import chats_and_users, no_bots, resolve_channel, resolve_peer

_USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
MAX_PAGE = 100


def _box_messages(ctx: CallContext, target: FakeUser | FakeChannel) -> list[FakeMessage]:
    """The messages of one chat, newest first, as the caller sees them."""
    if isinstance(target, FakeChannel):
        msgs = list(target.messages.values())
    else:
        box = ctx.world.box(ctx.me().id)
        msgs = [
            m
            for m in box.messages.values()
            if isinstance(m.peer, types.PeerUser) and m.peer.user_id == target.id
        ]
    msgs.sort(key=lambda m: m.id, reverse=True)
    return msgs


def _date_set(value: dt.datetime | None) -> bool:
    """TL encodes "no date" as 0, which Telethon decodes as the epoch."""
    return value is not None and value.timestamp() > 0


def _page(msgs: list[FakeMessage], req: Any) -> list[FakeMessage]:
    """Telegram's paging: min_id/max_id bound the set, then offset_id (or offset_date)
    picks the first message older than it, add_offset shifts (negative: newer), limit cuts."""
    limit = max(0, min(req.limit or MAX_PAGE, MAX_PAGE))
    min_id, max_id = req.min_id or 0, req.max_id or 0
    msgs = [m for m in msgs if m.id > min_id and (not max_id or m.id < max_id)]
    if req.offset_id:
        start = next((i for i, m in enumerate(msgs) if m.id < req.offset_id), len(msgs))
    elif _date_set(getattr(req, "offset_date", None)):
        start = next((i for i, m in enumerate(msgs) if m.date < req.offset_date), len(msgs))
    else:
        start = 0
    lo = start + (req.add_offset or 0)
    hi = lo + limit
    return msgs[max(lo, 0) : max(hi, 0)]


def _answer(
    ctx: CallContext, target: FakeUser | FakeChannel, page: list[FakeMessage], count: int
) -> TLObject:
    viewer = ctx.me()
    users = [viewer] + [ctx.world.users[m.from_id] for m in page if m.from_id in ctx.world.users]
    messages = [m.tl(viewer.id) for m in page]
    if isinstance(target, FakeChannel):
        chats, users_tl = chats_and_users(ctx, [target], users)
        return types.messages.ChannelMessages(
            pts=target.pts, count=count, messages=messages, topics=[], chats=chats, users=users_tl
        )
    chats, users_tl = chats_and_users(ctx, [], [*users, target])
    if count > len(page):
        return types.messages.MessagesSlice(
            count=count, messages=messages, topics=[], chats=chats, users=users_tl
        )
    return types.messages.Messages(messages=messages, topics=[], chats=chats, users=users_tl)


@handles(functions.messages.GetHistoryRequest)
def get_history(ctx: CallContext, req: functions.messages.GetHistoryRequest) -> TLObject:
    no_bots(ctx)
    target = resolve_peer(ctx, req.peer)
    msgs = _box_messages(ctx, target)
    return _answer(ctx, target, _page(msgs, req), len(msgs))


def _audio(m: FakeMessage) -> Any:
    doc = m.document
    return doc.attribute(types.DocumentAttributeAudio) if doc else None


def _video(m: FakeMessage) -> Any:
    doc = m.document
    return doc.attribute(types.DocumentAttributeVideo) if doc else None


def _is_photo(m: FakeMessage) -> bool:
    return m.media is not None and m.document is None


def _is_plain_document(m: FakeMessage) -> bool:
    doc = m.document
    special = (
        types.DocumentAttributeAudio,
        types.DocumentAttributeVideo,
        types.DocumentAttributeSticker,
        types.DocumentAttributeAnimated,
    )
    return doc is not None and not any(isinstance(a, special) for a in doc.attributes)


# Which messages each search filter keeps. "Document" means files sent as files: not
# music, voice, video, stickers or GIFs (those have their own filters).
_FILTERS: dict[type, Callable[[FakeMessage], bool]] = {
    types.InputMessagesFilterEmpty: lambda m: True,
    types.InputMessagesFilterMusic: lambda m: bool(_audio(m)) and not _audio(m).voice,
    types.InputMessagesFilterVoice: lambda m: bool(_audio(m)) and bool(_audio(m).voice),
    types.InputMessagesFilterRoundVoice: lambda m: (
        bool(_audio(m) and _audio(m).voice) or bool(_video(m) and _video(m).round_message)
    ),
    types.InputMessagesFilterVideo: lambda m: bool(_video(m)) and not _video(m).round_message,
    types.InputMessagesFilterRoundVideo: lambda m: bool(_video(m) and _video(m).round_message),
    types.InputMessagesFilterPhotos: _is_photo,
    types.InputMessagesFilterPhotoVideo: lambda m: (
        _is_photo(m) or (bool(_video(m)) and not _video(m).round_message)
    ),
    types.InputMessagesFilterDocument: _is_plain_document,
}


def _text_of(m: FakeMessage) -> str:
    parts = [m.text]
    doc = m.document
    if doc is not None:
        audio = doc.attribute(types.DocumentAttributeAudio)
        if audio is not None:
            parts += [audio.title or "", audio.performer or ""]
        parts.append(doc.file_name or "")
    return " ".join(parts).lower()


@handles(functions.messages.SearchRequest)
def search(ctx: CallContext, req: functions.messages.SearchRequest) -> TLObject:
    no_bots(ctx)
    target = resolve_peer(ctx, req.peer)
    keep = _FILTERS.get(type(req.filter))
    if keep is None:
        raise RpcFail(400, "FILTER_NOT_SUPPORTED")
    words = (req.q or "").lower().split()
    min_date, max_date = req.min_date, req.max_date
    msgs = [
        m
        for m in _box_messages(ctx, target)
        if keep(m)
        and all(w in _text_of(m) for w in words)
        and (not _date_set(min_date) or m.date >= min_date)
        and (not _date_set(max_date) or m.date <= max_date)
    ]
    return _answer(ctx, target, _page(msgs, req), len(msgs))


def _wanted_ids(ids: list[Any]) -> list[int]:
    wanted = []
    for item in ids:
        if isinstance(item, types.InputMessageID):
            wanted.append(item.id)
        elif isinstance(item, int):
            wanted.append(item)
        else:
            raise RpcFail(400, "MESSAGE_IDS_EMPTY")
    return wanted


def _by_ids(
    ctx: CallContext, msgs: dict[int, FakeMessage], ids: list[int], peer: Any = None
) -> list[TLObject]:
    viewer = ctx.me().id
    return [
        msgs[i].tl(viewer) if i in msgs else types.MessageEmpty(id=i, peer_id=peer) for i in ids
    ]


@handles(functions.channels.GetMessagesRequest)
def channel_messages(ctx: CallContext, req: functions.channels.GetMessagesRequest) -> TLObject:
    """A channel's messages by id: with the caller's own access hash of the channel
    (CHANNEL_INVALID otherwise); a bot only in a channel or supergroup it is a member of
    (CHANNEL_PRIVATE otherwise, public or not), an account in any it can read."""
    channel = resolve_channel(ctx, req.channel)
    me = ctx.me()
    if me.bot and me.id not in channel.members:
        raise RpcFail(400, "CHANNEL_PRIVATE")
    ids = _wanted_ids(req.id)
    found = _by_ids(ctx, channel.messages, ids, channel.peer())
    users = [
        ctx.world.users[m.from_id] for i in ids if (m := channel.messages.get(i)) and m.from_id
    ]
    chats, users_tl = chats_and_users(ctx, [channel], [ctx.me(), *users])
    return types.messages.ChannelMessages(
        pts=channel.pts, count=len(found), messages=found, topics=[], chats=chats, users=users_tl
    )


@handles(functions.messages.GetMessagesRequest)
def get_messages(ctx: CallContext, req: functions.messages.GetMessagesRequest) -> TLObject:
    """Messages by id in the caller's own box only (its private chats and basic groups):
    an id of another box, or a channel's, is another message or none (MessageEmpty)."""
    me = ctx.me()
    box = ctx.world.box(me.id)
    wanted = _wanted_ids(req.id)
    found = _by_ids(ctx, box.messages, wanted)
    groups = [
        ctx.world.groups[m.peer.chat_id]
        for i in wanted
        if (m := box.messages.get(i)) is not None
        and isinstance(m.peer, types.PeerChat)
        and m.peer.chat_id in ctx.world.groups
    ]
    senders = {
        m.from_id
        for i in wanted
        if (m := box.messages.get(i)) is not None and m.from_id in ctx.world.users
    }
    peers = {m.peer.user_id for m in box.messages.values() if isinstance(m.peer, types.PeerUser)}
    # a forwarded message's origin comes with it, as on Telegram (Telethon reads it there)
    origins = [
        ctx.world.channels[m.fwd_from.from_id.channel_id]
        for i in wanted
        if (m := box.messages.get(i)) is not None
        and m.fwd_from is not None
        and isinstance(m.fwd_from.from_id, types.PeerChannel)
        and m.fwd_from.from_id.channel_id in ctx.world.channels
    ]
    peers |= {
        m.fwd_from.from_id.user_id
        for i in wanted
        if (m := box.messages.get(i)) is not None
        and m.fwd_from is not None
        and isinstance(m.fwd_from.from_id, types.PeerUser)
        and m.fwd_from.from_id.user_id in ctx.world.users
    }
    peers |= {s for s in senders if s is not None}
    chats, users = chats_and_users(ctx, origins, [me, *(ctx.world.users[p] for p in peers)])
    seen_groups = {g.id: g.tl(me.id) for g in groups}
    all_chats: list[Any] = [*chats, *seen_groups.values()]
    return types.messages.Messages(messages=found, topics=[], chats=all_chats, users=users)


def _dialog_order(entry: tuple[FakeUser | FakeChannel, FakeMessage | None]) -> tuple[float, int]:
    target, top = entry
    if top is not None:
        return top.date.timestamp(), top.id
    return (target.date.timestamp() if isinstance(target, FakeChannel) else 0.0), 0


@handles(functions.messages.GetDialogsRequest)
def get_dialogs(ctx: CallContext, req: functions.messages.GetDialogsRequest) -> TLObject:
    no_bots(ctx)
    me = ctx.me()
    world = ctx.world
    entries: list[tuple[FakeUser | FakeChannel, FakeMessage | None]] = []
    for channel in world.channels.values():
        if me.id in channel.members:
            top = max(channel.messages.values(), key=lambda m: m.id, default=None)
            entries.append((channel, top))
    latest: dict[int, FakeMessage] = {}
    for m in world.box(me.id).messages.values():
        if isinstance(m.peer, types.PeerUser) and m.id > getattr(
            latest.get(m.peer.user_id), "id", 0
        ):
            latest[m.peer.user_id] = m
    entries += [(world.users[uid], m) for uid, m in latest.items()]
    entries.sort(key=_dialog_order, reverse=True)
    if isinstance(req.offset_peer, types.InputPeerChannel | types.InputPeerUser):
        key = getattr(req.offset_peer, "channel_id", None) or getattr(
            req.offset_peer, "user_id", None
        )
        pos = next((i for i, (t, _) in enumerate(entries) if t.id == key), None)
        if pos is not None:
            entries = entries[pos + 1 :]
    total = len(entries)
    limit = max(0, min(req.limit or MAX_PAGE, MAX_PAGE))
    page = entries[:limit]
    dialogs, messages = [], []
    for target, top in page:
        dialogs.append(
            types.Dialog(
                peer=target.peer(),
                top_message=top.id if top else 0,
                read_inbox_max_id=top.id if top else 0,
                read_outbox_max_id=top.id if top else 0,
                unread_count=0,
                unread_mentions_count=0,
                unread_reactions_count=0,
                unread_poll_votes_count=0,
                notify_settings=types.PeerNotifySettings(),
                pts=target.pts if isinstance(target, FakeChannel) else None,
            )
        )
        if top is not None:
            messages.append(top.tl(me.id))
    chats, users = chats_and_users(
        ctx,
        [t for t, _ in page if isinstance(t, FakeChannel)],
        [me, *(t for t, _ in page if isinstance(t, FakeUser))],
    )
    if total > len(page):
        return types.messages.DialogsSlice(
            count=total, dialogs=dialogs, messages=messages, chats=chats, users=users
        )
    return types.messages.Dialogs(dialogs=dialogs, messages=messages, chats=chats, users=users)


@handles(functions.contacts.ResolveUsernameRequest)
def resolve_username(ctx: CallContext, req: functions.contacts.ResolveUsernameRequest) -> TLObject:
    ctx.me()
    if not _USERNAME_RE.match(req.username or ""):
        raise RpcFail(400, "USERNAME_INVALID")
    world = ctx.world
    user = world.user_by_username(req.username)
    if user is not None:
        _, users = chats_and_users(ctx, [], [user])
        return types.contacts.ResolvedPeer(peer=user.peer(), chats=[], users=users)
    channel = world.channel_by_username(req.username)
    if channel is not None:
        chats, _ = chats_and_users(ctx, [channel], [])
        return types.contacts.ResolvedPeer(peer=channel.peer(), chats=chats, users=[])
    raise RpcFail(400, "USERNAME_NOT_OCCUPIED")


@handles(functions.channels.GetChannelsRequest)
def get_channels(ctx: CallContext, req: functions.channels.GetChannelsRequest) -> TLObject:
    found = [resolve_channel(ctx, c, read=False, bot_zero_hash=True) for c in req.id]
    chats, _ = chats_and_users(ctx, found, [])
    return types.messages.Chats(chats=chats)


@handles(functions.messages.GetChatsRequest)
def get_chats(ctx: CallContext, req: functions.messages.GetChatsRequest) -> TLObject:
    """Basic groups by id. This world has none (channels and supergroups are not
    "chats"): Telegram answers CHAT_ID_INVALID, also for a channel's id."""
    ctx.me()
    raise RpcFail(400, "CHAT_ID_INVALID")
