"""Who is asking, by network address: the peer, or the client behind a trusted proxy.

A proxy in front of fairdrop (nginx, a load balancer) connects from its own
address and names the client it serves in ``X-Forwarded-For``, each hop
appending the address it heard from. Anyone can send that header, so it is
believed only from a peer in FAIRDROP_TRUSTED_PROXIES, and then the client is
the right-most address in it that is not itself a trusted proxy: whatever a
client wrote into the header sits to the left of what the proxies appended.
A header that cannot be read is ignored, never a 500.

uvicorn's own reading of these headers is off (launch/cli.py), so this is
the one place that decides, for rate limits and the blocklist alike.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.requests import HTTPConnection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The longest address or block a person writes:
# "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128" is 49 characters.
MAX_NETWORK_CHARS = 49
# One person on IPv6 gets a whole /64 (often a /56 or /48) and picks addresses
# from it at will, so limits count a /64 as one address; IPv4 counts each.
IPV6_LIMIT_PREFIX = 64
# The limit key of a connection without an address (a unix socket, a test transport).
UNKNOWN = "unknown"


def parse_network(entry: str) -> IPNetwork:
    """An address or CIDR block as a person writes it; ValueError saying what is wrong.

    A block with bits set past its prefix (``203.0.113.7/24``) is refused
    rather than widened: on a blocklist, that typo would shut out 256 addresses.
    """
    text = entry.strip()
    if len(text) > MAX_NETWORK_CHARS:
        raise ValueError(f"{entry[:60]!r} is too long for an IP address or CIDR block")
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        try:
            widened = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IP address or CIDR block "
                "(like 198.51.100.7, 203.0.113.0/24 or 2001:db8::/32)"
            ) from None
        raise ValueError(
            f"{entry!r} has bits set past its prefix: did you mean {widened}?"
        ) from None


def network_text(network: IPNetwork) -> str:
    """How a blocklist shows an entry: one address bare, a block with its prefix."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it (bare, ``v4:port``, ``[v6]`` or ``[v6]:port``); else None.

    An IPv4 address mapped into IPv6 (``::ffff:192.0.2.1``, as a dual-stack
    socket reports IPv4 clients) is the IPv4 address, and a zone is dropped,
    so one client always has one spelling.
    """
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        return ipaddress.IPv6Address(int(address))  # without its %zone
    return address


class Networks:
    """Addresses and blocks that answer "is this address in one of them?" quickly.

    Grouped by prefix length: a lookup masks the address once per length in
    use (at most 33 for IPv4, 129 for IPv6) and asks a set, however many
    entries there are.
    """

    def __init__(self, networks: Iterable[IPNetwork] = ()) -> None:
        starts: dict[tuple[int, int], set[int]] = {}
        for network in networks:
            key = (network.version, network.prefixlen)
            starts.setdefault(key, set()).add(int(network.network_address))
        self._by_length = [
            (version, length, frozenset(found)) for (version, length), found in starts.items()
        ]

    def __bool__(self) -> bool:
        return bool(self._by_length)

    def __contains__(self, address: IPAddress | None) -> bool:
        if address is None:
            return False
        value, width = int(address), address.max_prefixlen
        for version, length, starts in self._by_length:
            if (
                version == address.version
                and value >> (width - length) << (width - length) in starts
            ):
                return True
        return False


def resolve_client(
    peer: str | None, forwarded_for: Sequence[str], trusted: Networks
) -> IPAddress | None:
    """The client's address: the peer, or behind trusted proxies the client they name."""
    address = parse_address(peer) if peer else None
    if address is None or address not in trusted or not forwarded_for:
        return address
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        named = parse_address(hop)
        if named is None:
            # A trusted proxy writes an address: this came from the client, or
            # from a proxy set up wrong. The last hop believed is the answer.
            return address
        if named not in trusted:
            return named
        address = named
    # Every hop is a trusted proxy: the client is one of those machines.
    return address


def client_address(conn: HTTPConnection, trusted: Networks) -> IPAddress | None:
    """The address of whoever sent this request or opened this socket (None: none known)."""
    peer = conn.client.host if conn.client else None
    return resolve_client(peer, conn.headers.getlist("x-forwarded-for"), trusted)


def limit_key(address: IPAddress | None) -> str:
    """What limits count an address as: itself for IPv4, its /64 for IPv6."""
    if address is None:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_LIMIT_PREFIX), strict=False))
    return str(address)
