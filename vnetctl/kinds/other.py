"""Kinds vnetctl only probes (doctor, `kernel lacks X`), decodes and deletes; no options, commands or lab sections."""

from . import Kind, register
from .gretap import GRE_DATA

TUN_DATA = ("tun_owner:u32 tun_group:u32 tun_type:u8 tun_pi:u8 tun_vnet_hdr:u8 tun_persist:u8 tun_multi_queue:u8 "
            "tun_num_queues:u32 tun_num_disabled_queues:u32")

for _name, _module, _probe, _lower, _data in (
    ("tun", "tun", {}, False, TUN_DATA), ("gre", "ip_gre", {"gre_remote": "192.0.2.1"}, False, GRE_DATA),
    ("ipvlan", "ipvlan", {}, True, ""), ("dummy", "dummy", {}, False, ""), ("bond", "bonding", {}, False, ""),
    ("wireguard", "wireguard", {}, False, ""), ("geneve", "geneve", {"geneve_id": 1, "geneve_remote": "192.0.2.1"}, False, ""),
    ("ipip", "ipip", {}, False, ""),
):
    register(Kind(_name, module=_module, probe=_probe, lower_required=_lower, info_data=_data))
