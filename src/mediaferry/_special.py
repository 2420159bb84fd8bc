"""Special-purpose addresses: the one table the URL policy refuses.

Built from the IANA IPv4 and IPv6 Special-Purpose Address Registries
(iana-ipv4-special-registry, iana-ipv6-special-registry): every block whose
"Globally Reachable" is False or N/A, plus multicast and the limited broadcast. A
more specific block marked True inside a refused one (192.0.0.9/32 PCP anycast,
2001:3::/32 AMT, 2001:20::/28 ORCHIDv2 …) stays refused: those are protocol
anycast addresses, never a media host, and a smaller rule is a safer rule.

Python's ``ipaddress.is_global`` is *not* used: on 3.11 it calls most of
192.0.0.0/24, 6to4 and the NAT64 prefix global.

IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 well-known
prefix, 6to4, Teredo) are also judged by the IPv4 address they lead to, so
``64:ff9b::a9fe:a9fe`` is refused as ``169.254.169.254``.

Nothing here touches the network; :mod:`mediaferry.urls` applies it at intake and
at every connect, and any future fetcher (MTProto, feeds) imports :func:`refusal`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = [
    "IPV4_SPECIAL",
    "IPV6_SPECIAL",
    "SpecialBlock",
    "embedded_ipv4",
    "refusal",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class SpecialBlock:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    name: str
    source: str  # RFC or registry the block comes from

    def __str__(self) -> str:
        return f"{self.network} ({self.name})"


def _blocks(rows: tuple[tuple[str, str, str], ...]) -> tuple[SpecialBlock, ...]:
    return tuple(SpecialBlock(ipaddress.ip_network(net), name, src) for net, name, src in rows)


# Globally Reachable False or N/A in the IANA IPv4 registry, plus multicast.
IPV4_SPECIAL = _blocks(
    (
        ("0.0.0.0/8", "This network", "RFC 791"),
        ("10.0.0.0/8", "Private-Use", "RFC 1918"),
        ("100.64.0.0/10", "Shared Address Space", "RFC 6598"),
        ("127.0.0.0/8", "Loopback", "RFC 1122"),
        ("169.254.0.0/16", "Link Local", "RFC 3927"),
        ("172.16.0.0/12", "Private-Use", "RFC 1918"),
        ("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890"),
        ("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737"),
        ("192.88.99.0/24", "Deprecated 6to4 Relay Anycast", "RFC 7526"),
        ("192.168.0.0/16", "Private-Use", "RFC 1918"),
        ("198.18.0.0/15", "Benchmarking", "RFC 2544"),
        ("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737"),
        ("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737"),
        ("224.0.0.0/4", "Multicast", "RFC 5771"),
        ("240.0.0.0/4", "Reserved", "RFC 1112"),
        ("255.255.255.255/32", "Limited Broadcast", "RFC 919"),
    )
)

# Globally Reachable False or N/A in the IANA IPv6 registry, plus multicast and the
# deprecated site-local block (RFC 3879), which nothing routes globally.
IPV6_SPECIAL = _blocks(
    (
        ("::/128", "Unspecified Address", "RFC 4291"),
        ("::1/128", "Loopback Address", "RFC 4291"),
        ("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291"),
        ("64:ff9b:1::/48", "Local-Use IPv4/IPv6 Translation", "RFC 8215"),
        ("100::/64", "Discard-Only Address Block", "RFC 6666"),
        ("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780"),
        ("2001::/23", "IETF Protocol Assignments", "RFC 2928"),
        ("2001::/32", "TEREDO", "RFC 4380"),
        ("2001:2::/48", "Benchmarking", "RFC 5180"),
        ("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843"),
        ("2001:db8::/32", "Documentation", "RFC 3849"),
        ("2002::/16", "6to4", "RFC 3056"),
        ("3fff::/20", "Documentation", "RFC 9637"),
        ("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602"),
        ("fc00::/7", "Unique-Local", "RFC 4193"),
        ("fe80::/10", "Link-Local Unicast", "RFC 4291"),
        ("fec0::/10", "Deprecated Site-Local", "RFC 3879"),
        ("ff00::/8", "Multicast", "RFC 4291"),
    )
)

_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_LOW32 = 0xFFFFFFFF


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to, for the forms that embed one.

    IPv4-mapped and -compatible and the NAT64 well-known prefix carry it in the low
    32 bits, 6to4 in bits 16–47, Teredo's client address is the bitwise NOT of the
    low 32 bits (RFC 4380 §4).
    """
    value = int(ip)
    if ip in _MAPPED or ip in _NAT64 or (ip in _COMPATIBLE and value > 1):
        return ipaddress.IPv4Address(value & _LOW32)
    if ip in _SIXTOFOUR:
        return ipaddress.IPv4Address((value >> 80) & _LOW32)
    if ip in _TEREDO:
        return ipaddress.IPv4Address(~value & _LOW32)
    return None


def _block_of(ip: IPAddress) -> SpecialBlock | None:
    table = IPV4_SPECIAL if ip.version == 4 else IPV6_SPECIAL
    for block in table:
        if ip in block.network:
            return block
    return None


def refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be connected to, or None for a globally reachable address."""
    block = _block_of(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            inner_block = _block_of(inner)
            if inner_block is not None:
                return f"{ip} leads to {inner}, in {inner_block}"
    if block is not None:
        return f"{ip} is in {block}"
    return None
