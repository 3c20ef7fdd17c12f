"""Raw rtnetlink: the wire protocol, and the hot, simple changes (set/delete a link, altnames, addresses).

pyroute2 spends ~0.2-0.3 ms of Python per request (asyncio plumbing, full message
decoding); a lab of 1000 namespaces makes ~10,000 such requests. These few are encoded
and decoded here with struct (tens of microseconds), on a plain NETLINK_ROUTE socket
bound to the namespace. Errors come back as pyroute2's NetlinkError (errno + the
kernel's extack text), mapped by netlink.kernel_error like pyroute2's NetlinkError. This
module does not import pyroute2, so commands that only need these requests start faster.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from .ifla import (
    ADDR_GEN_MODES,
    IFA_ADDRESS,
    IFA_BROADCAST,
    IFA_LOCAL,
    IFF_UP,
    IFLA_ADDRESS,
    IFLA_AF_SPEC,
    IFLA_ALT_IFNAME,
    IFLA_IFALIAS,
    IFLA_IFNAME,
    IFLA_INET6_ADDR_GEN_MODE,
    IFLA_INFO_DATA,
    IFLA_INFO_KIND,
    IFLA_LINKINFO,
    IFLA_MASTER,
    IFLA_MTU,
    IFLA_NET_NS_FD,
    IFLA_PROP_LIST,
    IFLA_TXQLEN,
    VETH_INFO_PEER,
)

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWNSID, RTM_GETNSID = 88, 90
RTM_NEWLINKPROP = 108
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP_INTR = 0x1, 0x2, 0x4, 0x10
NLM_F_EXCL, NLM_F_CREATE, NLM_F_APPEND, NLM_F_DUMP = 0x200, 0x400, 0x800, 0x300
NLM_F_ACK_TLVS = 0x200
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF
NETLINK_EXT_ACK = 11
SOL_NETLINK = 270
NLMSGERR_ATTR_MSG = 1


HDR = struct.Struct("=IHHII")
IFI = struct.Struct("=BxHiII")
IFA = struct.Struct("=BBBBI")
NLA = struct.Struct("=HH")
U32 = struct.Struct("=I")
I32 = struct.Struct("=i")
DUMP_RETRIES = 10
# Requests sent, by message type: what tests count to prove a reader linear in the host's size.
REQUESTS: Counter[int] = Counter()
T = TypeVar("T")
# One receive buffer, big enough for any dump chunk the kernel sends, reused under a lock.
_BUF = bytearray(1 << 18)
_BUF_LOCK = threading.Lock()
_seq = int.from_bytes(os.urandom(2), "little")


class NetlinkError(OSError):
    """The kernel answered with an error: the errno in .code, its extack text in args[1]."""

    def __init__(self, code: int, text: str = "") -> None:
        super().__init__(code, text or os.strerror(code))
        self.code = code


def open_socket() -> socket.socket:
    """A NETLINK_ROUTE socket in the calling thread's namespace, with extended acks on.

    The one way vnetctl opens one (netlink.netlink_socket runs it inside a namespace,
    nsocket.sockets_in inside many): raw requests here, pyroute2 through use_socket.
    """
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, 0)
    try:
        sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    except OSError:
        pass
    sock.bind((0, 0))
    return sock


def nla(typ: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    raw = NLA.pack(4 + len(payload), typ) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _name(value: str) -> bytes:
    return value.encode() + b"\0"


def request(sock: socket.socket, typ: int, flags: int, body: bytes, ack: bool = True) -> list[tuple[int, bytes]]:
    """Send one request; return (type, message) of every answer up to the ack or the dump's end.

    Raises NetlinkError (errno + extack text) for an error answer, and InterruptedError
    when the kernel flags a dump as interrupted by a concurrent change.
    """
    global _seq
    with _BUF_LOCK:
        _seq = (_seq + 1) & 0xFFFFFFFF
        seq = _seq
        REQUESTS[typ] += 1
        sock.send(HDR.pack(HDR.size + len(body), typ, NLM_F_REQUEST | (NLM_F_ACK if ack else 0) | flags, seq, 0) + body)
        out: list[tuple[int, bytes]] = []
        interrupted = False
        while True:
            n = sock.recv_into(_BUF)
            data = bytes(_BUF[:n])
            off = 0
            while off + HDR.size <= len(data):
                ln, mtype, mflags, mseq, _ = HDR.unpack_from(data, off)
                if ln < HDR.size:
                    raise NetlinkError(errno.EPROTO, "truncated netlink message")
                msg = data[off:off + ln]
                off += (ln + 3) & ~3
                if mseq != seq:
                    continue
                interrupted |= bool(mflags & NLM_F_DUMP_INTR)
                if mtype == NLMSG_ERROR:
                    (code,) = I32.unpack_from(msg, HDR.size)
                    if code == 0:
                        return out
                    raise NetlinkError(-code, _extack(msg, mflags, -code))
                if mtype == NLMSG_DONE:
                    if interrupted:
                        raise InterruptedError(errno.EINTR, "dump interrupted by a concurrent change")
                    return out
                out.append((mtype, msg))
                if not ack and not mflags & NLM_F_MULTI:
                    return out


def retried(run: Callable[[], T]) -> T:
    """run() (a dump), run again when a concurrent change interrupts it: the one retry policy for dumps.

    The kernel flags such a dump with NLM_F_DUMP_INTR (or fails it with EINTR); its answer
    may skip or repeat entries, so it is never used. `run` raises InterruptedError for
    one; after DUMP_RETRIES attempts, each after a short random pause that steps out of
    step with the churn, the last InterruptedError is raised.
    """
    for attempt in range(DUMP_RETRIES):
        if attempt:
            time.sleep(random.uniform(0, 0.002 * attempt))
        try:
            return run()
        except (InterruptedError, NetlinkError) as e:
            if isinstance(e, NetlinkError) and e.code != errno.EINTR or attempt == DUMP_RETRIES - 1:
                raise
    raise InterruptedError(errno.EINTR, "dump interrupted by a concurrent change")


def dump(sock: socket.socket, typ: int, body: bytes) -> list[tuple[int, bytes]]:
    """A dump request, retried() when a concurrent change interrupts it."""
    return retried(lambda: request(sock, typ, NLM_F_DUMP, body, ack=False))


def _extack(msg: bytes, flags: int, code: int) -> str:
    if flags & NLM_F_ACK_TLVS:
        # the error payload is the errno and the request's header (its body was capped), then TLVs
        off = HDR.size + 4 + HDR.size
        while off + 4 <= len(msg):
            ln, typ = NLA.unpack_from(msg, off)
            if ln < 4:
                break
            if typ == NLMSGERR_ATTR_MSG:
                return msg[off + 4:off + ln].split(b"\0", 1)[0].decode(errors="replace")
            off += (ln + 3) & ~3
    return os.strerror(code)


def _ifi(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return IFI.pack(socket.AF_UNSPEC, 0, index, flags, change)


def set_link(sock: socket.socket, index: int, up: bool | None = None, mtu: int | None = None,
             master: int | None = None, ns_fd: int | None = None, new_name: str | None = None,
             name: str | None = None, alias: str | None = None, address: bytes | None = None,
             txqlen: int | None = None, addrgenmode: str | None = None) -> None:
    """Change a device in one request (by ifindex, or by `name` when index is 0)."""
    body = _ifi(index, (IFF_UP if up else 0) if up is not None else 0, IFF_UP if up is not None else 0)
    if not index and name is not None:
        body += nla(IFLA_IFNAME, _name(name))
    if mtu is not None:
        body += nla(IFLA_MTU, U32.pack(mtu))
    if master is not None:
        body += nla(IFLA_MASTER, U32.pack(master))
    if ns_fd is not None:
        body += nla(IFLA_NET_NS_FD, U32.pack(ns_fd))
    if new_name is not None:
        body += nla(IFLA_IFNAME, _name(new_name))
    if alias is not None:
        body += nla(IFLA_IFALIAS, alias.encode())  # empty: the kernel removes the alias
    if address is not None:
        body += nla(IFLA_ADDRESS, address)
    if txqlen is not None:
        body += nla(IFLA_TXQLEN, U32.pack(txqlen))
    if addrgenmode is not None:
        # nested as ip nests it (no NLA_F_NESTED): IFLA_AF_SPEC -> AF_INET6 -> IFLA_INET6_ADDR_GEN_MODE (u8)
        mode = nla(IFLA_INET6_ADDR_GEN_MODE, bytes([ADDR_GEN_MODES.index(addrgenmode)]))
        body += nla(IFLA_AF_SPEC, nla(socket.AF_INET6, mode))
    request(sock, RTM_NEWLINK, 0, body)


def del_link(sock: socket.socket, index: int) -> None:
    """Delete a device."""
    request(sock, RTM_DELLINK, 0, _ifi(index))


def add_altname(sock: socket.socket, index: int, altname: str, name: str | None = None) -> None:
    """Give a device an alternative name (by ifindex, or by `name` when index is 0)."""
    props = nla(IFLA_ALT_IFNAME, _name(altname))
    body = _ifi(index) + (nla(IFLA_IFNAME, _name(name)) if not index and name is not None else b"")
    request(sock, RTM_NEWLINKPROP, NLM_F_EXCL | NLM_F_APPEND, body + nla(IFLA_PROP_LIST | NLA_F_NESTED, props))


def add_plain(sock: socket.socket, name: str, kind: str, ns_fd: int | None = None, peer: str | None = None,
              peer_ns_fd: int | None = None, index: int = 0, peer_index: int = 0) -> None:
    """Create a device that needs no options (a bridge with defaults, a veth pair), each end in its namespace.

    A non-zero index (peer_index) asks the kernel for that ifindex (EBUSY if taken).
    """
    data = b""
    if peer is not None:
        peer_body = _ifi(peer_index) + nla(IFLA_IFNAME, _name(peer))
        if peer_ns_fd is not None:
            peer_body += nla(IFLA_NET_NS_FD, U32.pack(peer_ns_fd))
        data = nla(IFLA_INFO_DATA | NLA_F_NESTED, nla(VETH_INFO_PEER, peer_body))
    info = nla(IFLA_INFO_KIND, _name(kind)) + data
    body = _ifi(index) + nla(IFLA_IFNAME, _name(name)) + nla(IFLA_LINKINFO | NLA_F_NESTED, info)
    if ns_fd is not None:
        body += nla(IFLA_NET_NS_FD, U32.pack(ns_fd))
    request(sock, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body)


def _addr_body(index: int, cidr: str, with_broadcast: bool) -> bytes:
    iface = ipaddress.ip_interface(cidr)
    fam = socket.AF_INET if iface.version == 4 else socket.AF_INET6
    packed = iface.ip.packed
    body = IFA.pack(fam, iface.network.prefixlen, 0, 0, index) + nla(IFA_LOCAL, packed) + nla(IFA_ADDRESS, packed)
    if with_broadcast and iface.version == 4 and iface.network.prefixlen < 31:
        body += nla(IFA_BROADCAST, iface.network.broadcast_address.packed)
    return body


def add_addr(sock: socket.socket, index: int, cidr: str) -> None:
    """Add an address (with the subnet's broadcast for IPv4, as `ip addr add ... brd +`)."""
    request(sock, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, _addr_body(index, cidr, True))


def del_addr(sock: socket.socket, index: int, cidr: str) -> None:
    """Remove an address."""
    request(sock, RTM_DELADDR, 0, _addr_body(index, cidr, False))
