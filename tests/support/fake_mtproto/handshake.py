"""The unencrypted part of MTProto: creating an authorization key with DH.

Implements core.telegram.org/mtproto/auth_key from the server side: res_pq with a pq to
factorise and our RSA fingerprint, req_DH_params (RSA-decrypt and check p_q_inner_data),
server_DH_params_ok with the AES-IGE encrypted DH parameters, set_client_DH_params →
dh_gen_ok with the new nonce hash.
"""

from __future__ import annotations

import os
import secrets
import time
from hashlib import sha1, sha256
from typing import TYPE_CHECKING

from telethon.extensions import BinaryReader
from telethon.tl import functions, types
from telethon.tl.tlobject import TLObject

from .crypto import AES, DH_G, DH_PRIME, AuthKeyData, int_to_bytes, make_pq, nonce_key_iv

if TYPE_CHECKING:
    from .crypto import ServerRSAKey

__all__ = ["HandshakeError", "KeyExchange"]


class HandshakeError(Exception):
    """The client broke the key exchange; the connection is closed."""


def _int128() -> int:
    return int.from_bytes(os.urandom(16), "little", signed=True)


def _decode_inner_data(plain: bytes) -> TLObject:
    """p_q_inner_data from the RSA block, in either padding the protocol allows.

    Telethon 1.45 sends the original scheme: SHA1(data) + data + random bytes, 255 bytes in
    all (so the 256-byte block starts with a zero byte). Newer clients send RSA_PAD:
    temp_key_xor (32) + AES-256-IGE(reversed(data + padding to 192) + SHA256(temp_key +
    data + padding), temp_key, zero IV) (224), with temp_key_xor = temp_key XOR
    SHA256(the AES part).
    """
    if plain[0] == 0:
        payload = plain[1:]
        try:
            with BinaryReader(payload[20:]) as reader:
                inner = reader.tgread_object()
                used = reader.tell_position()
        except Exception:  # not this scheme after all (an RSA_PAD block may start with 0)
            used = -1
        if used > 0 and sha1(payload[20 : 20 + used]).digest() == payload[:20]:
            return inner
    temp_key_xor, aes_encrypted = plain[:32], plain[32:]
    temp_key = bytes(
        a ^ b for a, b in zip(temp_key_xor, sha256(aes_encrypted).digest(), strict=True)
    )
    data_with_hash = AES.decrypt_ige(aes_encrypted, temp_key, bytes(32))
    data_with_padding = data_with_hash[:192][::-1]
    if sha256(temp_key + data_with_padding).digest() != data_with_hash[192:]:
        raise HandshakeError("p_q_inner_data hash mismatch (neither padding scheme)")
    with BinaryReader(data_with_padding) as reader:
        decoded: TLObject = reader.tgread_object()
    return decoded


class KeyExchange:
    """State of one DH exchange on one connection."""

    def __init__(self, rsa_key: ServerRSAKey) -> None:
        self._rsa = rsa_key
        self.nonce: int | None = None
        self.server_nonce = _int128()
        self._pq, self._p, self._q = make_pq()
        self._new_nonce: int | None = None
        self._a = 0
        self._tmp: tuple[bytes, bytes] | None = None
        self.auth_key: AuthKeyData | None = None
        self.first_salt = 0

    def handle(self, obj: TLObject) -> TLObject:
        if isinstance(obj, functions.ReqPqMultiRequest | functions.ReqPqRequest):
            self.nonce = obj.nonce
            return types.ResPQ(
                nonce=obj.nonce,
                server_nonce=self.server_nonce,
                pq=int_to_bytes(self._pq),
                server_public_key_fingerprints=[self._rsa.fingerprint],
            )
        if isinstance(obj, functions.ReqDHParamsRequest):
            return self._req_dh_params(obj)
        if isinstance(obj, functions.SetClientDHParamsRequest):
            return self._set_client_dh_params(obj)
        raise HandshakeError(f"unexpected unencrypted {type(obj).__name__}")

    def _check_nonces(self, nonce: int, server_nonce: int) -> None:
        if self.nonce is None or nonce != self.nonce or server_nonce != self.server_nonce:
            raise HandshakeError("nonce mismatch")

    def _req_dh_params(self, req: functions.ReqDHParamsRequest) -> TLObject:
        self._check_nonces(req.nonce, req.server_nonce)
        if req.public_key_fingerprint != self._rsa.fingerprint:
            raise HandshakeError("unknown RSA key fingerprint")
        if int.from_bytes(req.p, "big") != self._p or int.from_bytes(req.q, "big") != self._q:
            raise HandshakeError("wrong factorisation of pq")
        inner = _decode_inner_data(self._rsa.decrypt_raw(req.encrypted_data))
        if not isinstance(inner, types.PQInnerData | types.PQInnerDataDc):
            raise HandshakeError(f"unexpected {type(inner).__name__} in req_DH_params")
        self._check_nonces(inner.nonce, inner.server_nonce)
        if int.from_bytes(inner.pq, "big") != self._pq:
            raise HandshakeError("pq mismatch in p_q_inner_data")
        self._new_nonce = inner.new_nonce

        while True:
            self._a = secrets.randbits(2048) % DH_PRIME
            g_a = pow(DH_G, self._a, DH_PRIME)
            safety = 2 ** (2048 - 64)
            if safety <= g_a <= DH_PRIME - safety:
                break
        answer = bytes(
            types.ServerDHInnerData(
                nonce=self.nonce,
                server_nonce=self.server_nonce,
                g=DH_G,
                dh_prime=int_to_bytes(DH_PRIME),
                g_a=int_to_bytes(g_a),
                server_time=int(time.time()),
            )
        )
        with_hash = sha1(answer).digest() + answer
        with_hash += os.urandom(-len(with_hash) % 16)
        key, iv = nonce_key_iv(self.server_nonce, inner.new_nonce)
        self._tmp = (key, iv)
        return types.ServerDHParamsOk(
            nonce=self.nonce,
            server_nonce=self.server_nonce,
            encrypted_answer=AES.encrypt_ige(with_hash, key, iv),
        )

    def _set_client_dh_params(self, req: functions.SetClientDHParamsRequest) -> TLObject:
        self._check_nonces(req.nonce, req.server_nonce)
        if self._tmp is None or self._new_nonce is None:
            raise HandshakeError("set_client_DH_params before req_DH_params")
        if len(req.encrypted_data) % 16:
            raise HandshakeError("client DH data not a multiple of 16 bytes")
        plain = AES.decrypt_ige(req.encrypted_data, *self._tmp)
        with BinaryReader(plain[20:]) as reader:
            inner = reader.tgread_object()
            used = reader.tell_position()
        if sha1(plain[20 : 20 + used]).digest() != plain[:20]:
            raise HandshakeError("client_DH_inner_data hash mismatch")
        if not isinstance(inner, types.ClientDHInnerData):
            raise HandshakeError(f"unexpected {type(inner).__name__} in set_client_DH_params")
        self._check_nonces(inner.nonce, inner.server_nonce)
        g_b = int.from_bytes(inner.g_b, "big")
        safety = 2 ** (2048 - 64)
        if not (safety <= g_b <= DH_PRIME - safety):
            raise HandshakeError("g_b out of the safe range")
        auth_key = AuthKeyData(pow(g_b, self._a, DH_PRIME).to_bytes(256, "big"))
        self.auth_key = auth_key
        nn = self._new_nonce.to_bytes(32, "little", signed=True)
        sn = self.server_nonce.to_bytes(16, "little", signed=True)
        salt = bytes(a ^ b for a, b in zip(nn[:8], sn[:8], strict=True))
        self.first_salt = int.from_bytes(salt, "little", signed=True)
        return types.DhGenOk(
            nonce=self.nonce,
            server_nonce=self.server_nonce,
            new_nonce_hash1=auth_key.new_nonce_hash(self._new_nonce, 1),
        )
