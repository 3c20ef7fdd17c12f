"""Bridges through rtnetlink as `bridge` sees them: the forwarding database (AF_BRIDGE neighbours), port attributes, VLAN probe."""

from __future__ import annotations

import errno
import socket
import struct
from functools import cache
from typing import Any

from .ifla import port_table
from .netlink import Netlink, dump, kernel
from .scratch import in_scratch_namespace

NTF_SELF, NTF_MASTER, NTF_EXT_LEARNED, NTF_OFFLOADED = 0x02, 0x04, 0x10, 0x20
NUD_REACHABLE, NUD_STALE, NUD_NOARP, NUD_PERMANENT = 0x02, 0x04, 0x40, 0x80
FLAG_NAMES = {NTF_SELF: "self", NTF_MASTER: "master", NTF_EXT_LEARNED: "extern_learn", NTF_OFFLOADED: "offload"}


def state_name(state: int) -> str:
    """An entry's state as `bridge fdb` says it: permanent, static, or dynamic (learned)."""
    if state & NUD_PERMANENT:
        return "permanent"
    if state & NUD_NOARP:
        return "static"
    return "dynamic"


def _entry(m: Any, names: dict[int, str]) -> dict[str, Any]:
    master = m.get_attr("NDA_MASTER")
    return {"mac": m.get_attr("NDA_LLADDR"), "dev": names.get(m["ifindex"], str(m["ifindex"])), "dst": m.get_attr("NDA_DST"),
            "vlan": m.get_attr("NDA_VLAN"), "vni": m.get_attr("NDA_VNI"), "port": m.get_attr("NDA_PORT"),
            "master": names.get(master) if master else None, "state": state_name(m["state"]),
            "flags": [name for bit, name in FLAG_NAMES.items() if m["flags"] & bit]}


def entries(nl: Netlink, names: dict[int, str]) -> list[dict[str, Any]]:
    """Every forwarding database entry in the namespace (what `bridge -j fdb show` lists)."""
    msgs = dump(lambda: nl.ipr.get_neighbours(family=socket.AF_BRIDGE), "cannot list the forwarding database" + nl.where)
    return [_entry(m, names) for m in msgs if m.get_attr("NDA_LLADDR")]


def _spec(index: int, mac: str, dst: str | None, vni: int | None, port: int | None, master: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"ifindex": index, "lladdr": mac, "flags": NTF_MASTER if master else NTF_SELF}
    for key, value in (("dst", dst), ("vni", vni), ("port", port)):
        if value is not None:
            spec[key] = value
    return spec


def add(nl: Netlink, index: int, dev: str, mac: str, dst: str | None = None, vni: int | None = None,
        port: int | None = None, master: bool = False, permanent: bool = False, append: bool = False) -> None:
    """Add an entry (append: one more destination for the same MAC, as a VXLAN's flood list has)."""
    spec = _spec(index, mac, dst, vni, port, master)
    # static is NOARP|REACHABLE as bridge(8) sends it: a VXLAN refuses an entry that is neither permanent nor reachable
    spec["state"] = NUD_PERMANENT if permanent else NUD_NOARP | NUD_REACHABLE
    with kernel(f"cannot add {mac} to the forwarding database of {dev}{nl.where}"):
        nl.ipr.fdb("append" if append else "add", **spec)


def delete(nl: Netlink, index: int, dev: str, mac: str, dst: str | None = None, vni: int | None = None,
           port: int | None = None, master: bool = False) -> None:
    """Remove an entry (with dst: only that destination of the MAC)."""
    with kernel(f"cannot delete {mac}" + (f" dst {dst}" if dst else "") + f" from the forwarding database of {dev}{nl.where}"):
        nl.ipr.fdb("del", **_spec(index, mac, dst, vni, port, master))


PORT_FORMATS = {"u8": "=B", "u16": "=H", "u32": "=I"}
RTM_SETLINK, IFLA_PROTINFO = 19, 12


def set_port(nl: Netlink, index: int, dev: str, values: dict[str, int]) -> None:
    """Change a bridge port's attributes, by their brport_* names, as `bridge link set dev DEV ...` does.

    RTM_SETLINK for AF_BRIDGE with IFLA_PROTINFO: the one path that also takes the STP state
    (IFLA_INFO_SLAVE_DATA through RTM_NEWLINK ignores IFLA_BRPORT_STATE).
    """
    from . import rtnl
    numbers = {name: (num, typ) for num, (name, typ) in port_table("bridge").items()}
    data = b"".join(rtnl.nla(numbers[k][0], struct.pack(PORT_FORMATS[numbers[k][1]], v)) for k, v in values.items())
    body = rtnl.IFI.pack(socket.AF_BRIDGE, 0, index, 0, 0) + rtnl.nla(IFLA_PROTINFO | rtnl.NLA_F_NESTED, data)
    with kernel(f"cannot change bridge port {dev}{nl.where}"):
        rtnl.request(nl.sock, RTM_SETLINK, 0, body)


@cache
def has_vlan_filtering() -> bool | None:
    """True if this kernel's bridges can filter VLANs (tried on a bridge in a throwaway namespace); None: cannot tell."""
    def probe() -> bool | None:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        with IPRoute() as ipr:
            try:
                ipr.link("add", ifname="vnetprobe0", kind="bridge")
                ipr.link("set", ifname="vnetprobe0", kind="bridge", br_vlan_filtering=1)
                return True
            except NetlinkError as e:
                return False if e.code == errno.EOPNOTSUPP else None
    return in_scratch_namespace(probe)


def set_vlan_filtering(nl: Netlink, index: int, bridge: str, on: bool) -> None:
    """Turn a bridge's VLAN filtering on or off (ip link set BR type bridge vlan_filtering 1)."""
    with kernel(f"cannot change vlan_filtering of {bridge}{nl.where}"):
        nl.ipr.link("set", index=index, kind="bridge", br_vlan_filtering=int(on))


def vlan(nl: Netlink, command: str, index: int, dev: str, vid: int, pvid: bool = False, untagged: bool = False) -> None:
    """Add or delete a VLAN on a bridge port (bridge vlan add|del vid VID dev DEV [pvid] [untagged])."""
    flags = (2 if pvid else 0) | (4 if untagged else 0)  # BRIDGE_VLAN_INFO_PVID, _UNTAGGED
    with kernel(f"cannot {command} vlan {vid} on {dev}{nl.where}"):
        nl.ipr.vlan_filter(command, index=index, vlan_info={"vid": vid, "flags": flags})
