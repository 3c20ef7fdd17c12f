"""The rtnetlink link attributes (IFLA_*), defined once, and the one decoder of IFLA_INFO_DATA.

Every link vnetctl reads goes through backend.rtdump.parse_link, which decodes the
kind-specific IFLA_INFO_DATA with the decoders below, keyed by IFLA_INFO_KIND; which
attribute number is which detail of which type is declared once per kind, in the device-kind
registry (`Kind.info_data` in vnetctl/kinds/, plain data). A detail's key is the attribute's
name without IFLA_ in lower case (IFLA_BR_STP_STATE -> br_stp_state), the names pyroute2 and
the registry's options use for the same attributes. Attributes a kind does not declare are
left out.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from functools import cache

from .. import kinds

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD, IFLA_EXT_MASK = 16, 18, 20, 28, 29
IFLA_LINK_NETNSID, IFLA_TARGET_NETNSID, IFLA_PROP_LIST, IFLA_ALT_IFNAME = 37, 46, 52, 53
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
IFLA_TXQLEN, IFLA_STATS64, IFLA_AF_SPEC = 13, 23, 26
IFLA_INET6_ADDR_GEN_MODE = 8  # inside IFLA_AF_SPEC -> AF_INET6
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
NETNSA_NSID, NETNSA_FD = 1, 3
NETNSA_NSID_NOT_ASSIGNED = -1
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFF_UP, IFF_LOWER_UP = 1, 1 << 16

ARPHRD = {1: "ether", 772: "loopback", 776: "sit", 778: "gre", 65534: "none"}
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")
MACVLAN_MODES = {1: "private", 2: "vepa", 4: "bridge", 8: "passthru", 16: "source"}
MACVLAN_FLAGS = {0: "none", 1: "nopromisc"}
# enum in6_addr_gen_mode by number, as ip names them (addrgenmode eui64|none|stable_secret|random)
ADDR_GEN_MODES = ("eui64", "none", "stable_secret", "random")


def _int(fmt: str) -> Callable[[bytes], object]:
    st = struct.Struct(fmt)
    return lambda v: st.unpack_from(v)[0] if len(v) >= st.size else None


def _bridge_id(v: bytes) -> object:
    # struct ifla_bridge_id: 2 bytes priority, 6 bytes MAC; written as `ip -d` does (8000.aa:bb:...)
    return f"{v[0]:x}{v[1]:02x}.{v[2:8].hex(':')}" if len(v) >= 8 else None


def _named(fmt: str, names: dict[int, str]) -> Callable[[bytes], object]:
    number = _int(fmt)

    def decode(v: bytes) -> object:
        n = number(v)
        return names.get(n, n) if isinstance(n, int) else None
    return decode


def _ip(family: int, size: int) -> Callable[[bytes], object]:
    return lambda v: socket.inet_ntop(family, v[:size]) if len(v) >= size else None


DECODERS: dict[str, Callable[[bytes], object]] = {
    "u8": _int("=B"), "u16": _int("=H"), "u32": _int("=I"), "u64": _int("=Q"),
    "be16": _int(">H"), "be32": _int(">I"), "ip4": _ip(socket.AF_INET, 4), "ip6": _ip(socket.AF_INET6, 16),
    "mac": lambda v: bytes(v).hex(":") if v else None, "flag": lambda v: True, "brid": _bridge_id,
    "macvlan_mode": _named("=I", MACVLAN_MODES), "macvlan_flags": _named("=H", MACVLAN_FLAGS),
}


# struct rtnl_link_stats64, the counters `ip -s link` prints, in the kernel's order
STATS64 = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_errors", "tx_errors", "rx_dropped", "tx_dropped",
           "multicast", "collisions")


@cache
def _tables(ports: bool = False) -> dict[str, dict[int, tuple[str, str]]]:
    """IFLA_INFO_KIND -> attribute number -> (detail key, type): each kind's `info_data` in the registry.

    With ports: the IFLA_INFO_SLAVE_DATA its ports carry, keyed by the master's kind (a bridge port's brport_*).
    """
    if ports:
        return {k.name: k.data_table(k.port_data) for k in kinds.all_kinds() if k.port_data}
    return {k.name: k.data_table() for k in kinds.all_kinds() if k.info_data}


def port_table(kind: str) -> dict[int, tuple[str, str]]:
    """The port attributes of a master of `kind` (bridge): number -> (detail key, type)."""
    return _tables(True).get(kind, {})


def info_data(kind: str | None, attrs: dict[int, bytes], ports: bool = False) -> tuple[tuple[str, object], ...]:
    """The details of a link of `kind` from its IFLA_INFO_DATA attributes (number -> payload); with ports, of a port."""
    table = _tables(ports).get(kind or "")
    if not table:
        return ()
    out = []
    for number in sorted(attrs):
        known = table.get(number)
        if known is not None:
            value = DECODERS[known[1]](attrs[number])
            if value is not None:
                out.append((known[0], value))
    return tuple(out)
