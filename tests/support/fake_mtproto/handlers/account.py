"""auth.* and account.getPassword: bot tokens, phone + code login, 2FA (SRP), logout."""

from __future__ import annotations

import hashlib
import os
import secrets

from telethon import password as tpassword
from telethon.tl import functions, types
from telethon.tl.tlobject import TLObject

from ..crypto import DH_G, DH_PRIME, int_to_bytes
from ..dispatch import CallContext, RpcFail, handles
from ..world import FakeUser

_P_BYTES = int_to_bytes(DH_PRIME)


def _authorization(ctx: CallContext, user: FakeUser) -> TLObject:
    ctx.server.login(ctx.auth, user.id)
    ctx.auth.pending.clear()
    return types.auth.Authorization(user=user.tl(user.id))


def _check_api(ctx: CallContext, api_id: int, api_hash: str) -> None:
    world = ctx.world
    if api_id <= 0 or (world.api_id is not None and api_id != world.api_id):
        raise RpcFail(400, "API_ID_INVALID")
    if world.api_hash is not None and api_hash != world.api_hash:
        raise RpcFail(400, "API_ID_INVALID")


@handles(functions.auth.ImportBotAuthorizationRequest)
def import_bot_authorization(
    ctx: CallContext, req: functions.auth.ImportBotAuthorizationRequest
) -> TLObject:
    _check_api(ctx, req.api_id, req.api_hash)
    bot = ctx.world.user_by_token(req.bot_auth_token)
    if bot is None:
        raise RpcFail(400, "ACCESS_TOKEN_INVALID")
    return _authorization(ctx, bot)


@handles(functions.auth.SendCodeRequest)
def send_code(ctx: CallContext, req: functions.auth.SendCodeRequest) -> TLObject:
    _check_api(ctx, req.api_id, req.api_hash)
    user = ctx.world.user_by_phone(req.phone_number)
    if user is None or user.bot:
        raise RpcFail(400, "PHONE_NUMBER_INVALID")
    code_hash = secrets.token_hex(8)
    ctx.auth.pending.update(phone=req.phone_number, code_hash=code_hash, user_id=user.id)
    return types.auth.SentCode(
        type=types.auth.SentCodeTypeApp(length=len(user.login_code)),
        phone_code_hash=code_hash,
        timeout=60,
    )


@handles(functions.auth.SignInRequest)
def sign_in(ctx: CallContext, req: functions.auth.SignInRequest) -> TLObject:
    pending = ctx.auth.pending
    if not req.phone_code_hash:
        raise RpcFail(400, "PHONE_CODE_HASH_EMPTY")
    if pending.get("code_hash") != req.phone_code_hash or pending.get("phone") != req.phone_number:
        raise RpcFail(400, "PHONE_CODE_EXPIRED")
    user = ctx.world.users[pending["user_id"]]
    if not req.phone_code:
        raise RpcFail(400, "PHONE_CODE_EMPTY")
    if req.phone_code != user.login_code:
        raise RpcFail(400, "PHONE_CODE_INVALID")
    if user.password is not None:
        pending["password_needed"] = True
        raise RpcFail(401, "SESSION_PASSWORD_NEEDED")
    return _authorization(ctx, user)


def _srp_user(ctx: CallContext) -> FakeUser:
    if ctx.auth.user_id is not None:
        return ctx.me()
    pending = ctx.auth.pending
    if not pending.get("password_needed"):
        raise RpcFail(401, "AUTH_KEY_UNREGISTERED")
    user: FakeUser = ctx.world.users[pending["user_id"]]
    return user


def _verifier(
    algo: types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow, password: str
) -> int:
    x = int.from_bytes(tpassword.compute_hash(algo, password), "big")
    return pow(DH_G, x, DH_PRIME)


@handles(functions.account.GetPasswordRequest)
def get_password(ctx: CallContext, req: functions.account.GetPasswordRequest) -> TLObject:
    user = _srp_user(ctx)
    new_algo = types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
        salt1=os.urandom(32), salt2=os.urandom(16), g=DH_G, p=_P_BYTES
    )
    common = dict(
        new_algo=new_algo,
        new_secure_algo=types.SecurePasswordKdfAlgoSHA512(salt=os.urandom(16)),
        secure_random=os.urandom(32),
    )
    if user.password is None:
        return types.account.Password(has_password=False, **common)  # type: ignore[arg-type]
    algo = ctx.auth.pending.get("srp_algo")
    if algo is None:
        # One salt per account in real life; here one per login attempt is as good.
        algo = types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
            salt1=os.urandom(32), salt2=os.urandom(16), g=DH_G, p=_P_BYTES
        )
        ctx.auth.pending["srp_algo"] = algo
    v = _verifier(algo, user.password)
    b = int.from_bytes(os.urandom(256), "big") % DH_PRIME
    k = int.from_bytes(hashlib.sha256(_P_BYTES + DH_G.to_bytes(256, "big")).digest(), "big")
    big_b = (k * v + pow(DH_G, b, DH_PRIME)) % DH_PRIME
    srp_id = secrets.randbits(63)
    ctx.auth.pending["srp"] = (srp_id, b, big_b, v)
    return types.account.Password(
        has_password=True,
        current_algo=algo,
        srp_B=big_b.to_bytes(256, "big"),
        srp_id=srp_id,
        hint=None,
        **common,  # type: ignore[arg-type]
    )


@handles(functions.auth.CheckPasswordRequest)
def check_password(ctx: CallContext, req: functions.auth.CheckPasswordRequest) -> TLObject:
    user = _srp_user(ctx)
    pending = ctx.auth.pending
    check = req.password
    srp = pending.get("srp")
    if not isinstance(check, types.InputCheckPasswordSRP) or srp is None:
        raise RpcFail(400, "PASSWORD_HASH_INVALID")
    srp_id, b, big_b, v = srp
    if check.srp_id != srp_id:
        raise RpcFail(400, "SRP_ID_INVALID")
    algo = pending["srp_algo"]
    sha = hashlib.sha256
    a_bytes = check.A.rjust(256, b"\0")
    big_a = int.from_bytes(a_bytes, "big")
    if not 1 < big_a < DH_PRIME - 1:
        raise RpcFail(400, "SRP_A_INVALID")
    b_bytes = big_b.to_bytes(256, "big")
    u = int.from_bytes(sha(a_bytes + b_bytes).digest(), "big")
    s = pow(big_a * pow(v, u, DH_PRIME) % DH_PRIME, b, DH_PRIME)
    k_hash = sha(s.to_bytes(256, "big")).digest()
    p_hash, g_hash = sha(_P_BYTES).digest(), sha(DH_G.to_bytes(256, "big")).digest()
    m1 = sha(
        bytes(x ^ y for x, y in zip(p_hash, g_hash, strict=True))
        + sha(algo.salt1).digest()
        + sha(algo.salt2).digest()
        + a_bytes
        + b_bytes
        + k_hash
    ).digest()
    pending.pop("srp", None)
    if m1 != check.M1:
        raise RpcFail(400, "PASSWORD_HASH_INVALID")
    return _authorization(ctx, user)


@handles(functions.auth.LogOutRequest)
def log_out(ctx: CallContext, req: functions.auth.LogOutRequest) -> TLObject:
    ctx.me()
    ctx.server.login(ctx.auth, None)
    return types.auth.LoggedOut()


@handles(functions.auth.ExportAuthorizationRequest)
def export_authorization(
    ctx: CallContext, req: functions.auth.ExportAuthorizationRequest
) -> TLObject:
    me = ctx.me()
    if req.dc_id == ctx.world.dc_id:
        raise RpcFail(400, "DC_ID_INVALID")  # Telegram refuses exporting to the same DC
    export_id, token = ctx.server.new_exported_authorization(me.id)
    return types.auth.ExportedAuthorization(id=export_id, bytes=token)


@handles(functions.auth.ImportAuthorizationRequest)
def import_authorization(
    ctx: CallContext, req: functions.auth.ImportAuthorizationRequest
) -> TLObject:
    entry = ctx.server.exported_auth.pop(req.id, None)
    if entry is None or entry[1] != req.bytes:
        raise RpcFail(400, "AUTH_BYTES_INVALID")
    return _authorization(ctx, ctx.world.users[entry[0]])
