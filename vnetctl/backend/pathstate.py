"""What the kernel of one namespace decides for a packet (IPv4 or IPv6): routes, neighbours, FDB, port states, sysctls.

Plain rtnetlink requests on a socket bound to the namespace (rtnl), decoded here; nothing changes.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass

from ..model import Address, Link
from . import rtdump, rtnl
from .netlink import Netlink
from .netns import NsRef, call_in

RTM_NEWROUTE, RTM_GETROUTE, RTM_NEWNEIGH, RTM_GETNEIGH = 24, 26, 28, 30
RTA_DST, RTA_SRC, RTA_IIF, RTA_OIF, RTA_GATEWAY, RTA_PREFSRC, RTA_METRICS, RTA_TABLE = 1, 2, 3, 4, 5, 7, 8, 15
RTAX_MTU = 2
RTM_F_FIB_MATCH = 0x2000
NDA_DST, NDA_LLADDR, NDA_MASTER = 1, 2, 9
IFLA_PROTINFO, IFLA_BRPORT_STATE = 12, 1
RTMSG = struct.Struct("=BBBBBBBBI")
NDMSG = struct.Struct("=BxxxiHBB")
ROUTE_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
               7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat"}
NUD = {0x01: "INCOMPLETE", 0x02: "REACHABLE", 0x04: "STALE", 0x08: "DELAY", 0x10: "PROBE", 0x20: "FAILED",
       0x40: "NOARP", 0x80: "PERMANENT", 0x00: "NONE"}
TABLES = {254: "main", 255: "local", 253: "default"}
BR_STATES = {0: "disabled", 1: "listening", 2: "learning", 3: "forwarding", 4: "blocking"}


@dataclass(frozen=True)
class RouteAnswer:
    """The kernel's answer to RTM_GETROUTE: the route's type, table, device, gateway and MTU, or an errno."""

    type: str = "unicast"
    table: int = 254
    oif: int | None = None
    gateway: str | None = None
    prefsrc: str | None = None
    mtu: int | None = None
    error: str | None = None


def _ip(v: memoryview) -> str:
    raw = bytes(v)
    return socket.inet_ntop(socket.AF_INET6, raw[:16]) if len(raw) >= 16 else socket.inet_ntoa(raw[:4])


def family(ip: str) -> int:
    """AF_INET6 for an IPv6 address, else AF_INET."""
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _pack(ip: str) -> bytes:
    return socket.inet_pton(family(ip), ip)


class NsState:
    """Reads of one namespace, cached for the time of one trace; close() releases the socket."""

    def __init__(self, ns: NsRef | None) -> None:
        self.ns = ns
        self.nl = Netlink(ns)
        self.inode = ns.inode if ns else os.stat("/proc/self/ns/net").st_ino
        self.name = ns.name or ns.path if ns else "host"
        self._links: list[Link] | None = None
        self._addrs: list[Address] | None = None
        self._ports: dict[int, str] | None = None

    def close(self) -> None:
        """Release the netlink sockets."""
        self.nl.close()

    def links(self) -> list[Link]:
        """Every device (cached)."""
        if self._links is None:
            self._links = rtdump.links(self.nl.sock)
        return self._links

    def link(self, index: int | None = None, name: str | None = None) -> Link | None:
        """A device by index or name, from the cached dump."""
        return next((lk for lk in self.links() if lk.index == index or (name is not None and lk.name == name)), None)

    def addresses(self) -> list[Address]:
        """Every address (cached)."""
        if self._addrs is None:
            self._addrs = rtdump.addresses(self.nl.sock)
        return self._addrs

    def owner_of(self, ip: str) -> Link | None:
        """The device holding address ip here, if any."""
        for a in self.addresses():
            if a.cidr.split("/")[0] == ip:
                return self.link(a.ifindex)
        return None

    def vxlan(self, index: int) -> dict[str, object]:
        """A VXLAN device's attributes (vxlan_id, vxlan_group, vxlan_local, vxlan_link, vxlan_port)."""
        lk = self.link(index=index)
        return dict(lk.details) if lk is not None else {}

    def route_get(self, dst: str, src: str | None = None, iif: int | None = None, fibmatch: bool = False) -> RouteAnswer:
        """RTM_GETROUTE for dst (as forwarded from iif with source src when given), like `ip route get`."""
        fam = family(dst)
        bits = 128 if fam == socket.AF_INET6 else 32
        body = RTMSG.pack(fam, bits, bits if src else 0, 0, 0, 0, 0, 0, RTM_F_FIB_MATCH if fibmatch else 0)
        body += rtnl.nla(RTA_DST, _pack(dst))
        if src:
            body += rtnl.nla(RTA_SRC, _pack(src))
        if iif:
            body += rtnl.nla(RTA_IIF, struct.pack("=I", iif))
        try:
            got = rtnl.request(self.nl.sock, RTM_GETROUTE, 0, body, ack=False)
        except rtnl.NetlinkError as e:
            return RouteAnswer(error=errno.errorcode.get(e.code, str(e.code)))
        for t, m in got:
            if t == RTM_NEWROUTE:
                return _route(m)
        return RouteAnswer(error="ENODATA")

    def refusing_route(self, dst: str) -> str | None:
        """The longest unreachable/prohibit/blackhole route covering dst in any table, as `TYPE PREFIX table N`."""
        best: tuple[int, str] | None = None
        fam = family(dst)
        for t, m in rtnl.dump(self.nl.sock, RTM_GETROUTE, RTMSG.pack(fam, 0, 0, 0, 0, 0, 0, 0, 0)):
            if t != RTM_NEWROUTE:
                continue
            _, dst_len, _, _, table, _, _, rtype, _ = RTMSG.unpack_from(m, rtnl.HDR.size)
            if rtype not in (6, 7, 8):
                continue
            a = rtdump._attrs(m, rtnl.HDR.size + RTMSG.size, len(m))
            prefix = f"{_ip(a[RTA_DST]) if RTA_DST in a else ('::' if fam == socket.AF_INET6 else '0.0.0.0')}/{dst_len}"
            if RTA_TABLE in a:
                table = struct.unpack("=I", a[RTA_TABLE])[0]
            if ipaddress.ip_address(dst) in ipaddress.ip_network(prefix, strict=False) and (best is None or dst_len > best[0]):
                best = (dst_len, f"{ROUTE_TYPES[rtype]} {prefix} table {TABLES.get(table, table)}")
        return best[1] if best else None

    def neighbour(self, ifindex: int, ip: str) -> tuple[str, str | None]:
        """The ARP (IPv4) or NDP (IPv6) entry for ip on a device: (state, MAC) — state NONE when there is none."""
        for _, m, attrs in self._neigh_dump(family(ip)):
            idx, state = NDMSG.unpack_from(m, rtnl.HDR.size)[1:3]
            if idx == ifindex and NDA_DST in attrs and _ip(attrs[NDA_DST]) == ip:
                mac = bytes(attrs[NDA_LLADDR]).hex(":") if NDA_LLADDR in attrs else None
                return NUD.get(state, hex(state)), mac
        return "NONE", None

    def fdb_port(self, bridge: int, mac: str) -> int | None:
        """The bridge port the FDB sends `mac` to (None: unknown, the frame is flooded)."""
        for _, m, attrs in self._neigh_dump(7):
            port = NDMSG.unpack_from(m, rtnl.HDR.size)[1]
            master = struct.unpack("=I", attrs[NDA_MASTER])[0] if NDA_MASTER in attrs else None
            if master == bridge and NDA_LLADDR in attrs and bytes(attrs[NDA_LLADDR]).hex(":") == mac and port != bridge:
                return int(port)
        return None

    def vxlan_fdb(self, ifindex: int) -> list[tuple[str, str]]:
        """A VXLAN device's FDB entries that name a remote: (MAC, remote IP), like `bridge fdb show dev VX`."""
        out = []
        for _, m, attrs in self._neigh_dump(7):
            if NDMSG.unpack_from(m, rtnl.HDR.size)[1] == ifindex and NDA_DST in attrs and NDA_LLADDR in attrs:
                raw = bytes(attrs[NDA_DST])
                ip = socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)
                out.append((bytes(attrs[NDA_LLADDR]).hex(":"), ip))
        return out

    def port_state(self, ifindex: int) -> str | None:
        """A bridge port's STP state (forwarding, disabled, blocking...), from one AF_BRIDGE link dump (cached)."""
        if self._ports is None:
            self._ports = {}
            for t, m in rtnl.dump(self.nl.sock, rtnl.RTM_GETLINK, rtnl.IFI.pack(7, 0, 0, 0, 0)):
                attrs = rtdump._attrs(m, rtnl.HDR.size + rtnl.IFI.size, len(m)) if t == rtnl.RTM_NEWLINK else {}
                if IFLA_PROTINFO in attrs:
                    pi = bytes(attrs[IFLA_PROTINFO])
                    state = rtdump._attrs(pi, 0, len(pi)).get(IFLA_BRPORT_STATE)
                    if state is not None:
                        self._ports[rtnl.IFI.unpack_from(m, rtnl.HDR.size)[2]] = BR_STATES.get(state[0], str(state[0]))
        return self._ports.get(ifindex)

    def sysctl(self, key: str) -> str | None:
        """A net.* sysctl as this namespace sees it (e.g. net.ipv4.ip_forward), or None."""
        path = "/proc/sys/" + key.replace(".", "/")

        def read() -> str:
            with open(path) as f:
                return f.read().strip()

        try:
            return call_in(self.ns, read)
        except OSError:
            return None

    def dev_counters(self, name: str) -> tuple[int, int] | None:
        """A device's (tx_packets, tx_dropped) from /proc/net/dev as this namespace sees it."""

        def read() -> str:
            with open("/proc/thread-self/net/dev") as f:
                return f.read()

        try:
            text = call_in(self.ns, read)
        except OSError:
            return None
        for line in text.splitlines()[2:]:
            dev, _, nums = line.partition(":")
            if dev.strip() == name:
                cols = nums.split()
                return int(cols[9]), int(cols[11])
        return None

    def nsid_map(self, refs: list[NsRef | None]) -> dict[int, NsRef | None]:
        """The nsid this namespace gives each of refs (those it has given one)."""
        out: dict[int, NsRef | None] = {}
        for ref in refs:
            try:
                nsid = self.nl.nsid_of(ref)
            except OSError:
                continue
            if nsid is not None:
                out[nsid] = ref
        return out

    def _neigh_dump(self, family: int) -> list[tuple[int, bytes, dict[int, memoryview]]]:
        out = []
        for t, m in rtnl.dump(self.nl.sock, RTM_GETNEIGH, NDMSG.pack(family, 0, 0, 0, 0)):
            if t == RTM_NEWNEIGH:
                out.append((t, m, rtdump._attrs(m, rtnl.HDR.size + NDMSG.size, len(m))))
        return out


def _route(m: bytes) -> RouteAnswer:
    fam, _, _, _, table, _, _, rtype, _ = RTMSG.unpack_from(m, rtnl.HDR.size)
    a = rtdump._attrs(m, rtnl.HDR.size + RTMSG.size, len(m))
    mtu = None
    if RTA_METRICS in a:
        raw = bytes(a[RTA_METRICS])
        mtu_attr = rtdump._attrs(raw, 0, len(raw)).get(RTAX_MTU)
        mtu = struct.unpack("=I", mtu_attr)[0] if mtu_attr is not None else None
    if RTA_TABLE in a:
        table = struct.unpack("=I", a[RTA_TABLE])[0]
    return RouteAnswer(type=ROUTE_TYPES.get(rtype, str(rtype)), table=table,
                       oif=struct.unpack("=I", a[RTA_OIF])[0] if RTA_OIF in a else None,
                       gateway=_ip(a[RTA_GATEWAY]) if RTA_GATEWAY in a else None,
                       prefsrc=_ip(a[RTA_PREFSRC]) if RTA_PREFSRC in a else None, mtu=mtu)
