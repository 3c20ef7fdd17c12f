"""Packet codecs: Ethernet, ARP, IPv4, IPv6, ICMP, ICMPv6, UDP, TCP — parse, build, summarize.

Pure functions on bytes; no sockets. Addresses are text ("10.0.0.1", "fe80::1",
"02:00:00:00:00:01") at the edges and bytes inside.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58
ARP_REQUEST = 1
ARP_REPLY = 2
ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8
ICMP6_ECHO_REQUEST = 128
ICMP6_ECHO_REPLY = 129
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"

ICMP_NAMES = {0: "echo reply", 3: "destination unreachable", 5: "redirect", 8: "echo request", 11: "time exceeded"}
ICMP6_NAMES = {1: "destination unreachable", 2: "packet too big", 3: "time exceeded", 128: "echo request",
               129: "echo reply", 133: "router solicitation", 134: "router advertisement",
               135: "neighbor solicitation", 136: "neighbor advertisement"}
TCP_FLAGS = "FSRPAUEC"


class PacketError(ValueError):
    """Bytes that do not parse as the expected header."""


# addresses -----------------------------------------------------------------
def mac_bytes(mac: str) -> bytes:
    """'02:00:00:00:00:01' as 6 bytes."""
    b = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(b) != 6:
        raise PacketError(f"invalid MAC address {mac!r}")
    return b


def mac_text(b: bytes) -> str:
    """6 bytes as 'xx:xx:xx:xx:xx:xx'."""
    return ":".join(f"{x:02x}" for x in b)


def ip4_bytes(addr: str) -> bytes:
    """Dotted quad as 4 bytes."""
    return socket.inet_aton(addr)


def ip4_text(b: bytes) -> str:
    """4 bytes as a dotted quad."""
    return socket.inet_ntoa(b)


def ip6_text(b: bytes) -> str:
    """16 bytes as compressed IPv6 text."""
    return socket.inet_ntop(socket.AF_INET6, b)


def ip6_bytes(addr: str) -> bytes:
    """IPv6 text as 16 bytes."""
    return socket.inet_pton(socket.AF_INET6, addr)


# checksums -----------------------------------------------------------------
def checksum(data: bytes | memoryview) -> int:
    """The Internet checksum (RFC 1071) of data."""
    if len(data) % 2:
        data = bytes(data) + b"\0"
    # 2**16 = 1 (mod 0xFFFF): the one's-complement sum of the 16-bit words is the number mod 0xFFFF,
    # computed in C by the big-integer code instead of a Python loop.
    n = int.from_bytes(data, "big")
    folded = n % 0xFFFF
    if folded == 0 and n:
        folded = 0xFFFF
    return ~folded & 0xFFFF


def pseudo_header(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    """The IPv4 or IPv6 pseudo-header covered by UDP/TCP/ICMPv6 checksums."""
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!I3xB", length, proto)


# Ethernet and ARP ----------------------------------------------------------
def build_eth(dst: str, src: str, ethertype: int, payload: bytes) -> bytes:
    """An Ethernet II frame (no FCS)."""
    return mac_bytes(dst) + mac_bytes(src) + struct.pack("!H", ethertype) + payload


def parse_eth(frame: bytes) -> tuple[str, str, int, bytes]:
    """(dst, src, ethertype, payload) of an Ethernet II frame."""
    if len(frame) < 14:
        raise PacketError(f"Ethernet frame too short ({len(frame)} bytes)")
    return mac_text(frame[0:6]), mac_text(frame[6:12]), struct.unpack_from("!H", frame, 12)[0], bytes(frame[14:])


@dataclass(frozen=True)
class Arp:
    """An Ethernet/IPv4 ARP message."""

    op: int
    sha: str
    spa: str
    tha: str
    tpa: str


def build_arp(op: int, sha: str, spa: str, tha: str, tpa: str) -> bytes:
    """An Ethernet/IPv4 ARP payload (28 bytes)."""
    return struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, op) + mac_bytes(sha) + ip4_bytes(spa) + mac_bytes(tha) + ip4_bytes(tpa)


def parse_arp(data: bytes) -> Arp:
    """Parse an Ethernet/IPv4 ARP payload."""
    if len(data) < 28:
        raise PacketError(f"ARP message too short ({len(data)} bytes)")
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", data)
    if (htype, ptype, hlen, plen) != (1, ETH_P_IP, 6, 4):
        raise PacketError("ARP message is not Ethernet/IPv4")
    return Arp(op, mac_text(data[8:14]), ip4_text(data[14:18]), mac_text(data[18:24]), ip4_text(data[24:28]))


# IPv4 / IPv6 ---------------------------------------------------------------
@dataclass(frozen=True)
class IPv4:
    """An IPv4 header and its payload."""

    src: str
    dst: str
    proto: int
    ttl: int
    ident: int
    total_length: int
    header_length: int
    payload: bytes
    checksum_ok: bool
    fragment: bool = False


def build_ipv4(src: str, dst: str, proto: int, payload: bytes, ttl: int = 64, ident: int = 0,
               dont_fragment: bool = True) -> bytes:
    """An IPv4 packet with a correct header checksum."""
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000 if dont_fragment else 0, ttl, proto,
                      0, ip4_bytes(src), ip4_bytes(dst))
    return hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:] + payload


def parse_ipv4(pkt: bytes) -> IPv4:
    """Parse an IPv4 packet (header checksum verified, not enforced)."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4:
        raise PacketError("not an IPv4 packet")
    ihl = (pkt[0] & 0xF) * 4
    total, ident, frag, ttl, proto = struct.unpack_from("!HHHBB", pkt, 2)
    if ihl < 20 or len(pkt) < ihl:
        raise PacketError(f"invalid IPv4 header length {ihl}")
    end = min(total, len(pkt)) if total >= ihl else len(pkt)
    return IPv4(ip4_text(pkt[12:16]), ip4_text(pkt[16:20]), proto, ttl, ident, total, ihl, bytes(pkt[ihl:end]),
                checksum(pkt[:ihl]) == 0, bool(frag & 0x3FFF))


@dataclass(frozen=True)
class IPv6:
    """An IPv6 header (extension headers not followed) and its payload."""

    src: str
    dst: str
    next_header: int
    hop_limit: int
    payload: bytes


def build_ipv6(src: str, dst: str, next_header: int, payload: bytes, hop_limit: int = 64) -> bytes:
    """An IPv6 packet."""
    return struct.pack("!IHBB", 6 << 28, len(payload), next_header, hop_limit) + ip6_bytes(src) + ip6_bytes(dst) + payload


def parse_ipv6(pkt: bytes) -> IPv6:
    """Parse an IPv6 packet."""
    if len(pkt) < 40 or pkt[0] >> 4 != 6:
        raise PacketError("not an IPv6 packet")
    plen, nh, hl = struct.unpack_from("!HBB", pkt, 4)
    return IPv6(ip6_text(pkt[8:24]), ip6_text(pkt[24:40]), nh, hl, bytes(pkt[40:40 + plen]))


# ICMP ----------------------------------------------------------------------
@dataclass(frozen=True)
class Icmp:
    """An ICMP or ICMPv6 message; ident/seq are meaningful for echo."""

    type: int
    code: int
    ident: int
    seq: int
    data: bytes


def build_icmp(type_: int, code: int, ident: int, seq: int, data: bytes = b"") -> bytes:
    """An ICMPv4 echo-style message with its checksum."""
    body = struct.pack("!BBHHH", type_, code, 0, ident, seq) + data
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


def build_icmp6(src: str, dst: str, type_: int, code: int, ident: int, seq: int, data: bytes = b"") -> bytes:
    """An ICMPv6 echo-style message with its pseudo-header checksum."""
    body = struct.pack("!BBHHH", type_, code, 0, ident, seq) + data
    csum = checksum(pseudo_header(ip6_bytes(src), ip6_bytes(dst), PROTO_ICMPV6, len(body)) + body)
    return body[:2] + struct.pack("!H", csum) + body[4:]


def parse_icmp(data: bytes) -> Icmp:
    """Parse an ICMP/ICMPv6 message."""
    if len(data) < 8:
        raise PacketError(f"ICMP message too short ({len(data)} bytes)")
    t, c, _, ident, seq = struct.unpack_from("!BBHHH", data)
    return Icmp(t, c, ident, seq, bytes(data[8:]))


# UDP / TCP -----------------------------------------------------------------
@dataclass(frozen=True)
class Udp:
    """A UDP datagram."""

    sport: int
    dport: int
    length: int
    checksum: int
    payload: bytes


def _addr_bytes(addr: str) -> bytes:
    return ip6_bytes(addr) if ":" in addr else ip4_bytes(addr)


def build_udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP datagram with its checksum over the IPv4/IPv6 pseudo-header."""
    length = 8 + len(payload)
    seg = struct.pack("!HHHH", sport, dport, length, 0) + payload
    csum = checksum(pseudo_header(_addr_bytes(src), _addr_bytes(dst), PROTO_UDP, length) + seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", csum) + seg[8:]


def parse_udp(data: bytes) -> Udp:
    """Parse a UDP datagram."""
    if len(data) < 8:
        raise PacketError(f"UDP datagram too short ({len(data)} bytes)")
    sport, dport, length, csum = struct.unpack_from("!HHHH", data)
    return Udp(sport, dport, length, csum, bytes(data[8:length]) if length >= 8 else bytes(data[8:]))


def l4_checksum_ok(src: str, dst: str, proto: int, segment: bytes) -> bool:
    """True if a UDP/TCP/ICMPv6 segment's checksum verifies against the pseudo-header."""
    if proto == PROTO_UDP and segment[6:8] == b"\0\0" and ":" not in src:
        return True
    return checksum(pseudo_header(_addr_bytes(src), _addr_bytes(dst), proto, len(segment)) + segment) == 0


@dataclass(frozen=True)
class Tcp:
    """A TCP segment header and payload."""

    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    payload: bytes

    @property
    def flag_text(self) -> str:
        """Flags as tcpdump-like letters, e.g. 'S', 'SA', 'PA'."""
        return "".join(ch for i, ch in enumerate(TCP_FLAGS) if self.flags & (1 << i))


def build_tcp(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int,
              payload: bytes = b"", window: int = 65535) -> bytes:
    """A TCP segment (no options) with its checksum."""
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0) + payload
    csum = checksum(pseudo_header(_addr_bytes(src), _addr_bytes(dst), PROTO_TCP, len(seg)) + seg)
    return seg[:16] + struct.pack("!H", csum) + seg[18:]


def parse_tcp(data: bytes) -> Tcp:
    """Parse a TCP segment."""
    if len(data) < 20:
        raise PacketError(f"TCP segment too short ({len(data)} bytes)")
    sport, dport, seq, ack, off, flags, window = struct.unpack_from("!HHIIBBH", data)
    return Tcp(sport, dport, seq, ack, flags, window, bytes(data[(off >> 4) * 4:]))


# summaries -----------------------------------------------------------------
@dataclass
class Summary:
    """What one packet is, in a few fields: what the reader prints."""

    len: int
    proto: str
    src: str = ""
    dst: str = ""
    info: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {"len": self.len, "proto": self.proto, "src": self.src, "dst": self.dst}
        if self.info:
            out["info"] = self.info
        out.update(self.extra)
        return out

    def line(self) -> str:
        """One human line, after 'Read N bytes from tun/tap device'."""
        text = f"{self.proto} {self.src} > {self.dst}" if self.src else self.proto
        return f"{text} {self.info}".rstrip()


def summarize(data: bytes, l2: bool = False) -> Summary:
    """Decode a tun packet (l2=False) or a tap frame (l2=True) into a Summary; never raises."""
    n = len(data)
    try:
        if l2:
            dst, src, et, payload = parse_eth(data)
            extra = {"eth_src": src, "eth_dst": dst}
            if et == ETH_P_ARP:
                a = parse_arp(payload)
                info = f"who-has {a.tpa} tell {a.spa}" if a.op == ARP_REQUEST else f"{a.spa} is-at {a.sha}"
                return Summary(n, "ARP", a.spa, a.tpa, info, extra)
            s = _summarize_l3(payload, et, n)
            s.extra.update(extra)
            return s
        version = data[0] >> 4 if data else 0
        return _summarize_l3(data, {4: ETH_P_IP, 6: ETH_P_IPV6}.get(version, 0), n)
    except (PacketError, struct.error, ValueError, IndexError) as e:
        return Summary(n, "malformed", info=str(e))


def _summarize_l3(pkt: bytes, ethertype: int, n: int) -> Summary:
    if ethertype == ETH_P_IP:
        ip = parse_ipv4(pkt)
        src, dst, proto, payload, fam = ip.src, ip.dst, ip.proto, ip.payload, "IPv4"
        if ip.fragment:
            return Summary(n, fam, src, dst, f"fragment id {ip.ident}", {"ip_proto": proto})
    elif ethertype == ETH_P_IPV6:
        ip6 = parse_ipv6(pkt)
        src, dst, proto, payload, fam = ip6.src, ip6.dst, ip6.next_header, ip6.payload, "IPv6"
    else:
        return Summary(n, f"ethertype 0x{ethertype:04x}" if ethertype else "unknown")
    if proto in (PROTO_ICMP, PROTO_ICMPV6):
        m = parse_icmp(payload)
        names = ICMP_NAMES if proto == PROTO_ICMP else ICMP6_NAMES
        name = names.get(m.type, f"type {m.type}")
        info = name + (f" id {m.ident} seq {m.seq}" if name.startswith("echo") else f" code {m.code}")
        return Summary(n, "ICMP" if proto == PROTO_ICMP else "ICMPv6", src, dst, info,
                       {"family": fam, "icmp_type": m.type, "icmp_code": m.code})
    if proto == PROTO_UDP:
        u = parse_udp(payload)
        return Summary(n, "UDP", src, dst, f"{u.sport} > {u.dport} len {len(u.payload)}",
                       {"family": fam, "sport": u.sport, "dport": u.dport})
    if proto == PROTO_TCP:
        t = parse_tcp(payload)
        return Summary(n, "TCP", src, dst, f"{t.sport} > {t.dport} [{t.flag_text}] seq {t.seq} len {len(t.payload)}",
                       {"family": fam, "sport": t.sport, "dport": t.dport, "flags": t.flag_text})
    return Summary(n, fam, src, dst, f"proto {proto}", {"ip_proto": proto})


def in_subnet(addr: str, cidr: str) -> bool:
    """True if addr lies in cidr."""
    return ipaddress.ip_address(addr) in ipaddress.ip_network(cidr, strict=False)
