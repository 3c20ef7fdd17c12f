"""The raw rtnetlink reader: link and address dumps, one link, nsid queries; the one link decoder.

Every Link vnetctl reads comes from parse_link here (inspect, `link show`, api.link/links,
teardown), with IFLA_INFO_DATA decoded by backend.ifla's per-kind table; pyroute2 is
kept for what it earns: creating devices with many options, and routes. Straight struct
decoding on a NETLINK_ROUTE socket bound to a namespace, because a host of a thousand
namespaces must be read in well under a second, interpreter included.
"""

from __future__ import annotations

import errno
import socket
import struct
from typing import NamedTuple

from ..model import Address, Link
from .ifla import (
    ADDR_GEN_MODES,
    ARPHRD,
    IFA_ADDRESS,
    IFA_LOCAL,
    IFF_LOWER_UP,
    IFLA_ADDRESS,
    IFLA_AF_SPEC,
    IFLA_ALT_IFNAME,
    IFLA_EXT_MASK,
    IFLA_IFALIAS,
    IFLA_IFNAME,
    IFLA_INET6_ADDR_GEN_MODE,
    IFLA_INFO_DATA,
    IFLA_INFO_KIND,
    IFLA_INFO_SLAVE_DATA,
    IFLA_INFO_SLAVE_KIND,
    IFLA_LINK,
    IFLA_LINK_NETNSID,
    IFLA_LINKINFO,
    IFLA_MASTER,
    IFLA_MTU,
    IFLA_OPERSTATE,
    IFLA_PROP_LIST,
    IFLA_STATS64,
    IFLA_TARGET_NETNSID,
    IFLA_TXQLEN,
    NETNSA_FD,
    NETNSA_NSID,
    NETNSA_NSID_NOT_ASSIGNED,
    OPERSTATES,
    RTEXT_FILTER_SKIP_STATS,
    STATS64,
    info_data,
)
from .rtnl import (
    HDR,
    I32,
    IFA,
    IFI,
    NLA,
    NLA_TYPE_MASK,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNSID,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNSID,
    U32,
    NetlinkError,
    dump,
    nla,
    request,
)

_LINK_ATTRS = frozenset({IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER, IFLA_OPERSTATE, IFLA_LINKINFO,
                         IFLA_IFALIAS, IFLA_LINK_NETNSID, IFLA_PROP_LIST, IFLA_TXQLEN, IFLA_AF_SPEC})


def _attrs(buf: bytes | memoryview, off: int, end: int, want: frozenset[int] | None = None) -> dict[int, memoryview]:
    out: dict[int, memoryview] = {}
    mv = memoryview(buf)
    unpack = NLA.unpack_from
    end -= 4
    while off <= end:  # the hot loop of a big host's reading: a link carries ~40 attributes
        ln, typ = unpack(buf, off)
        if ln < 4:
            break
        if want is None or typ & NLA_TYPE_MASK in want:
            out[typ & NLA_TYPE_MASK] = mv[off + 4:off + ln]
        off += (ln + 3) & ~3
    return out


def _str(v: memoryview) -> str:
    return bytes(v).split(b"\0", 1)[0].decode(errors="replace")


def _mac(v: memoryview) -> str | None:
    return bytes(v).hex(":") if len(v) else None


def _addr_gen_mode(af_spec: memoryview) -> str | None:
    """The IPv6 address generation mode in IFLA_AF_SPEC, as ip names it (None: the device has no IPv6 state).

    A straight walk to AF_INET6 -> IFLA_INET6_ADDR_GEN_MODE, past the conf and stats blocks: every link read pays it.
    """
    unpack, off, end = NLA.unpack_from, 0, len(af_spec) - 4
    while off <= end:
        ln, typ = unpack(af_spec, off)
        if ln < 4:
            break
        if typ & NLA_TYPE_MASK == socket.AF_INET6:
            inner, stop = off + 4, off + ln - 4
            while inner <= stop:
                ln, typ = unpack(af_spec, inner)
                if ln < 4:
                    break
                if typ & NLA_TYPE_MASK == IFLA_INET6_ADDR_GEN_MODE and ln > 4:
                    mode = af_spec[inner + 4]
                    return ADDR_GEN_MODES[mode] if mode < len(ADDR_GEN_MODES) else str(mode)
                inner += (ln + 3) & ~3
            break
        off += (ln + 3) & ~3
    return None


def link_type(msg: bytes, off: int) -> str:
    """The ARPHRD type of an RTM_NEWLINK message as `ip` names it (ether, loopback, none...)."""
    (_, typ, _, _, _) = IFI.unpack_from(msg, off)
    return ARPHRD.get(typ, str(typ))


def parse_link(msg: bytes, off: int, ports: bool = True) -> Link:
    """Decode one RTM_NEWLINK message into a Link (without ports: a bridge port's attributes left out, for speed)."""
    _, _, index, flags, _ = IFI.unpack_from(msg, off)
    a = _attrs(msg, off + IFI.size, len(msg), _LINK_ATTRS)
    kind = None
    details: tuple[tuple[str, object], ...] = ()
    port: tuple[tuple[str, object], ...] = ()
    if IFLA_LINKINFO in a:
        info = a[IFLA_LINKINFO].tobytes()
        ia = _attrs(info, 0, len(info))
        if IFLA_INFO_KIND in ia:
            kind = _str(ia[IFLA_INFO_KIND])
        if IFLA_INFO_DATA in ia:
            data = ia[IFLA_INFO_DATA].tobytes()
            details = info_data(kind, {t: v.tobytes() for t, v in _attrs(data, 0, len(data)).items()})
        if ports and IFLA_INFO_SLAVE_DATA in ia and IFLA_INFO_SLAVE_KIND in ia:
            data = ia[IFLA_INFO_SLAVE_DATA].tobytes()
            port = info_data(_str(ia[IFLA_INFO_SLAVE_KIND]), {t: v.tobytes() for t, v in _attrs(data, 0, len(data)).items()},
                             ports=True)
    alts: tuple[str, ...] = ()
    if IFLA_PROP_LIST in a:
        props = a[IFLA_PROP_LIST].tobytes()
        off2, alist = 0, []
        while off2 + 4 <= len(props):
            ln, typ = NLA.unpack_from(props, off2)
            if ln < 4:
                break
            if typ & NLA_TYPE_MASK == IFLA_ALT_IFNAME:
                alist.append(_str(memoryview(props)[off2 + 4:off2 + ln]))
            off2 += (ln + 3) & ~3
        alts = tuple(alist)
    oper = a[IFLA_OPERSTATE][0] if IFLA_OPERSTATE in a else 0
    return Link(
        name=_str(a[IFLA_IFNAME]) if IFLA_IFNAME in a else "",
        index=index,
        kind=kind,
        mtu=U32.unpack_from(a[IFLA_MTU])[0] if IFLA_MTU in a else 0,
        state=OPERSTATES[oper] if oper < len(OPERSTATES) else str(oper),
        up=bool(flags & 1),
        carrier=bool(flags & IFF_LOWER_UP),
        mac=_mac(a[IFLA_ADDRESS]) if IFLA_ADDRESS in a else None,
        master=U32.unpack_from(a[IFLA_MASTER])[0] if IFLA_MASTER in a else None,
        link=U32.unpack_from(a[IFLA_LINK])[0] if IFLA_LINK in a else None,
        link_netnsid=I32.unpack_from(a[IFLA_LINK_NETNSID])[0] if IFLA_LINK_NETNSID in a else None,
        altnames=alts,
        alias=_str(a[IFLA_IFALIAS]) if IFLA_IFALIAS in a else None,
        details=details,
        txqlen=U32.unpack_from(a[IFLA_TXQLEN])[0] if IFLA_TXQLEN in a else None,
        port=port,
        addrgenmode=_addr_gen_mode(a[IFLA_AF_SPEC]) if IFLA_AF_SPEC in a else None,
    )


def _link_body(index: int = 0, extra: bytes = b"") -> bytes:
    return IFI.pack(socket.AF_UNSPEC, 0, index, 0, 0) + nla(IFLA_EXT_MASK, U32.pack(RTEXT_FILTER_SKIP_STATS)) + extra


def links(sock: socket.socket, ports: bool = True) -> list[Link]:
    """Every device in the socket's namespace (one RTM_GETLINK dump); without ports, as parse_link without them."""
    return [parse_link(m, HDR.size, ports) for t, m in dump(sock, RTM_GETLINK, _link_body()) if t == RTM_NEWLINK]


def stats(sock: socket.socket) -> dict[int, dict[str, int]]:
    """The counters of every device in the socket's namespace (IFLA_STATS64, what `ip -s link` prints), by ifindex."""
    body = IFI.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    out: dict[int, dict[str, int]] = {}
    for t, m in dump(sock, RTM_GETLINK, body):
        if t != RTM_NEWLINK:
            continue
        index = IFI.unpack_from(m, HDR.size)[2]
        a = _attrs(m, HDR.size + IFI.size, len(m), frozenset({IFLA_STATS64}))
        if IFLA_STATS64 in a and len(a[IFLA_STATS64]) >= 8 * len(STATS64):
            out[index] = dict(zip(STATS64, struct.unpack_from(f"={len(STATS64)}Q", a[IFLA_STATS64]), strict=True))
    return out


def links_typed(sock: socket.socket, ports: bool = True) -> list[tuple[Link, str]]:
    """links(), each with its link type (ether, loopback, none...); without ports, as parse_link without them."""
    return [(parse_link(m, HDR.size, ports), link_type(m, HDR.size)) for t, m in dump(sock, RTM_GETLINK, _link_body())
            if t == RTM_NEWLINK]


def _link_msg(sock: socket.socket, index: int, target_nsid: int | None) -> bytes | None:
    """The RTM_NEWLINK answer for device `index` (in the namespace the socket calls target_nsid, if given); None if none."""
    extra = nla(IFLA_TARGET_NETNSID, I32.pack(target_nsid)) if target_nsid is not None else b""
    try:
        got = request(sock, RTM_GETLINK, 0, _link_body(index, extra), ack=False)
    except NetlinkError as e:
        if e.errno in (errno.ENODEV, errno.ENOENT, errno.EINVAL):
            return None
        raise
    return next((m for t, m in got if t == RTM_NEWLINK), None)


def link_by_index(sock: socket.socket, index: int, target_nsid: int | None = None) -> Link | None:
    """One device by ifindex, in the socket's namespace or in the one it calls target_nsid."""
    m = _link_msg(sock, index, target_nsid)
    return parse_link(m, HDR.size) if m is not None else None


class LinkId(NamedTuple):
    """What singles out one device: its name, ifindex and MAC."""

    name: str
    ifindex: int
    mac: str | None


_ID_ATTRS = frozenset({IFLA_IFNAME, IFLA_ADDRESS})


def link_id(sock: socket.socket, index: int, target_nsid: int) -> LinkId | None:
    """The name and MAC of device `index` in the namespace the socket calls target_nsid (no full decode:
    inspect asks this once per veth pair across namespaces)."""
    m = _link_msg(sock, index, target_nsid)
    if m is None:
        return None
    a = _attrs(m, HDR.size + IFI.size, len(m), _ID_ATTRS)
    return LinkId(_str(a[IFLA_IFNAME]) if IFLA_IFNAME in a else "", IFI.unpack_from(m, HDR.size)[2],
                  _mac(a[IFLA_ADDRESS]) if IFLA_ADDRESS in a else None)


def get_link(sock: socket.socket, name: str | None = None, index: int = 0) -> Link | None:
    """The device called `name` (an altname when 16 bytes or longer) or with ifindex `index`.

    Errors (ENODEV for a missing one) are raised as NetlinkError for the caller to judge.
    """
    extra = b""
    if name is not None:
        extra = nla(IFLA_IFNAME if len(name.encode()) < 16 else IFLA_ALT_IFNAME, name.encode() + b"\0")
    for mtype, msg in request(sock, RTM_GETLINK, 0, _link_body(index, extra), ack=False):
        if mtype == RTM_NEWLINK:
            return parse_link(msg, HDR.size)
    return None


def addresses(sock: socket.socket) -> list[Address]:
    """Every IPv4 and IPv6 address in the socket's namespace (one RTM_GETADDR dump)."""
    out = []
    for t, m in dump(sock, RTM_GETADDR, IFA.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
        if t != RTM_NEWADDR:
            continue
        o = HDR.size
        family, plen, _, _, index = IFA.unpack_from(m, o)
        a = _attrs(m, o + IFA.size, len(m))
        raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS)
        if raw is None:
            continue
        try:
            text = socket.inet_ntop(family, bytes(raw))
            # A point-to-point address: IFA_LOCAL is ours, IFA_ADDRESS the other end's (as `ip` prints it).
            peer = a.get(IFA_ADDRESS) if IFA_LOCAL in a and IFA_ADDRESS in a and bytes(a[IFA_ADDRESS]) != bytes(raw) else None
            if peer is not None:
                text += " peer " + socket.inet_ntop(family, bytes(peer))
        except (OSError, ValueError):
            continue
        out.append(Address(index, f"{text}/{plen}", family))
    return out


def nsid_of(sock: socket.socket, ns_fd: int) -> int | None:
    """The nsid the socket's namespace gives to the namespace behind ns_fd (None: not assigned)."""
    body = struct.pack("=Bxxx", socket.AF_UNSPEC) + nla(NETNSA_FD, U32.pack(ns_fd))
    for t, m in request(sock, RTM_GETNSID, 0, body, ack=False):
        if t == RTM_NEWNSID:
            a = _attrs(m, HDR.size + 4, len(m))
            if NETNSA_NSID in a:
                nsid = I32.unpack_from(a[NETNSA_NSID])[0]
                return None if nsid == NETNSA_NSID_NOT_ASSIGNED else nsid
    return None
