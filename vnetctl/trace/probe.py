"""The probe as data: a unique identity, its packets, the BPF matches that find it, and which leg a frame is on."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from ..errors import UsageError
from ..userspace.packet import build_icmp

ETH, VXLAN_OUTER = 14, 14 + 20 + 8 + 8 + 14
BASES = (0, ETH, VXLAN_OUTER)  # tun (no L2 header), Ethernet, IPv4 inside VXLAN inside Ethernet
VXLAN_PORTS = (4789, 8472)
ARPHRD_ETHER = 1
MIN_SIZE = {"icmp": 28, "udp": 28, "tcp": 40}
MAX_SIZE = 65535


@dataclass(frozen=True)
class Probe:
    """What is sent: protocol, port, size (bytes of the IP packet), DF, count, and its unique identity."""

    proto: str
    port: int
    size: int
    df: bool
    count: int
    ident: int
    seq0: int
    sport: int
    cookie: bytes

    @property
    def label(self) -> str:
        """icmp, udp:PORT or tcp:PORT."""
        return self.proto if self.proto == "icmp" else f"{self.proto}:{self.port}"


def parse_proto(text: str) -> tuple[str, int]:
    """icmp | udp:PORT | tcp:PORT -> (proto, port)."""
    if text == "icmp":
        return "icmp", 0
    proto, _, port = text.partition(":")
    if proto in ("udp", "tcp") and port.isdigit() and 0 < int(port) < 65536:
        return proto, int(port)
    raise UsageError(f"invalid --proto {text!r}", "use icmp, udp:PORT or tcp:PORT (PORT 1-65535)")


def make(proto_text: str, size: int, df: bool, count: int) -> Probe:
    """A probe with a fresh random identity."""
    proto, port = parse_proto(proto_text)
    if not MIN_SIZE[proto] <= size <= MAX_SIZE:
        raise UsageError(f"invalid --size {size}", f"the IP packet size must be {MIN_SIZE[proto]}-{MAX_SIZE} bytes")
    if not 1 <= count <= 100:
        raise UsageError(f"invalid --count {count}", "send 1-100 probes")
    rnd = os.urandom(10)
    return Probe(proto, port, size, df, count, int.from_bytes(rnd[:2], "big") | 1, int.from_bytes(rnd[2:4], "big") & 0x7FFF,
                 40000 + int.from_bytes(rnd[4:6], "big") % 20000, b"vnet" + rnd[6:10])


def payload(p: Probe, header: int) -> bytes:
    """The probe's payload after `header` bytes of IP+transport header: the cookie, padded to the size."""
    n = max(0, p.size - header)
    return (p.cookie * (n // len(p.cookie) + 1))[:n]


def icmp_packets(p: Probe) -> list[bytes]:
    """The ICMP echo requests (the kernel adds the IP header)."""
    return [build_icmp(8, 0, p.ident, (p.seq0 + i) & 0xFFFF, payload(p, 28)) for i in range(p.count)]


def matches(p: Probe) -> list[tuple[int, int]]:
    """(offset, 32-bit word) pairs that identify the probe, its answers and ICMP errors about it, at every base."""
    words: list[tuple[int, int]] = []
    if p.proto == "icmp":
        for i in range(p.count):
            idseq = (p.ident << 16) | ((p.seq0 + i) & 0xFFFF)
            words += [(24, idseq), (52, idseq)]  # echo request/reply; quoted in an ICMP error
    else:
        fwd, back = (p.sport << 16) | p.port, (p.port << 16) | p.sport
        words += [(20, fwd), (20, back), (48, fwd)]
    return [(base + off, value) for base in BASES for off, value in words]


def classify(data: bytes, hatype: int, src: str, dst: str) -> str | None:
    """Which leg a captured frame is on: forward, reply, error (an ICMP error to the source), or None."""
    off = ETH if hatype == ARPHRD_ETHER else 0
    for _ in range(2):
        if len(data) < off + 20 or data[off] >> 4 != 4:
            return None
        ihl = (data[off] & 0x0F) * 4
        if data[off + 9] == 17 and int.from_bytes(data[off + ihl + 2:off + ihl + 4], "big") in VXLAN_PORTS:
            off += ihl + 8 + 8 + ETH
            continue
        s, d = socket.inet_ntoa(data[off + 12:off + 16]), socket.inet_ntoa(data[off + 16:off + 20])
        if (s, d) == (src, dst):
            return "forward"
        if (s, d) == (dst, src):
            return "reply"
        if d == src and data[off + 9] == 1:
            return "error"
        return None
    return None
