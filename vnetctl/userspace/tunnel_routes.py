"""The user-space tunnel's peers: endpoints, routes to them and the longest-prefix choice among them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..errors import UsageError


def parse_endpoint(text: str) -> tuple[str, int]:
    """'IP:PORT' (or '[IPv6]:PORT') as (ip, port)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        if not sep or not 0 < int(port) < 65536:
            raise ValueError
    except ValueError:
        raise UsageError(f"invalid endpoint {text!r}", "give IP:PORT, e.g. 192.168.0.2:8285") from None
    return host, int(port)


@dataclass(frozen=True)
class Route:
    """Packets to `net` go to the peer at `endpoint`."""

    net: ipaddress.IPv4Network | ipaddress.IPv6Network
    endpoint: tuple[str, int]


def parse_route(text: str) -> Route:
    """'CIDR=IP:PORT' as a Route."""
    cidr, sep, ep = text.partition("=")
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        net = None
    if not sep or net is None:
        raise UsageError(f"invalid route {text!r}", "give CIDR=IP:PORT, e.g. 10.244.2.0/24=192.168.0.3:8285")
    return Route(net, parse_endpoint(ep))


class Router:
    """Longest-prefix choice of a peer for a destination, over a handful of routes."""

    def __init__(self, routes: list[Route], default: tuple[str, int] | None) -> None:
        self.v4 = sorted(((int(r.net.network_address), int(r.net.netmask), r.net.prefixlen, r.endpoint)
                          for r in routes if r.net.version == 4), key=lambda x: -x[2])
        self.v6 = sorted(((int(r.net.network_address), int(r.net.netmask), r.net.prefixlen, r.endpoint)
                          for r in routes if r.net.version == 6), key=lambda x: -x[2])
        self.default = default

    def lookup(self, pkt: memoryview) -> tuple[str, int] | None:
        """The peer for an IP packet (starting at pkt[0]), or None to drop it."""
        version = pkt[0] >> 4
        if version == 4 and len(pkt) >= 20:
            dst, table = int.from_bytes(pkt[16:20], "big"), self.v4
        elif version == 6 and len(pkt) >= 40:
            dst, table = int.from_bytes(pkt[24:40], "big"), self.v6
        else:
            return None
        for net, mask, _, ep in table:
            if dst & mask == net:
                return ep
        return self.default
