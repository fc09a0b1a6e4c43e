"""web/client_address.py: the peer, or the client a trusted proxy names; never a crash."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from web.client_address import (
    Networks,
    limit_key,
    network_text,
    parse_address,
    parse_network,
    resolve_client,
)

PROXIES = Networks(
    parse_network(entry) for entry in ("127.0.0.1", "10.0.0.0/8", "2001:db8:ffff::/48")
)


def _client(peer: str | None, *forwarded_for: str, trusted: Networks = PROXIES) -> str | None:
    address = resolve_client(peer, list(forwarded_for), trusted)
    return None if address is None else str(address)


def test_without_a_trusted_peer_the_peer_is_the_client_whatever_the_header_says() -> None:
    assert _client("198.51.100.7") == "198.51.100.7"
    assert _client("198.51.100.7", "203.0.113.5") == "198.51.100.7"
    assert _client("2001:db8::7", "203.0.113.5") == "2001:db8::7"
    # No proxy is trusted unless the setting names one.
    assert _client("127.0.0.1", "203.0.113.5", trusted=Networks()) == "127.0.0.1"


def test_behind_trusted_proxies_the_client_is_the_right_most_untrusted_address() -> None:
    assert _client("127.0.0.1", "203.0.113.5") == "203.0.113.5"
    # What the client wrote itself sits to the left of what the proxy appended.
    assert _client("127.0.0.1", "1.1.1.1, 203.0.113.5") == "203.0.113.5"
    # Two trusted hops (a load balancer, then nginx) are walked past.
    assert _client("127.0.0.1", "6.6.6.6, 203.0.113.5, 10.1.2.3") == "203.0.113.5"
    # Several header lines are one list, in order.
    assert _client("127.0.0.1", "6.6.6.6, 203.0.113.5", "10.1.2.3") == "203.0.113.5"
    assert _client("127.0.0.1", "2001:db8::1, 10.0.0.9") == "2001:db8::1"
    assert _client("2001:db8:ffff::1", "198.51.100.1") == "198.51.100.1"
    # A trusted peer without the header is the client.
    assert _client("127.0.0.1") == "127.0.0.1"


def test_when_every_hop_is_trusted_the_left_most_is_the_client() -> None:
    assert _client("127.0.0.1", "10.0.0.1, 10.0.0.2") == "10.0.0.1"


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "",
        " , ",
        "203.0.113.5;rm -rf",
        "999.1.1.1",
        "unknown",
        "\x00",
        "203.0.113.5/24",
        "[2001:db8::1",
        "a" * 10_000,
    ],
)
def test_a_malformed_header_is_ignored(header: str) -> None:
    """The trusted peer stands in for a client it did not name readably."""
    assert _client("127.0.0.1", header) == "127.0.0.1"


def test_a_malformed_hop_left_of_a_readable_one_is_never_reached() -> None:
    assert _client("127.0.0.1", "garbage, 203.0.113.5") == "203.0.113.5"
    # Past a trusted hop, the garbage stops the walk at that hop.
    assert _client("127.0.0.1", "garbage, 10.0.0.2") == "10.0.0.2"


def test_addresses_as_proxies_write_them() -> None:
    assert _client("127.0.0.1", "203.0.113.5:4711") == "203.0.113.5"
    assert _client("127.0.0.1", "[2001:db8::1]:443") == "2001:db8::1"
    assert _client("127.0.0.1", "[2001:db8::1]") == "2001:db8::1"
    assert _client("127.0.0.1", " 203.0.113.5 ") == "203.0.113.5"


def test_one_client_has_one_spelling() -> None:
    # A dual-stack socket reports an IPv4 client mapped into IPv6.
    assert parse_address("::ffff:198.51.100.7") == ipaddress.IPv4Address("198.51.100.7")
    assert _client("::ffff:127.0.0.1", "203.0.113.5") == "203.0.113.5"
    assert parse_address("fe80::1%eth0") == ipaddress.IPv6Address("fe80::1")
    assert parse_address("2001:DB8::1") == parse_address("2001:db8:0::1")


def test_no_peer_is_no_address() -> None:
    assert _client(None, "203.0.113.5") is None
    assert _client("testclient", "203.0.113.5") is None
    assert limit_key(None) == "unknown"


def test_limits_count_an_ipv6_slash_64_as_one_address() -> None:
    """One person on IPv6 picks addresses from a /64 at will."""
    one = parse_address("2001:db8:1:2::1")
    other = parse_address("2001:db8:1:2:ffff:ffff:ffff:ffff")
    neighbour = parse_address("2001:db8:1:3::1")
    assert limit_key(one) == limit_key(other) == "2001:db8:1:2::/64"
    assert limit_key(neighbour) != limit_key(one)
    assert limit_key(parse_address("198.51.100.7")) == "198.51.100.7"


def test_networks_hold_what_their_blocks_hold() -> None:
    blocked = Networks(
        parse_network(e) for e in ("203.0.113.0/24", "2001:db8::/32", "198.51.100.7", "0.0.0.0/1")
    )
    # A mapped IPv4 address is that IPv4 address, inside 0.0.0.0/1.
    inside = ["203.0.113.0", "203.0.113.255", "2001:db8:ffff::1", "198.51.100.7", "::ffff:1.2.3.4"]
    outside = ["203.0.114.0", "2001:db9::", "198.51.100.8", "128.0.0.0", "::1", "::ffff:200.0.0.1"]
    for text in inside:
        assert parse_address(text) in blocked, text
    for text in outside:
        assert parse_address(text) not in blocked, text
    assert None not in blocked
    assert not Networks() and blocked


@given(st.ip_addresses(), st.lists(st.ip_addresses().map(ipaddress.ip_network), max_size=8))
def test_networks_agree_with_ipaddress(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> None:
    # Widen each to a block of a size picked from its own address, to mix lengths.
    blocks = [
        n.supernet(new_prefix=int(n.network_address) % (n.max_prefixlen + 1)) for n in networks
    ]
    expected = any(address in block for block in blocks)
    assert (address in Networks(blocks)) is expected


@pytest.mark.parametrize(
    ("entry", "shown"),
    [
        ("198.51.100.7", "198.51.100.7"),
        (" 203.0.113.0/24 ", "203.0.113.0/24"),
        ("2001:DB8::/32", "2001:db8::/32"),
        ("2001:db8::1/128", "2001:db8::1"),
        ("0.0.0.0/0", "0.0.0.0/0"),
    ],
)
def test_a_network_is_shown_as_a_person_writes_it(entry: str, shown: str) -> None:
    assert network_text(parse_network(entry)) == shown


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("203.0.113.7/24", "did you mean 203.0.113.0/24"),
        ("2001:db8::1/32", "did you mean 2001:db8::/32"),
        ("nginx", "is not an IP address or CIDR block"),
        ("198.51.100.256", "is not an IP address"),
        ("203.0.113.0/33", "is not an IP address"),
        ("", "is not an IP address"),
        ("1" * 60, "too long"),
    ],
)
def test_a_bad_network_says_what_is_wrong(entry: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_network(entry)
