"""A guest on a tap: what a VM's NIC does at the minimum — own a MAC, answer ARP and ping, get a DHCP lease."""

from __future__ import annotations

import ipaddress
import os
import select
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..backend import tun
from ..errors import Failed, UsageError
from ..model import iso_time
from . import dhcp
from .packet import (
    ARP_REPLY,
    ARP_REQUEST,
    BROADCAST_MAC,
    ETH_P_ARP,
    ETH_P_IP,
    ICMP_ECHO_REPLY,
    ICMP_ECHO_REQUEST,
    PROTO_ICMP,
    PacketError,
    build_arp,
    build_eth,
    build_icmp,
    build_ipv4,
    mac_bytes,
    parse_arp,
    parse_eth,
    parse_icmp,
    parse_ipv4,
)
from .reader import Stop, open_device, stop_on_signals

DHCP_TIMEOUTS = (1.0, 2.0, 4.0, 4.0, 4.0)


def random_mac() -> str:
    """A locally administered unicast MAC (02:xx:...)."""
    tail = os.urandom(5)
    return "02:" + ":".join(f"{b:02x}" for b in tail)


def check_mac(mac: str) -> str:
    """A unicast MAC in canonical lower-case form, or UsageError."""
    try:
        b = mac_bytes(mac)
    except (PacketError, ValueError):
        raise UsageError(f"invalid MAC address {mac!r}", "give six hex bytes, e.g. 02:00:00:00:00:10") from None
    if b[0] & 1:
        raise UsageError(f"{mac} is a multicast MAC", "give a unicast MAC (first byte even), e.g. 02:...")
    return ":".join(f"{x:02x}" for x in b)


@dataclass(frozen=True)
class Event:
    """One thing the guest did: a line for people, `to_json()` for scripts (docs/json.md)."""

    event: str  # ready | arp | echo | dhcp | error
    text: str
    data: tuple[tuple[str, Any], ...] = ()
    time: float = field(default_factory=time.time)

    def __str__(self) -> str:
        return self.text

    def to_json(self) -> dict[str, Any]:
        """The event as one JSON object."""
        return {"time": iso_time(self.time), "event": self.event, **dict(self.data), "text": self.text}


VANISHED = "stopped: the device was deleted"


@dataclass
class GuestStats:
    """What the guest answered."""

    frames: int = 0
    arp_replies: int = 0
    echo_replies: int = 0
    address: str | None = None
    seconds: float = 0.0
    events: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The summary as the last JSON line of `tuntap guest --json`."""
        return {"time": iso_time(), "event": "summary", "frames": self.frames, "arp_replies": self.arp_replies,
                "echo_replies": self.echo_replies, "address": self.address, "seconds": round(self.seconds, 3)}

    def line(self) -> str:
        """The summary printed on stderr at exit."""
        return (f"{self.frames} frames read, {self.arp_replies} ARP replies, {self.echo_replies} echo replies "
                f"in {self.seconds:.2f} s; address {self.address or 'none'}"
                + ("; stopped: the device was deleted" if VANISHED in self.events else ""))


class Guest:
    """The state of the guest: its MAC, its address, and how it answers a frame."""

    def __init__(self, mac: str, cidr: str | None) -> None:
        self.mac = check_mac(mac)
        self.iface: ipaddress.IPv4Interface | None = None
        if cidr is not None:
            try:
                self.iface = ipaddress.IPv4Interface(cidr)
            except ValueError:
                raise UsageError(f"invalid address {cidr!r}", "give an IPv4 CIDR, e.g. 10.0.0.5/24") from None
            if "/" not in cidr:
                raise UsageError(f"address {cidr!r} has no prefix length", "give a CIDR, e.g. 10.0.0.5/24")

    @property
    def ip(self) -> str | None:
        """The guest's IPv4 address (None until it has one)."""
        return str(self.iface.ip) if self.iface else None

    def announce(self) -> bytes:
        """A gratuitous ARP reply announcing the address (as a booting VM sends)."""
        assert self.ip is not None
        return build_eth(BROADCAST_MAC, self.mac, ETH_P_ARP, build_arp(ARP_REPLY, self.mac, self.ip, BROADCAST_MAC,
                                                                       self.ip))

    def answer(self, frame: bytes, stats: GuestStats) -> tuple[bytes | None, Event | None]:
        """The reply to one frame (or None) and the event describing it."""
        try:
            dst, src, et, payload = parse_eth(frame)
            if dst not in (self.mac, BROADCAST_MAC) or self.ip is None:
                return None, None
            if et == ETH_P_ARP:
                a = parse_arp(payload)
                if a.op == ARP_REQUEST and a.tpa == self.ip:
                    stats.arp_replies += 1
                    reply = build_arp(ARP_REPLY, self.mac, self.ip, a.sha, a.spa)
                    return build_eth(a.sha, self.mac, ETH_P_ARP, reply), Event(
                        "arp", f"ARP who-has {a.tpa} tell {a.spa}: is-at {self.mac}",
                        (("who_has", a.tpa), ("tell", a.spa), ("mac", a.sha)))
                return None, None
            if et == ETH_P_IP and dst == self.mac:
                ip = parse_ipv4(payload)
                if ip.dst != self.ip or ip.proto != PROTO_ICMP or ip.fragment or not ip.checksum_ok:
                    return None, None
                m = parse_icmp(ip.payload)
                if m.type != ICMP_ECHO_REQUEST:
                    return None, None
                stats.echo_replies += 1
                icmp = build_icmp(ICMP_ECHO_REPLY, 0, m.ident, m.seq, m.data)
                pkt = build_ipv4(self.ip, ip.src, PROTO_ICMP, icmp, dont_fragment=False)
                return build_eth(src, self.mac, ETH_P_IP, pkt), Event(
                    "echo", f"ICMP echo request from {ip.src} seq {m.seq}: replied", (("src", ip.src), ("seq", m.seq)))
        except PacketError:
            return None, None
        return None, None


def _send(fd: int, frame: bytes) -> str | None:
    """Write a frame to the tap; an error (EIO while the tap is down) is returned, not raised."""
    try:
        os.write(fd, frame)
    except OSError as e:
        return os.strerror(e.errno or 0)
    return None


def _read_ready(fd: int, timeout: float | None) -> bool:
    r, _, _ = select.select([fd], [], [], timeout)
    return bool(r)


def obtain_lease(fd: int, guest: Guest, stats: GuestStats, on_event: Callable[[Event], None],
                 hostname: str | None = None) -> dhcp.Lease:
    """Run DISCOVER/OFFER/REQUEST/ACK on the tap; Failed if no server answers."""
    client = dhcp.Client(guest.mac, hostname)
    _send(fd, client.start())
    on_event(Event("dhcp", f"DHCP DISCOVER xid 0x{client.xid:08x}", (("message", "DISCOVER"), ("xid", client.xid))))
    for timeout in DHCP_TIMEOUTS:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not _read_ready(fd, left):
                break
            frame = os.read(fd, 65536)
            stats.frames += 1
            before = client.state
            out = client.handle(frame)
            if client.state == "REQUESTING" and before == "SELECTING" and client.offer:
                offer, server = client.offer.yiaddr, client.offer.addr_option(dhcp.OPT_SERVER_ID)
                on_event(Event("dhcp", f"DHCP OFFER {offer} from {server}; REQUEST",
                               (("message", "OFFER"), ("address", offer), ("server", server))))
            if out is not None:
                _send(fd, out)
            if client.lease is not None:
                lease = client.lease
                on_event(Event("dhcp", f"DHCP ACK {lease.cidr} from {lease.server} lease {lease.lease_time}s",
                               (("message", "ACK"), ("address", lease.cidr), ("server", lease.server),
                                ("lease", lease.lease_time))))
                return lease
        _send(fd, client.retransmit())
        on_event(Event("dhcp", f"DHCP retransmit ({client.state})", (("message", "retransmit"), ("state", client.state))))
    raise Failed(f"no DHCP server answered on the tap after {sum(DHCP_TIMEOUTS):.0f} s",
                 "check that a DHCP server (dnsmasq) listens on the same bridge and the tap is up and enslaved")


def run(dev: str, cidr: str | None, mac: str | None = None, netns: str | None = None, use_dhcp: bool = False,
        on_event: Callable[[Event], None] | None = None, count: int | None = None,
        on_ready: Callable[[Guest], None] | None = None) -> GuestStats:
    """Play the guest on tap dev until SIGINT/SIGTERM (or count replies)."""
    if use_dhcp == (cidr is not None):
        raise UsageError("give exactly one of --ip CIDR and --dhcp", "the guest needs a static address or a DHCP lease")
    guest = Guest(mac or random_mac(), cidr)
    emit = on_event or (lambda _event: None)
    fd = open_device(dev, "tap", netns)
    stats = GuestStats()
    start = time.monotonic()
    try:
        with stop_on_signals():
            try:
                if use_dhcp:
                    lease = obtain_lease(fd, guest, stats, emit, hostname=dev)
                    guest.iface = ipaddress.IPv4Interface(lease.cidr)
                stats.address = str(guest.iface)
                _send(fd, guest.announce())
                emit(Event("ready", f"guest {guest.mac} at {guest.iface} on {dev}",
                           (("mac", guest.mac), ("address", str(guest.iface)), ("dev", dev))))
                if on_ready:
                    on_ready(guest)
                while count is None or stats.arp_replies + stats.echo_replies < count:
                    frame = os.read(fd, 65536)
                    stats.frames += 1
                    reply, event = guest.answer(frame, stats)
                    if reply is not None and (err := _send(fd, reply)) is not None:
                        emit(Event("error", f"cannot send reply: {err}", (("error", err),)))
                        continue
                    if event:
                        emit(event)
            except Stop as e:
                stats.events.append(f"stopped by {e}")
            except OSError as e:
                if e.errno not in tun.VANISHED:
                    raise
                stats.events.append(VANISHED)
    finally:
        stats.seconds = time.monotonic() - start
        os.close(fd)
    return stats
