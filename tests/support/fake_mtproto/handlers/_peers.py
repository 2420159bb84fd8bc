"""Resolving Input* peers the way Telegram does (access hashes checked, bots may pass 0)."""

from __future__ import annotations

from typing import Any

from telethon.tl import types

from ..dispatch import CallContext, RpcFail
from ..world import FakeChannel, FakeUser

__all__ = ["chats_and_users", "no_bots", "resolve_channel", "resolve_peer", "resolve_user"]


def no_bots(ctx: CallContext) -> None:
    """Telegram refuses history, search and dialogs to bots: 400 BOT_METHOD_INVALID."""
    if ctx.me().bot:
        raise RpcFail(400, "BOT_METHOD_INVALID")


def resolve_user(ctx: CallContext, peer: Any) -> FakeUser:
    me = ctx.me()
    if isinstance(peer, types.InputUserSelf | types.InputPeerSelf):
        return me
    if isinstance(peer, types.InputUser | types.InputPeerUser):
        user = ctx.world.users.get(peer.user_id)
        # Telegram lets bots address users with access_hash 0; accounts need the real hash.
        if user is None or (
            peer.access_hash != user.access_hash and not (me.bot and peer.access_hash == 0)
        ):
            raise RpcFail(
                400, "USER_ID_INVALID" if isinstance(peer, types.InputUser) else "PEER_ID_INVALID"
            )
        return user
    if isinstance(peer, types.InputUserEmpty | types.InputPeerEmpty):
        raise RpcFail(400, "USER_ID_INVALID")
    raise RpcFail(400, "PEER_ID_INVALID")


def resolve_channel(
    ctx: CallContext, peer: Any, *, read: bool = True, bot_zero_hash: bool = False
) -> FakeChannel:
    """The channel ``peer`` names with the caller's own access hash (each account has
    its own). ``bot_zero_hash``: a bot may pass 0 for a channel it is in (what
    channels.getChannels allows, so that a bot can learn its hash)."""
    me = ctx.me()
    if isinstance(peer, types.InputChannel | types.InputPeerChannel):
        channel = ctx.world.channels.get(peer.channel_id)
        zero_ok = bot_zero_hash and me.bot and peer.access_hash == 0
        if channel is None or not (
            peer.access_hash == channel.hash_for(me.id) or (zero_ok and me.id in channel.members)
        ):
            raise RpcFail(400, "CHANNEL_INVALID")
        if read and not channel.can_read(ctx.user_id):
            raise RpcFail(400, "CHANNEL_PRIVATE")
        return channel
    raise RpcFail(400, "CHANNEL_INVALID")


def resolve_peer(ctx: CallContext, peer: Any) -> FakeUser | FakeChannel:
    if isinstance(peer, types.InputPeerChannel | types.InputChannel):
        return resolve_channel(ctx, peer)
    if isinstance(peer, types.InputPeerChat):
        raise RpcFail(400, "CHAT_ID_INVALID")  # sending into basic groups is not modelled
    return resolve_user(ctx, peer)


def chats_and_users(
    ctx: CallContext, channels: list[FakeChannel], users: list[FakeUser]
) -> tuple[list[types.Channel], list[types.User]]:
    viewer = ctx.user_id
    seen_c: dict[int, types.Channel] = {}
    seen_u: dict[int, types.User] = {}
    for c in channels:
        seen_c.setdefault(c.id, c.tl(viewer))
    for u in users:
        seen_u.setdefault(u.id, u.tl(viewer))
    return list(seen_c.values()), list(seen_u.values())
