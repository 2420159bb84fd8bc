"""Server-side MTProto cryptography: the RSA key, DH group, AES-IGE and message keys.

AES-IGE itself comes from Telethon's ``telethon.crypto.AES`` (cryptg underneath);
everything else — the RSA decryption of the client's ``p_q_inner_data``, the DH group
and the MTProto 2.0 key derivation seen from the *server* side — is done here.
"""

from __future__ import annotations

import os
import secrets
import shutil
import struct
import subprocess
from dataclasses import dataclass
from hashlib import sha1, sha256
from pathlib import Path

import rsa
from telethon.crypto import AES
from telethon.tl.tlobject import TLObject

__all__ = [
    "AES",
    "DH_G",
    "DH_PRIME",
    "AuthKeyData",
    "ServerRSAKey",
    "decrypt_client_message",
    "encrypt_server_message",
    "make_pq",
    "nonce_key_iv",
]

# Telegram's published 2048-bit safe prime (core.telegram.org/mtproto/auth_key), g = 3.
# Telethon's SRP code knows this exact prime, so 2FA needs no slow primality test.
DH_PRIME = int(
    "c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f"
    "48198a0aa7c14058229493d22530f4dbfa336f6e0ac925139543aed44cce7c37"
    "20fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f64"
    "2477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4"
    "a4a695811051907e162753b56b0f6b410dba74d8a84b2a14b3144e0ef1284754"
    "fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4"
    "e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f"
    "0d8115f635b105ee2e4e15d04b2454bf6f4fadf034b10403119cd8e3b92fcc5b",
    16,
)
DH_G = 3


def int_to_bytes(value: int) -> bytes:
    """Big-endian bytes of minimal length, as MTProto encodes pq, p, q, g_a."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


class ServerRSAKey:
    """The server's 2048-bit RSA key pair; the public half is handed to clients as PEM."""

    def __init__(self) -> None:
        self.private = _generate_private_key()
        self.public = rsa.PublicKey(self.private.n, self.private.e)

    @property
    def public_pem(self) -> bytes:
        """PKCS#1 PEM (``-----BEGIN RSA PUBLIC KEY-----``), what ``rsa.add_key`` takes."""
        data: bytes = self.public.save_pkcs1("PEM")
        return data

    @property
    def fingerprint(self) -> int:
        """Lower 64 bits of SHA1(n, e) as TL bytes — Telegram's key fingerprint."""
        n = TLObject.serialize_bytes(int_to_bytes(self.public.n))
        e = TLObject.serialize_bytes(int_to_bytes(self.public.e))
        value: int = struct.unpack("<q", sha1(n + e).digest()[-8:])[0]
        return value

    def write_public(self, path: Path) -> Path:
        path.write_bytes(self.public_pem)
        return path

    def decrypt_raw(self, block: bytes) -> bytes:
        """Textbook RSA: the client pads the data itself (SHA1 + data + random)."""
        value = int.from_bytes(block, "big")
        if value >= self.public.n:
            raise ValueError("RSA block out of range")
        plain = pow(value, self.private.d, self.public.n)
        return plain.to_bytes(256, "big")


def _generate_private_key() -> rsa.PrivateKey:
    """A fresh 2048-bit key: OpenSSL takes ~0.1 s where pure-Python ``rsa`` takes seconds."""
    openssl = shutil.which("openssl")
    if openssl:
        pem = subprocess.run(
            [openssl, "genrsa", "-traditional", "2048"],
            check=True,
            capture_output=True,
            timeout=60,
        ).stdout
        key: rsa.PrivateKey = rsa.PrivateKey.load_pkcs1(pem)
        return key
    return rsa.newkeys(2048, poolsize=1)[1]


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in (2, 3, 5, 7, 11, 13, 17):  # deterministic below 3.4e14
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _random_prime(bits: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (1 << (bits - 1)) | 1
        if _is_prime(candidate):
            return candidate


def make_pq() -> tuple[int, int, int]:
    """A product of two distinct ~31-bit primes, p < q, as Telegram sends in res_pq."""
    while True:
        p, q = _random_prime(31), _random_prime(31)
        if p != q:
            p, q = min(p, q), max(p, q)
            return p * q, p, q


def nonce_key_iv(server_nonce: int, new_nonce: int) -> tuple[bytes, bytes]:
    """tmp_aes_key / tmp_aes_iv of the DH exchange (core.telegram.org/mtproto/auth_key)."""
    sn = server_nonce.to_bytes(16, "little", signed=True)
    nn = new_nonce.to_bytes(32, "little", signed=True)
    h1 = sha1(nn + sn).digest()
    h2 = sha1(sn + nn).digest()
    h3 = sha1(nn + nn).digest()
    return h1 + h2[:12], h2[12:20] + h3 + nn[:4]


@dataclass
class AuthKeyData:
    """A 2048-bit authorization key and the ids derived from it."""

    key: bytes

    @property
    def key_id(self) -> int:
        value: int = struct.unpack("<Q", sha1(self.key).digest()[12:20])[0]
        return value

    @property
    def aux_hash(self) -> int:
        value: int = struct.unpack("<Q", sha1(self.key).digest()[:8])[0]
        return value

    def new_nonce_hash(self, new_nonce: int, number: int) -> int:
        data = new_nonce.to_bytes(32, "little", signed=True) + struct.pack(
            "<BQ", number, self.aux_hash
        )
        return int.from_bytes(sha1(data).digest()[4:20], "little", signed=True)


def _aes_key_iv(auth_key: bytes, msg_key: bytes, x: int) -> tuple[bytes, bytes]:
    """MTProto 2.0 key derivation; x = 0 for client→server, 8 for server→client."""
    a = sha256(msg_key + auth_key[x : x + 36]).digest()
    b = sha256(auth_key[40 + x : 76 + x] + msg_key).digest()
    return a[:8] + b[8:24] + a[24:32], b[:8] + a[8:24] + b[24:32]


def decrypt_client_message(auth_key: bytes, msg_key: bytes, encrypted: bytes) -> bytes:
    """Decrypt a client message and verify msg_key; raises ValueError when it does not match."""
    if len(encrypted) % 16 or not encrypted:
        raise ValueError("encrypted data is not a multiple of 16 bytes")
    key, iv = _aes_key_iv(auth_key, msg_key, 0)
    plain: bytes = AES.decrypt_ige(encrypted, key, iv)
    if sha256(auth_key[88:120] + plain).digest()[8:24] != msg_key:
        raise ValueError("msg_key mismatch")
    return plain


def encrypt_server_message(auth_key: bytes, key_id: int, plain: bytes) -> bytes:
    """auth_key_id + msg_key + AES-IGE(plain + 12..1024 padding bytes) for the server side."""
    padding = os.urandom(12 + (-(len(plain) + 12) % 16))
    data = plain + padding
    msg_key = sha256(auth_key[96:128] + data).digest()[8:24]
    key, iv = _aes_key_iv(auth_key, msg_key, 8)
    return struct.pack("<Q", key_id) + msg_key + AES.encrypt_ige(data, key, iv)
