"""vnetctl: operate, set up and inspect Linux virtual network devices.

The library is the twin of the CLI: every command is one function here.
"""

from typing import Any

from .errors import VnetError

__version__ = "0.1.0"

__all__ = [
    "VnetError", "addr_add", "addr_del", "addresses", "bridge_add", "bridge_addif", "bridge_delif", "bridges",
    "gretap_add", "kind_devices", "link", "link_add", "link_del", "link_set", "links", "macvlan_add", "macvtap_add",
    "netns_add", "netns_del", "netns_list", "route_add", "route_del", "routes", "run", "tunnel_add", "tuntap_add",
    "tuntaps", "veth_add", "veths", "vlan_add", "vxlan_add",
]


def __getattr__(name: str) -> Any:
    """The API functions, imported on first use so that `vnetctl inspect` starts without pyroute2."""
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'vnetctl' has no attribute {name!r}")
