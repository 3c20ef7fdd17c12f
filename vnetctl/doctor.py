"""What this host supports: device types, /dev/net/tun, capabilities and the tools labs use."""

from __future__ import annotations

import os
import shutil
from typing import Any

from .backend import kernel
from .backend.privilege import has_cap
from .backend.tun import tun_path

KINDS = ["veth", "bridge", "vxlan", "macvlan", "vlan", "gretap", "dummy", "bond", "wireguard"]
TOOLS = {"ip": "iproute2", "bridge": "iproute2", "ethtool": "ethtool", "ping": "iputils-ping",
         "tcpdump": "tcpdump", "dnsmasq": "dnsmasq", "dhclient": "isc-dhcp-client", "iperf3": "iperf3"}


def run_checks() -> list[dict[str, Any]]:
    """One entry per check: {check, ok, detail}."""
    out: list[dict[str, Any]] = []
    for cap in ("CAP_NET_ADMIN", "CAP_SYS_ADMIN"):
        ok = has_cap(cap)
        out.append({"check": cap, "ok": ok, "detail": "present" if ok else "missing: changes will exit 77"})
    path = tun_path()
    out.append({"check": "/dev/net/tun", "ok": os.path.exists(path),
                "detail": path if os.path.exists(path) else "missing: load the tun module"})
    for kind in KINDS:
        ok = kernel.supports(kind)
        out.append({"check": f"kind {kind}", "ok": ok,
                    "detail": "supported" if ok else f"kernel lacks {kernel.module_for(kind)}"})
    for tool, package in TOOLS.items():
        where = shutil.which(tool)
        out.append({"check": f"tool {tool}", "ok": where is not None,
                    "detail": where or f"not installed: apt-get install {package}"})
    return out
