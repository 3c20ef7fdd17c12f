"""vxlan: Ethernet over UDP between nodes (the kernel overlay)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from . import Kind, Option, exclusive, register, same_family


def _multicast(values: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """remote is a unicast peer, group a multicast group (the kernel keeps both in one attribute)."""
    if values.get("remote") is not None and ipaddress.ip_address(values["remote"]).is_multicast:
        yield "remote", f"remote {values['remote']} is a multicast address; give it as group"
    if values.get("group") is not None and not ipaddress.ip_address(values["group"]).is_multicast:
        yield "group", f"group {values['group']} is not a multicast address; a unicast peer is a remote"


def _read(options: dict[str, Any]) -> None:
    """IFLA_VXLAN_GROUP holds the remote or the group: a multicast address is a group."""
    addr = options.get("remote")
    if addr is not None and ipaddress.ip_address(addr).is_multicast:
        options["remote"], options["group"] = None, addr
    else:
        options["group"] = None


KIND = register(Kind(
    "vxlan", module="vxlan", section="vxlans", cli=True,
    help="VXLAN: Ethernet over UDP between nodes (kernel overlay).",
    options=(
        Option("vni", "vxlan_id", "id", range=(0, 2**24 - 1), required=True, help="VXLAN network identifier."),
        Option("remote", "vxlan_group", "remote", type="ip", attr6="vxlan_group6", metavar="IP",
               help="Unicast peer address."),
        Option("group", "vxlan_group", "group", type="ip", attr6="vxlan_group6", metavar="IP",
               help="Multicast group address."),
        Option("local", "vxlan_local", "local", type="ip", attr6="vxlan_local6", metavar="IP", help="Source address."),
        Option("dstport", "vxlan_port", "dstport", range=(1, 65535), default=4789, help="UDP port."),
        Option("ttl", "vxlan_ttl", "ttl", range=(0, 255), help="TTL of the outer packets (0: inherit)."),
        Option("learning", "vxlan_learning", "learning", type="bool", flag_words=("nolearning", "learning"),
               help="Learn remote MAC addresses from received packets (the kernel's default)."),
    ),
    lower_attr="vxlan_link", lower_word="dev", lower_flag="dev", lower_help="Underlay device.",
    probe={"vxlan_id": 1},
    rules=(exclusive("remote", "group"), same_family("remote", "group", "local"), _multicast),
    reader=_read,
    info_data=(
        "vxlan_id:u32 vxlan_group:ip4 vxlan_link:u32 vxlan_local:ip4 vxlan_ttl:u8 vxlan_tos:u8 vxlan_learning:u8 "
        "vxlan_ageing:u32 vxlan_limit:u32 - vxlan_proxy:u8 vxlan_rsc:u8 vxlan_l2miss:u8 vxlan_l3miss:u8 vxlan_port:be16 "
        "vxlan_group6:ip6 vxlan_local6:ip6 vxlan_udp_csum:u8 vxlan_udp_zero_csum6_tx:u8 vxlan_udp_zero_csum6_rx:u8 "
        "vxlan_remcsum_tx:u8 vxlan_remcsum_rx:u8 vxlan_gbp:flag vxlan_remcsum_nopartial:flag vxlan_collect_metadata:u8 "
        "vxlan_label:be32 vxlan_gpe:flag vxlan_ttl_inherit:flag vxlan_df:u8 vxlan_vnifilter:u8 vxlan_localbypass:u8"),
))
