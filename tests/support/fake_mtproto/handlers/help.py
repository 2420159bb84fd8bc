"""help.*, updates.* and users.*: configuration, update state, users."""

from __future__ import annotations

import datetime as dt

from telethon.tl import functions, types
from telethon.tl.tlobject import TLObject

from ..dispatch import CallContext, RpcFail, handles
from ._peers import resolve_user


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@handles(functions.help.GetConfigRequest)
def get_config(ctx: CallContext, req: functions.help.GetConfigRequest) -> TLObject:
    now = _now()
    return types.Config(
        date=now,
        expires=now + dt.timedelta(hours=1),
        test_mode=False,
        this_dc=ctx.world.dc_id,
        dc_options=[
            types.DcOption(id=ctx.world.dc_id, ip_address=ctx.server.host, port=ctx.server.port)
        ],
        dc_txt_domain_name="fake.invalid",
        chat_size_max=200,
        megagroup_size_max=200000,
        forwarded_count_max=100,
        online_update_period_ms=210000,
        offline_blur_timeout_ms=5000,
        offline_idle_timeout_ms=30000,
        online_cloud_timeout_ms=300000,
        notify_cloud_delay_ms=30000,
        notify_default_delay_ms=1500,
        push_chat_period_ms=60000,
        push_chat_limit=2,
        edit_time_limit=172800,
        revoke_time_limit=2147483647,
        revoke_pm_time_limit=2147483647,
        rating_e_decay=2419200,
        stickers_recent_limit=200,
        channels_read_media_period=604800,
        call_receive_timeout_ms=20000,
        call_ring_timeout_ms=90000,
        call_connect_timeout_ms=30000,
        call_packet_timeout_ms=10000,
        me_url_prefix="https://t.me/",
        caption_length_max=1024,
        message_length_max=4096,
        webfile_dc_id=ctx.world.dc_id,
    )


@handles(functions.help.GetNearestDcRequest)
def get_nearest_dc(ctx: CallContext, req: functions.help.GetNearestDcRequest) -> TLObject:
    dc = ctx.world.dc_id
    return types.NearestDc(country="ZZ", this_dc=dc, nearest_dc=dc)


@handles(functions.updates.GetStateRequest)
def get_state(ctx: CallContext, req: functions.updates.GetStateRequest) -> TLObject:
    me = ctx.me()
    box = ctx.world.box(me.id)
    return types.updates.State(pts=box.pts, qts=0, date=_now(), seq=0, unread_count=0)


@handles(functions.updates.GetDifferenceRequest)
def get_difference(ctx: CallContext, req: functions.updates.GetDifferenceRequest) -> TLObject:
    ctx.me()
    return types.updates.DifferenceEmpty(date=_now(), seq=0)


@handles(functions.updates.GetChannelDifferenceRequest)
def get_channel_difference(
    ctx: CallContext, req: functions.updates.GetChannelDifferenceRequest
) -> TLObject:
    from ._peers import resolve_channel

    channel = resolve_channel(ctx, req.channel)
    return types.updates.ChannelDifferenceEmpty(pts=channel.pts, final=True, timeout=30)


@handles(functions.users.GetUsersRequest)
def get_users(ctx: CallContext, req: functions.users.GetUsersRequest) -> TLObject:
    me = ctx.me()
    found: list[TLObject] = []
    for peer in req.id:
        try:
            found.append(resolve_user(ctx, peer).tl(me.id))
        except RpcFail:
            if len(req.id) == 1:
                raise
    return found  # type: ignore[return-value]  # Vector<User>


@handles(functions.users.GetFullUserRequest)
def get_full_user(ctx: CallContext, req: functions.users.GetFullUserRequest) -> TLObject:
    me = ctx.me()
    user = resolve_user(ctx, req.id)
    full = types.UserFull(
        id=user.id,
        settings=types.PeerSettings(),
        notify_settings=types.PeerNotifySettings(),
        common_chats_count=0,
    )
    return types.users.UserFull(full_user=full, chats=[], users=[user.tl(me.id)])
