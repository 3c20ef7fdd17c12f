"""The rtnetlink link attributes (IFLA_*), defined once, and the one decoder of IFLA_INFO_DATA.

Every link vnetctl reads goes through backend.rtdump.parse_link, which decodes the
kind-specific IFLA_INFO_DATA with the table below, keyed by IFLA_INFO_KIND. A detail's
key is the attribute's name without IFLA_ in lower case (IFLA_BR_STP_STATE ->
br_stp_state), the names pyroute2 and the device-kind registry use for the same
attributes. Attributes a kind's table does not know are left out.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD, IFLA_EXT_MASK = 16, 18, 20, 28, 29
IFLA_LINK_NETNSID, IFLA_TARGET_NETNSID, IFLA_PROP_LIST, IFLA_ALT_IFNAME = 37, 46, 52, 53
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
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


def _table(spec: str) -> dict[int, tuple[str, str]]:
    """'name:type name:type ...' in the kernel's attribute order from 1 ('-' for one left out)."""
    out = {}
    for number, item in enumerate(spec.split(), start=1):
        if item != "-":
            name, typ = item.split(":")
            out[number] = (name, typ)
    return out


_MACVLAN = "mode:macvlan_mode flags:macvlan_flags macaddr_mode:u32 - - macaddr_count:u32 bc_queue_len:u32 bc_queue_len_used:u32"
_GRE = ("gre_link:u32 gre_iflags:be16 gre_oflags:be16 gre_ikey:be32 gre_okey:be32 gre_local:ip4 gre_remote:ip4 "
        "gre_ttl:u8 gre_tos:u8 gre_pmtudisc:u8 gre_encap_limit:u8 gre_flowinfo:be32 gre_flags:u32 gre_encap_type:u16 "
        "gre_encap_flags:u16 gre_encap_sport:be16 gre_encap_dport:be16 gre_collect_metadata:flag gre_ignore_df:u8 "
        "gre_fwmark:u32")

# IFLA_INFO_DATA per IFLA_INFO_KIND: attribute number -> (detail key, type)
INFO_DATA: dict[str, dict[int, tuple[str, str]]] = {
    "bridge": _table(
        "br_forward_delay:u32 br_hello_time:u32 br_max_age:u32 br_ageing_time:u32 br_stp_state:u32 br_priority:u16 "
        "br_vlan_filtering:u8 br_vlan_protocol:be16 br_group_fwd_mask:u16 br_root_id:brid br_bridge_id:brid "
        "br_root_port:u16 br_root_path_cost:u32 br_topology_change:u8 br_topology_change_detected:u8 "
        "br_hello_timer:u64 br_tcn_timer:u64 br_topology_change_timer:u64 br_gc_timer:u64 br_group_addr:mac - "
        "br_mcast_router:u8 br_mcast_snooping:u8 br_mcast_query_use_ifaddr:u8 br_mcast_querier:u8 "
        "br_mcast_hash_elasticity:u32 br_mcast_hash_max:u32 br_mcast_last_member_cnt:u32 br_mcast_startup_query_cnt:u32 "
        "br_mcast_last_member_intvl:u64 br_mcast_membership_intvl:u64 br_mcast_querier_intvl:u64 br_mcast_query_intvl:u64 "
        "br_mcast_query_response_intvl:u64 br_mcast_startup_query_intvl:u64 br_nf_call_iptables:u8 "
        "br_nf_call_ip6tables:u8 br_nf_call_arptables:u8 br_vlan_default_pvid:u16 - br_vlan_stats_enabled:u8 "
        "br_mcast_stats_enabled:u8 br_mcast_igmp_version:u8 br_mcast_mld_version:u8 br_vlan_stats_per_port:u8 - - "
        "br_fdb_n_learned:u32 br_fdb_max_learned:u32"),
    "vxlan": _table(
        "vxlan_id:u32 vxlan_group:ip4 vxlan_link:u32 vxlan_local:ip4 vxlan_ttl:u8 vxlan_tos:u8 vxlan_learning:u8 "
        "vxlan_ageing:u32 vxlan_limit:u32 - vxlan_proxy:u8 vxlan_rsc:u8 vxlan_l2miss:u8 vxlan_l3miss:u8 vxlan_port:be16 "
        "vxlan_group6:ip6 vxlan_local6:ip6 vxlan_udp_csum:u8 vxlan_udp_zero_csum6_tx:u8 vxlan_udp_zero_csum6_rx:u8 "
        "vxlan_remcsum_tx:u8 vxlan_remcsum_rx:u8 vxlan_gbp:flag vxlan_remcsum_nopartial:flag vxlan_collect_metadata:u8 "
        "vxlan_label:be32 vxlan_gpe:flag vxlan_ttl_inherit:flag vxlan_df:u8 vxlan_vnifilter:u8 vxlan_localbypass:u8"),
    "vlan": _table("vlan_id:u16 - - - vlan_protocol:be16"),
    "macvlan": _table(" ".join("macvlan_" + x if x != "-" else x for x in _MACVLAN.split())),
    "macvtap": _table(" ".join("macvtap_" + x if x != "-" else x for x in _MACVLAN.split())),
    "tun": _table("tun_owner:u32 tun_group:u32 tun_type:u8 tun_pi:u8 tun_vnet_hdr:u8 tun_persist:u8 tun_multi_queue:u8 "
                  "tun_num_queues:u32 tun_num_disabled_queues:u32"),
    "gretap": _table(_GRE),
    "gre": _table(_GRE),
}


def info_data(kind: str | None, attrs: dict[int, bytes]) -> tuple[tuple[str, object], ...]:
    """The details of a link of `kind` from its IFLA_INFO_DATA attributes (number -> payload)."""
    table = INFO_DATA.get(kind or "")
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
