"""What this kernel supports, found by trying it in a throwaway namespace."""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from functools import cache

from .privilege import has_cap

CLONE_NEWNET = 0x40000000

MODULES: dict[str, str] = {
    "veth": "veth", "bridge": "bridge", "vxlan": "vxlan", "vlan": "8021q", "gretap": "ip_gre",
    "gre": "ip_gre", "macvlan": "macvlan", "ipvlan": "ipvlan", "dummy": "dummy", "bond": "bonding",
    "wireguard": "wireguard", "geneve": "geneve", "ipip": "ipip", "tun": "tun", "tuntap": "tun",
}

_PROBE_SPEC: dict[str, dict[str, object]] = {
    "vxlan": {"vxlan_id": 1},
    "gretap": {"gre_remote": "192.0.2.1"},
    "gre": {"gre_remote": "192.0.2.1"},
    "geneve": {"geneve_id": 1, "geneve_remote": "192.0.2.1"},
}
_NEEDS_LOWER = {"vlan", "macvlan", "ipvlan"}


def module_for(kind: str) -> str:
    """The kernel module that provides device type `kind`."""
    return MODULES.get(kind, kind)


def _try_in_scratch_namespace(kind: str) -> bool | None:
    """Create (and drop) a device of `kind` inside a new, unnamed namespace."""
    result: list[bool | None] = [None]
    libc = ctypes.CDLL(None, use_errno=True)

    def probe() -> None:
        if libc.unshare(CLONE_NEWNET) != 0:
            return
        if kind in ("veth", "bridge"):  # no options: one raw request, without loading pyroute2
            from . import rtnl
            sock = rtnl.open_socket()
            try:
                rtnl.add_plain(sock, "vnetprobe0", kind, peer="vnetprobe3" if kind == "veth" else None)
                result[0] = True
            except rtnl.NetlinkError as e:
                result[0] = False if e.code == errno.EOPNOTSUPP else None
            finally:
                sock.close()
            return
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        with IPRoute() as ipr:
            try:
                spec: dict[str, object] = {"ifname": "vnetprobe0", "kind": kind}
                spec.update(_PROBE_SPEC.get(kind, {}))
                if kind in _NEEDS_LOWER:
                    ipr.link("add", ifname="vnetprobe1", kind="veth", peer={"ifname": "vnetprobe2"})
                    spec["link"] = ipr.link_lookup(ifname="vnetprobe1")[0]
                    if kind == "vlan":
                        spec["vlan_id"] = 2
                if kind == "veth":
                    spec["peer"] = {"ifname": "vnetprobe3"}
                ipr.link("add", **spec)
                result[0] = True
            except NetlinkError as e:
                result[0] = False if e.code == errno.EOPNOTSUPP else None
        # The thread ends here; its namespace and the probe devices die with it.

    t = threading.Thread(target=probe, name="vnetctl-probe")
    t.start()
    t.join()
    return result[0]


def _module_present(module: str) -> bool | None:
    if os.path.isdir(f"/sys/module/{module}"):
        return True
    release = os.uname().release
    for listing in (f"/lib/modules/{release}/modules.builtin", f"/lib/modules/{release}/modules.dep"):
        try:
            with open(listing) as f:
                if any(f"/{module}.ko" in line.split(":")[0] for line in f):
                    return True
        except OSError:
            return None
    return False


@cache
def supports(kind: str) -> bool:
    """True if this kernel can create devices of `kind` (tried for real when privileged)."""
    if kind in ("tun", "tuntap"):
        return os.path.exists("/dev/net/tun")
    if has_cap("CAP_NET_ADMIN") and has_cap("CAP_SYS_ADMIN"):
        found = _try_in_scratch_namespace(kind)
        if found is not None:
            return found
    return bool(_module_present(module_for(kind)))
