"""The probe as data (IPv4 or IPv6): a unique identity, its packets, the BPF matches that find it, which leg a frame is on."""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass, replace

from ..errors import UsageError
from ..userspace.packet import build_icmp

ETH, VXLAN_OUTER = 14, 14 + 20 + 8 + 8 + 14
VXLAN6_OUTER = 14 + 40 + 8 + 8 + 14
BASES = (0, ETH, VXLAN_OUTER, VXLAN6_OUTER)  # tun (no L2 header), Ethernet, inside VXLAN over IPv4 / IPv6
MATCHED = 120 // (2 * len(BASES))  # a BPF program of at most 120 matches: the first 15 ICMP probes are captured
VXLAN_PORTS = (4789, 8472)
ARPHRD_ETHER = 1
MIN_SIZE = {"icmp": 28, "udp": 28, "tcp": 40}
IP6 = 40  # the IPv6 header (no options): 20 bytes more than IPv4's
ICMP6_ECHO_REQUEST = 128
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
    v6: bool = False

    @property
    def header(self) -> int:
        """Bytes of IP and transport header before the payload (ICMP/UDP: 8; the SYN's own size for TCP)."""
        return (IP6 if self.v6 else 20) + (8 if self.proto != "tcp" else 20)

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


def for_family(p: Probe, v6: bool) -> Probe:
    """The probe for an IPv6 (v6) or IPv4 destination; the size is checked against that family's headers."""
    if v6 and p.size < MIN_SIZE[p.proto] + IP6 - 20:
        raise UsageError(f"invalid --size {p.size}", f"an IPv6 {p.proto} packet is at least {MIN_SIZE[p.proto] + IP6 - 20} bytes")
    return replace(p, v6=v6)


def lengths(p: Probe) -> set[int]:
    """The probe's lengths as the kernel's net tracepoints report them: bare IP, in Ethernet, inside VXLAN."""
    ip = p.size if p.proto != "tcp" else p.header + 20  # a Linux SYN carries 20 bytes of options
    return {ip + extra for extra in (0, ETH, VXLAN_OUTER - ETH, VXLAN_OUTER, VXLAN6_OUTER - ETH, VXLAN6_OUTER)}


def payload(p: Probe, header: int) -> bytes:
    """The probe's payload after `header` bytes of IP+transport header: the cookie, padded to the size."""
    n = max(0, p.size - header)
    return (p.cookie * (n // len(p.cookie) + 1))[:n]


def icmp_packets(p: Probe) -> list[bytes]:
    """The ICMP (ICMPv6) echo requests; the kernel adds the IP header (and the ICMPv6 checksum)."""
    if p.v6:
        return [struct.pack("!BBHHH", ICMP6_ECHO_REQUEST, 0, 0, p.ident, (p.seq0 + i) & 0xFFFF) + payload(p, p.header)
                for i in range(p.count)]
    return [build_icmp(8, 0, p.ident, (p.seq0 + i) & 0xFFFF, payload(p, 28)) for i in range(p.count)]


def matches(p: Probe) -> list[tuple[int, int]]:
    """(offset, 32-bit word) pairs that identify the probe, its answers and ICMP errors about it, at every base."""
    words: list[tuple[int, int]] = []
    ip = IP6 if p.v6 else 20
    quoted = ip + 8 + ip  # the offending packet's transport header inside an ICMP error
    if p.proto == "icmp":
        for i in range(min(p.count, MATCHED)):
            idseq = (p.ident << 16) | ((p.seq0 + i) & 0xFFFF)
            words += [(ip + 4, idseq), (quoted + 4, idseq)]  # echo request/reply; quoted in an ICMP error
    else:
        fwd, back = (p.sport << 16) | p.port, (p.port << 16) | p.sport
        words += [(ip, fwd), (ip, back), (quoted, fwd)]
    return [(base + off, value) for base in BASES for off, value in words]


def classify(data: bytes, hatype: int, src: str, dst: str) -> str | None:
    """Which leg a captured frame is on: forward, reply, error (an ICMP error to the source), or None."""
    off = ETH if hatype == ARPHRD_ETHER else 0
    for _ in range(2):
        head = _ip_header(data, off)
        if head is None:
            return None
        s, d, proto, hlen = head
        if proto == 17 and int.from_bytes(data[off + hlen + 2:off + hlen + 4], "big") in VXLAN_PORTS:
            off += hlen + 8 + 8 + ETH
            continue
        if (s, d) == (src, dst):
            return "forward"
        if (s, d) == (dst, src):
            return "reply"
        if d == src and proto in (1, 58):
            return "error"
        return None
    return None


def _ip_header(data: bytes, off: int) -> tuple[str, str, int, int] | None:
    """(source, destination, protocol, header length) of the IPv4 or IPv6 packet at off."""
    if len(data) >= off + 20 and data[off] >> 4 == 4:
        return (socket.inet_ntoa(data[off + 12:off + 16]), socket.inet_ntoa(data[off + 16:off + 20]), data[off + 9],
                (data[off] & 0x0F) * 4)
    if len(data) >= off + IP6 and data[off] >> 4 == 6:
        v6 = socket.AF_INET6
        return socket.inet_ntop(v6, data[off + 8:off + 24]), socket.inet_ntop(v6, data[off + 24:off + 40]), data[off + 6], IP6
    return None
