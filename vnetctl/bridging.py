"""The public operations on bridges beyond ports and membership: forwarding database, port attributes, VLANs.

Like vnetctl.api: mutating functions build Steps and run them (or with dry_run only return them);
read functions return plain data.
"""

from __future__ import annotations

from typing import Any

from .api import located, run
from .backend import bridge as brb
from .errors import NotFound, UsageError
from .names import check_ifname
from .ops.bridge import FdbEntry, PortSet, PortVlan, VlanFiltering, require_vlan_filtering
from .render.links import port_json
from .steps import Session, Step


def fdb(netns: str | None = None, dev: str | None = None, bridge: str | None = None) -> list[dict[str, Any]]:
    """Forwarding database entries (bridge fdb show): all, of one device, or of one bridge's ports."""
    with Session() as s:
        nl = s.nl(netns)
        links = nl.links()
        names = {lk.index: lk.name for lk in links}
        for wanted in (dev, bridge):
            if wanted is not None and wanted not in names.values():
                with located(wanted, netns):
                    nl.require(check_ifname(wanted))
        found = brb.entries(nl, names)
    return [e for e in found
            if (dev is None or e["dev"] == dev) and (bridge is None or bridge in (e["master"], e["dev"]))]


def fdb_add(mac: str, dev: str, netns: str | None = None, dst: str | None = None, vni: int | None = None,
            port: int | None = None, master: bool = False, permanent: bool = False, append: bool = False,
            dry_run: bool = False) -> list[Step]:
    """Add a forwarding entry: a static MAC on a bridge port (master), or a VXLAN endpoint (dst; append for more)."""
    with located(dev, netns):
        return run([FdbEntry(mac, dev, netns, dst, vni, port, master, permanent, append)], dry_run)


def fdb_del(mac: str, dev: str, netns: str | None = None, dst: str | None = None, vni: int | None = None,
            port: int | None = None, master: bool = False, dry_run: bool = False) -> list[Step]:
    """Remove a forwarding entry (with dst, only that destination)."""
    with located(dev, netns):
        return run([FdbEntry(mac, dev, netns, dst, vni, port, master, delete=True)], dry_run)


def ports(netns: str | None = None, dev: str | None = None) -> list[dict[str, Any]]:
    """Bridge ports with their attributes (bridge link show): state, learning, flood, isolated..."""
    with Session() as s:
        links = s.nl(netns).links()
    names = {lk.index: lk.name for lk in links}
    out = [{"name": lk.name, "ifindex": lk.index, "master": names.get(lk.master or 0), **(port_json(lk) or {})}
           for lk in links if lk.port and (dev is None or lk.name == dev)]
    if dev is not None and not out:
        raise NotFound(f"{dev!r} is not a bridge port" if dev in names.values() else f"device {dev!r} not found",
                       "see 'vnetctl bridge link show'")
    return out


def port_set(dev: str, netns: str | None = None, dry_run: bool = False, **attrs: Any) -> list[Step]:
    """Change a bridge port's attributes: state=forwarding|..., learning, flood, isolated... (bridge link set)."""
    steps: list[Step] = [PortSet(check_ifname(dev), k, v, netns) for k, v in attrs.items() if v is not None]
    if not steps:
        raise UsageError(f"nothing to change on port {dev!r}", "give --state, --learning, --flood, --isolated, ... "
                         "(see 'vnetctl bridge link set --help')")
    with located(dev, netns):
        return run(steps, dry_run)


def bridge_set(bridge: str, netns: str | None = None, vlan_filtering: bool | None = None,
               dry_run: bool = False) -> list[Step]:
    """Change a bridge: VLAN filtering on or off (69 where the kernel lacks it)."""
    if vlan_filtering is None:
        raise UsageError(f"nothing to change on bridge {bridge!r}", "give --vlan-filtering or --no-vlan-filtering")
    require_vlan_filtering()
    with located(bridge, netns):
        return run([VlanFiltering(check_ifname(bridge), vlan_filtering, netns)], dry_run)


def vlan(dev: str, vid: int, netns: str | None = None, pvid: bool = False, untagged: bool = False,
         delete: bool = False, dry_run: bool = False) -> list[Step]:
    """Add or delete a VLAN on a bridge port (69 where the kernel lacks VLAN filtering)."""
    step = PortVlan(check_ifname(dev), vid, netns, pvid, untagged, delete)
    require_vlan_filtering()
    with located(dev, netns):
        return run([step], dry_run)
