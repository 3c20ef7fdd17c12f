"""What this kernel supports, found by trying it in a throwaway namespace."""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from functools import cache

from .. import kinds
from .privilege import has_cap

CLONE_NEWNET = 0x40000000


def module_for(kind: str) -> str:
    """The kernel module that provides device type `kind`."""
    found = kinds.get("tun" if kind == "tuntap" else kind)
    return found.module if found else kind


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
                declared = kinds.get(kind)
                spec.update(declared.probe if declared else {})
                if declared is not None and declared.lower_required:
                    ipr.link("add", ifname="vnetprobe1", kind="veth", peer={"ifname": "vnetprobe2"})
                    spec[declared.lower_attr or "link"] = ipr.link_lookup(ifname="vnetprobe1")[0]
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
