"""The special-purpose address table (IANA registries) is what the URL policy refuses."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaferry._special import IPV4_SPECIAL, IPV6_SPECIAL, SpecialBlock, embedded_ipv4
from mediaferry.errors import UrlRejected
from mediaferry.urls import check_address, check_url, is_blocked_ip

BLOCKS = [*IPV4_SPECIAL, *IPV6_SPECIAL]
# Every block the IANA registries mark "Globally Reachable: False" or N/A must be here.
REGISTRY_NOT_GLOBAL = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.0.0/29", "192.0.0.8/32", "192.0.0.170/32",
    "192.0.0.171/32", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
    "::1/128", "::/128", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
    "2001::/32", "2001:2::/48", "2001:10::/28", "2001:db8::/32", "2002::/16", "3fff::/20",
    "5f00::/16", "fc00::/7", "fe80::/10",
]  # fmt: skip
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:2800:220:1:248:1893:25c8:1946"]


def _inside(block: SpecialBlock) -> list[str]:
    net = block.network
    return sorted({str(net[0]), str(net[-1]), str(net[net.num_addresses // 2])})


@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_every_block_is_refused_at_connect_and_at_intake(block: SpecialBlock) -> None:
    for address in _inside(block):
        with pytest.raises(UrlRejected, match="private or local"):
            check_address(address, allow_private=False)
        check_address(address, allow_private=True)
        host = address if ":" not in address else f"[{address}]"
        with pytest.raises(UrlRejected, match="private or local"):
            check_url(f"http://{host}/latest/meta-data/")


@pytest.mark.parametrize("network", REGISTRY_NOT_GLOBAL)
def test_the_table_covers_the_registry(network: str) -> None:
    net = ipaddress.ip_network(network)
    assert any(net.subnet_of(b.network) for b in BLOCKS if b.network.version == net.version)  # type: ignore[arg-type]


@given(st.sampled_from(BLOCKS), st.integers(min_value=0))
def test_any_address_in_a_block_is_blocked(block: SpecialBlock, offset: int) -> None:
    net = block.network
    assert is_blocked_ip(net[offset % net.num_addresses])


@pytest.mark.parametrize(
    "address",
    ["192.0.0.192", "192.0.0.9", "192.0.0.10", "192.88.99.1", "2002:c0a8:101::1", "3fff::1"],
)
def test_what_is_global_on_311_calls_global_is_refused(address: str) -> None:
    with pytest.raises(UrlRejected, match="private or local"):
        check_address(address, allow_private=False)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    check_address(address, allow_private=False)


def _forms(v4: ipaddress.IPv4Address) -> dict[str, ipaddress.IPv6Address]:
    n = int(v4)
    return {
        "nat64": ipaddress.IPv6Address((0x64FF9B << 96) | n),
        "mapped": ipaddress.IPv6Address((0xFFFF << 32) | n),
        "compatible": ipaddress.IPv6Address(n),
        "6to4": ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1),
        "teredo": ipaddress.IPv6Address(
            (0x20010000 << 96) | (0x5DB8D822 << 64) | (~n & 0xFFFFFFFF)
        ),
    }


@given(st.ip_addresses(v=4))
def test_embedded_ipv4_is_judged_by_the_ipv4_table(v4: ipaddress.IPv4Address) -> None:
    for kind, v6 in _forms(v4).items():
        if kind == "compatible" and int(v4) <= 1:
            continue  # ::/128 and ::1 are their own blocks
        assert embedded_ipv4(v6) == v4, kind
        if is_blocked_ip(v4):
            assert is_blocked_ip(v6), kind
    # the NAT64 well-known prefix and the compatible form lead to the IPv4 host: same verdict
    assert is_blocked_ip(_forms(v4)["nat64"]) == is_blocked_ip(v4)
    if int(v4) > 1:
        assert is_blocked_ip(_forms(v4)["compatible"]) == is_blocked_ip(v4)


@pytest.mark.parametrize(
    ("address", "embedded"),
    [
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("64:ff9b::c000:c0", "192.0.0.192"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("::127.0.0.1", "127.0.0.1"),
        ("2002:7f00:1::", "127.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45"),  # RFC 4380's example
    ],
)
def test_embedded_forms_name_the_ipv4_they_lead_to(address: str, embedded: str) -> None:
    with pytest.raises(UrlRejected, match=embedded.replace(".", r"\.")):
        check_address(address, allow_private=False)
