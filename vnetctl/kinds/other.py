"""Kinds vnetctl only probes (doctor, `kernel lacks X`) and deletes; no options, commands or lab sections."""

from . import Kind, register

for _name, _module, _probe, _lower in (
    ("tun", "tun", {}, False), ("gre", "ip_gre", {"gre_remote": "192.0.2.1"}, False),
    ("ipvlan", "ipvlan", {}, True), ("dummy", "dummy", {}, False), ("bond", "bonding", {}, False),
    ("wireguard", "wireguard", {}, False), ("geneve", "geneve", {"geneve_id": 1, "geneve_remote": "192.0.2.1"}, False),
    ("ipip", "ipip", {}, False),
):
    register(Kind(_name, module=_module, probe=_probe, lower_required=_lower))
