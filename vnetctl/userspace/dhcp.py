"""DHCPv4 (RFC 2131) client messages: DISCOVER, OFFER, REQUEST, ACK, built and parsed by hand."""

from __future__ import annotations

import ipaddress
import os
import struct
from dataclasses import dataclass, field

from .packet import (
    BROADCAST_MAC,
    ETH_P_IP,
    PROTO_UDP,
    PacketError,
    build_eth,
    build_ipv4,
    build_udp,
    ip4_bytes,
    ip4_text,
    mac_bytes,
    mac_text,
    parse_eth,
    parse_ipv4,
    parse_udp,
)

MAGIC_COOKIE = b"\x63\x82\x53\x63"
CLIENT_PORT = 68
SERVER_PORT = 67
BOOTREQUEST = 1
BOOTREPLY = 2
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE = 1, 2, 3, 4, 5, 6, 7
TYPE_NAMES = {DISCOVER: "DISCOVER", OFFER: "OFFER", REQUEST: "REQUEST", DECLINE: "DECLINE", ACK: "ACK", NAK: "NAK",
              RELEASE: "RELEASE"}
OPT_SUBNET_MASK = 1
OPT_ROUTER = 3
OPT_DNS = 6
OPT_HOSTNAME = 12
OPT_REQUESTED_IP = 50
OPT_LEASE_TIME = 51
OPT_MSG_TYPE = 53
OPT_SERVER_ID = 54
OPT_PARAM_LIST = 55
OPT_CLIENT_ID = 61
OPT_END = 255
OPT_PAD = 0
BROADCAST_FLAG = 0x8000


@dataclass
class DhcpMessage:
    """A BOOTP/DHCP message; options keyed by code, raw bytes as values."""

    op: int
    xid: int
    chaddr: str
    ciaddr: str = "0.0.0.0"
    yiaddr: str = "0.0.0.0"
    siaddr: str = "0.0.0.0"
    flags: int = 0
    options: dict[int, bytes] = field(default_factory=dict)

    @property
    def msg_type(self) -> int:
        """Option 53 (DISCOVER=1 ... RELEASE=7), 0 when absent."""
        v = self.options.get(OPT_MSG_TYPE, b"")
        return v[0] if v else 0

    def addr_option(self, code: int) -> str | None:
        """An option holding one IPv4 address (server id, mask, router)."""
        v = self.options.get(code)
        return ip4_text(v[:4]) if v and len(v) >= 4 else None

    @property
    def lease_time(self) -> int | None:
        """Option 51 in seconds."""
        v = self.options.get(OPT_LEASE_TIME)
        return struct.unpack("!I", v[:4])[0] if v and len(v) >= 4 else None

    def prefix_len(self) -> int:
        """The subnet mask option as a prefix length (24 when absent)."""
        mask = self.addr_option(OPT_SUBNET_MASK)
        return ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen if mask else 24


def encode(msg: DhcpMessage) -> bytes:
    """The BOOTP wire form of msg, options in insertion order, padded to the 300-byte minimum."""
    chaddr = mac_bytes(msg.chaddr).ljust(16, b"\0")
    head = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", msg.op, 1, 6, 0, msg.xid, 0, msg.flags, ip4_bytes(msg.ciaddr),
                       ip4_bytes(msg.yiaddr), ip4_bytes(msg.siaddr), b"\0" * 4, chaddr, b"", b"")
    opts = b"".join(struct.pack("!BB", code, len(value)) + value for code, value in msg.options.items())
    body = head + MAGIC_COOKIE + opts + bytes([OPT_END])
    return body.ljust(300, b"\0")


def decode(data: bytes) -> DhcpMessage:
    """Parse a BOOTP/DHCP message (options 0/255 handled, overload ignored)."""
    if len(data) < 240 or data[236:240] != MAGIC_COOKIE:
        raise PacketError("not a DHCP message (short or no magic cookie)")
    op, _, hlen, _, xid, _, flags = struct.unpack_from("!BBBBIHH", data)
    ciaddr, yiaddr, siaddr = (ip4_text(data[o:o + 4]) for o in (12, 16, 20))
    options: dict[int, bytes] = {}
    i = 240
    while i < len(data):
        code = data[i]
        if code == OPT_END:
            break
        if code == OPT_PAD:
            i += 1
            continue
        if i + 1 >= len(data):
            raise PacketError("DHCP option runs past the end")
        length = data[i + 1]
        value = data[i + 2:i + 2 + length]
        if len(value) != length:
            raise PacketError(f"DHCP option {code} runs past the end")
        options[code] = options.get(code, b"") + value
        i += 2 + length
    return DhcpMessage(op, xid, mac_text(data[28:28 + 6]) if hlen >= 6 else "", ciaddr, yiaddr, siaddr, flags, options)


def _client_options(mac: str, msg_type: int, hostname: str | None) -> dict[int, bytes]:
    opts = {OPT_MSG_TYPE: bytes([msg_type]), OPT_CLIENT_ID: b"\x01" + mac_bytes(mac)}
    if hostname:
        opts[OPT_HOSTNAME] = hostname.encode()
    return opts


def discover(mac: str, xid: int, hostname: str | None = None) -> DhcpMessage:
    """A DHCPDISCOVER asking for a broadcast reply."""
    opts = _client_options(mac, DISCOVER, hostname)
    opts[OPT_PARAM_LIST] = bytes([OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_LEASE_TIME])
    return DhcpMessage(BOOTREQUEST, xid, mac, flags=BROADCAST_FLAG, options=opts)


def request(mac: str, xid: int, offered: str, server_id: str, hostname: str | None = None) -> DhcpMessage:
    """A DHCPREQUEST (SELECTING state) for the address an OFFER made."""
    opts = _client_options(mac, REQUEST, hostname)
    opts[OPT_REQUESTED_IP] = ip4_bytes(offered)
    opts[OPT_SERVER_ID] = ip4_bytes(server_id)
    opts[OPT_PARAM_LIST] = bytes([OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_LEASE_TIME])
    return DhcpMessage(BOOTREQUEST, xid, mac, flags=BROADCAST_FLAG, options=opts)


def reply(req: DhcpMessage, msg_type: int, yiaddr: str, server_id: str, mask: str = "255.255.255.0",
          lease: int = 3600, router: str | None = None) -> DhcpMessage:
    """A server's OFFER/ACK/NAK to req (what dnsmasq sends; used to test the client)."""
    opts = {OPT_MSG_TYPE: bytes([msg_type]), OPT_SERVER_ID: ip4_bytes(server_id)}
    if msg_type != NAK:
        opts[OPT_LEASE_TIME] = struct.pack("!I", lease)
        opts[OPT_SUBNET_MASK] = ip4_bytes(mask)
        if router:
            opts[OPT_ROUTER] = ip4_bytes(router)
    return DhcpMessage(BOOTREPLY, req.xid, req.chaddr, yiaddr=yiaddr if msg_type != NAK else "0.0.0.0",
                       flags=req.flags, options=opts)


def client_frame(mac: str, msg: DhcpMessage) -> bytes:
    """msg broadcast from 0.0.0.0:68 to 255.255.255.255:67 in an Ethernet frame from mac."""
    udp = build_udp("0.0.0.0", "255.255.255.255", CLIENT_PORT, SERVER_PORT, encode(msg))
    return build_eth(BROADCAST_MAC, mac, ETH_P_IP, build_ipv4("0.0.0.0", "255.255.255.255", PROTO_UDP, udp,
                                                              dont_fragment=False))


def from_frame(frame: bytes) -> DhcpMessage | None:
    """The DHCP reply inside an Ethernet frame to the client port, or None if it is something else."""
    try:
        _, _, et, payload = parse_eth(frame)
        if et != ETH_P_IP:
            return None
        ip = parse_ipv4(payload)
        if ip.proto != PROTO_UDP or ip.fragment:
            return None
        u = parse_udp(ip.payload)
        if u.dport != CLIENT_PORT:
            return None
        return decode(u.payload)
    except PacketError:
        return None


@dataclass
class Lease:
    """What the client obtained."""

    address: str
    prefix_len: int
    server: str
    lease_time: int | None
    router: str | None

    @property
    def cidr(self) -> str:
        """address/prefix."""
        return f"{self.address}/{self.prefix_len}"


class Client:
    """The client state machine: feed it frames, it says what to send next and when it is bound."""

    def __init__(self, mac: str, hostname: str | None = None, xid: int | None = None) -> None:
        self.mac = mac
        self.hostname = hostname
        self.xid = xid if xid is not None else int.from_bytes(os.urandom(4), "big")
        self.state = "INIT"
        self.offer: DhcpMessage | None = None
        self.lease: Lease | None = None

    def start(self) -> bytes:
        """(Re)start: the DISCOVER frame to broadcast."""
        self.state = "SELECTING"
        self.offer = None
        return client_frame(self.mac, discover(self.mac, self.xid, self.hostname))

    def retransmit(self) -> bytes:
        """The frame to send again after a timeout in the current state."""
        if self.state == "REQUESTING" and self.offer is not None:
            return self._request_frame(self.offer)
        return self.start()

    def _request_frame(self, offer: DhcpMessage) -> bytes:
        server = offer.addr_option(OPT_SERVER_ID) or offer.siaddr
        return client_frame(self.mac, request(self.mac, self.xid, offer.yiaddr, server, self.hostname))

    def handle(self, frame: bytes) -> bytes | None:
        """Process one received frame; returns a frame to send, or None."""
        msg = from_frame(frame)
        if msg is None or msg.op != BOOTREPLY or msg.xid != self.xid or msg.chaddr != self.mac:
            return None
        if self.state == "SELECTING" and msg.msg_type == OFFER:
            self.offer = msg
            self.state = "REQUESTING"
            return self._request_frame(msg)
        if self.state == "REQUESTING" and msg.msg_type == ACK:
            self.state = "BOUND"
            self.lease = Lease(msg.yiaddr, msg.prefix_len(), msg.addr_option(OPT_SERVER_ID) or msg.siaddr,
                               msg.lease_time, msg.addr_option(OPT_ROUTER))
            return None
        if self.state == "REQUESTING" and msg.msg_type == NAK:
            return self.start()
        return None
