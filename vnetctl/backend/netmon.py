"""rtnetlink notifications from many namespaces: one multicast-subscribed NETLINK_ROUTE socket in each.

Each socket is created inside its namespace (nsocket), asked for the current devices (so a
later RTM_NEWLINK can be told apart as an addition or a change), then joined to the link,
address and route groups. Messages are decoded here into plain Change records.
"""

from __future__ import annotations

import errno
import socket
import struct
from dataclasses import dataclass

from ..model import Link
from . import nsocket, rtdump, rtnl

SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
# RTNLGRP_LINK, IPV4_IFADDR, IPV4_ROUTE, IPV6_IFADDR, IPV6_ROUTE
GROUPS = (1, 5, 7, 9, 11)
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE = 16, 17, 20, 21, 24, 25
HDR = struct.Struct("=IHHII")
IFA = struct.Struct("=BBBBI")
RTM = struct.Struct("=BBBBBBBBI")
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
IFA_ADDRESS, IFA_LOCAL = 1, 2
RT_TABLE_LOCAL = 255
RCVBUF = 4 << 20


@dataclass(frozen=True)
class Change:
    """One notification: what changed (link/addr/route), added or removed, on which device."""

    what: str
    new: bool
    ifindex: int
    link: Link | None = None
    address: str | None = None
    dst: str | None = None
    gateway: str | None = None


def open_in(paths: list[str]) -> list[tuple[socket.socket, list[Link]] | OSError]:
    """For each namespace path: a subscribed socket and the devices there now (or why it failed)."""
    out: list[tuple[socket.socket, list[Link]] | OSError] = []
    got = nsocket.sockets_in(paths, rtnl.open_socket)
    for sock in got:
        if isinstance(sock, OSError):
            out.append(sock)
            continue
        try:
            links = rtdump.links(sock)
            for group in GROUPS:
                sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            except OSError:
                pass
            sock.setblocking(False)
            out.append((sock, links))
        except OSError as e:
            sock.close()
            out.append(e)
    return out


def read(sock: socket.socket) -> tuple[list[Change], bool]:
    """Every pending notification on a subscribed socket, and whether some were lost (ENOBUFS)."""
    changes: list[Change] = []
    while True:
        try:
            data = sock.recv(1 << 16)
        except BlockingIOError:
            return changes, False
        except OSError as e:
            if e.errno == errno.ENOBUFS:
                return changes, True
            raise
        off = 0
        while off + HDR.size <= len(data):
            ln, mtype, _, _, _ = HDR.unpack_from(data, off)
            if ln < HDR.size:
                break
            change = decode(mtype, data[off:off + ln])
            if change is not None:
                changes.append(change)
            off += (ln + 3) & ~3


def decode(mtype: int, msg: bytes) -> Change | None:
    """One rtnetlink message as a Change (None for what the monitor does not report)."""
    if mtype in (RTM_NEWLINK, RTM_DELLINK):
        link = rtdump.parse_link(msg, HDR.size)
        return Change("link", mtype == RTM_NEWLINK, link.index, link=link)
    if mtype in (RTM_NEWADDR, RTM_DELADDR):
        family, plen, _, _, index = IFA.unpack_from(msg, HDR.size)
        attrs = _attrs(msg, HDR.size + IFA.size)
        raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
        text = _ip(family, raw) if raw else None
        return Change("addr", mtype == RTM_NEWADDR, index, address=f"{text}/{plen}" if text else None)
    if mtype in (RTM_NEWROUTE, RTM_DELROUTE):
        family, dst_len, _, _, table, _, _, _, _ = RTM.unpack_from(msg, HDR.size)
        attrs = _attrs(msg, HDR.size + RTM.size)
        if RTA_TABLE in attrs:
            table = struct.unpack_from("=I", attrs[RTA_TABLE])[0]
        if table == RT_TABLE_LOCAL:
            return None  # the kernel's own local/broadcast routes: noise next to the address events
        dst = _ip(family, attrs[RTA_DST]) if RTA_DST in attrs else None
        oif = struct.unpack_from("=I", attrs[RTA_OIF])[0] if RTA_OIF in attrs else 0
        gw = _ip(family, attrs[RTA_GATEWAY]) if RTA_GATEWAY in attrs else None
        return Change("route", mtype == RTM_NEWROUTE, oif, dst=f"{dst}/{dst_len}" if dst else "default", gateway=gw)
    return None


def _attrs(msg: bytes, off: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while off + 4 <= len(msg):
        ln, typ = struct.unpack_from("=HH", msg, off)
        if ln < 4:
            break
        out[typ & 0x3FFF] = msg[off + 4:off + ln]
        off += (ln + 3) & ~3
    return out


def _ip(family: int, raw: bytes) -> str | None:
    try:
        return socket.inet_ntop(family, raw)
    except (OSError, ValueError):
        return None
