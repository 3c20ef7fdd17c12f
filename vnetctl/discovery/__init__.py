"""Discovery: every network namespace on the host, its devices, veth peers, drivers and tun holders.

`host()` is the whole host as `vnetctl inspect` shows it; `device()`/`lookup()` one device;
`veths()` and `tun_holders()` what `veth show --peer` and `tuntap show` need; `who()` and
`tun_anywhere()` what `inspect who` needs. The reading itself (namespaces found, sockets
opened, dumps, peers, holders) is the Scanner of `discovery.scanner`.
"""

from __future__ import annotations

import gc
import resource
from typing import Any

from ..backend import procfs
from ..errors import NotFound, PermissionDenied, UsageError
from ..model import Device, Holder, HostView, Link, Namespace, Who
from .scanner import LOWER_KINDS, Ns, Scanner

CHUNK = 256  # namespaces whose sockets are open at once on a big host

__all__ = ["CHUNK", "Scanner", "device", "host", "lookup", "namespaces", "tun_anywhere", "tun_holders", "veths", "who"]


def _device(sc: Scanner, ns: Ns, link: Link, holders: dict[tuple[int, str], list[Holder]],
            index: dict[tuple[int, int | None], list[tuple[Ns, Link]]] | None) -> Device:
    info = ns.drv.get(link.index)
    ports = tuple(sorted(lk.name for lk in ns.links or () if lk.master == link.index)) if link.kind == "bridge" else ()
    tun_mode = None
    held = tuple(sorted(holders.get((ns.inode, link.name), ()), key=lambda h: (h.pid, h.fd)))
    if link.kind == "tun" and link.detail("tun_persist") == 0 and not held:
        sc.warnings.append(f"tun/tap {link.name} in {ns.label} is not persistent, so a process holds it, but none was found "
                           "(its holder's files are unreadable or it is in another pid namespace)")
    if link.kind == "tun":
        tun_type = link.detail("tun_type")
        tun_mode = {1: "tun", 2: "tap"}.get(tun_type if isinstance(tun_type, int) else 0, info.bus_info if info else None)
    return Device(
        name=link.name, ifindex=link.index, kind=link.kind,
        driver=info.driver if info else None, bus_info=info.bus_info if info else None,
        state=link.state, mtu=link.mtu, mac=link.mac,
        master=ns.names.get(link.master) if link.master else None,
        addresses=tuple(ns.addrs.get(link.index, ())),
        peer=sc.peer(ns, link, index) if link.kind == "veth" else None,
        holders=held,
        ports=ports, tun_mode=tun_mode, altnames=link.altnames,
        driver_version=info.version if info else None, netns_inode=ns.inode, link_type=ns.types.get(link.index),
        lower=sc.lower(ns, link) if link.kind in LOWER_KINDS else None, admin_up=link.up, carrier=link.carrier,
        vxlan=_vxlan(link) if link.kind == "vxlan" else (), details=link.details, addrgenmode=link.addrgenmode,
    )


_VXLAN_KEYS = {"vxlan_id": "vxlan_id", "vxlan_group": "vxlan_group", "vxlan_group6": "vxlan_group", "vxlan_link": "vxlan_link",
               "vxlan_local": "vxlan_local", "vxlan_local6": "vxlan_local", "vxlan_port": "vxlan_port"}


def _vxlan(link: Link) -> tuple[tuple[str, object], ...]:
    """A vxlan's VNI, remote or group, lower device, local address and port (IPv6 ones under the same keys)."""
    return tuple((_VXLAN_KEYS[k], v) for k, v in link.details if k in _VXLAN_KEYS)


def _namespace(sc: Scanner, ns: Ns, devices: tuple[Device, ...]) -> Namespace:
    commands = tuple(sorted({procfs.comm(p) for p in ns.pids[:50]} - {""}))
    owners = sc.owners.of_pids(ns.owner_pids) if sc.owners and not ns.current else ()
    return Namespace(name=ns.name, inode=ns.inode, pids=tuple(ns.pids), commands=commands, devices=devices,
                     paths=tuple(ns.paths), current=ns.current, ref=ns.ref, owners=owners, held=ns.held)


def host(netns: str | None = None, owners: bool = True) -> HostView:
    """The whole host (or the one namespace `netns` names), as inspect sees it (owners resolved unless told not to)."""
    return _view([netns] if netns else None, owners)


def namespaces(specs: list[str | None], owners: bool = False) -> HostView:
    """The namespaces `specs` name (None: the current one), read as inspect reads them."""
    return _view(specs, owners)


def _chunk() -> int:
    """CHUNK, or fewer when RLIMIT_NOFILE leaves less room (each open namespace costs a socket)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return CHUNK if soft == resource.RLIM_INFINITY else max(4, min(CHUNK, (soft - 48) // 2))


def _view(specs: list[str | None] | None, owners: bool = True) -> HostView:
    """Read the namespaces `specs` name (None: all of them); peers are resolved against the whole host."""
    collecting = gc.isenabled()
    gc.disable()  # a big host is ~100,000 records that form no cycles: the collector would walk them again and again
    sc = Scanner(owners=owners)
    try:
        chosen = list(dict.fromkeys(sc.find(spec) for spec in specs)) if specs is not None else sc.ordered()
        chunk = _chunk()
        many = len(chosen) > chunk
        for start in range(0, len(chosen), chunk):
            part = chosen[start:start + chunk]
            sc.open_all(part)
            for ns in part:
                sc.read(ns)
                if many and not ns.current:
                    sc.release(ns)  # bounded fds; reopened later only if a peer lookup needs it
        sc.match(chosen, complete=all(ns.links is not None and not ns.failed for ns in sc.spaces.values()))
        index: dict[tuple[int, int | None], list[tuple[Ns, Link]]] = {}
        for ns in chosen:
            for lk in ns.links or ():
                if lk.kind == "veth":
                    index.setdefault((lk.index, lk.link), []).append((ns, lk))
        holders = sc.holders()
        spaces = tuple(_namespace(sc, ns, tuple(_device(sc, ns, lk, holders, index) for lk in ns.links or ()))
                       for ns in chosen)
        return HostView(spaces, tuple(dict.fromkeys(sc.warnings)))
    finally:
        sc.close()
        if collecting:
            gc.enable()


def veths(netns: str | None = None, all_namespaces: bool = False,
          warnings: list[str] | None = None) -> list[dict[str, Any]]:
    """Every veth in one namespace (or, with all_namespaces, on the host) with its peer.

    What could not be seen (namespaces it could not enter) is added to `warnings`.
    """
    view = _view(None if all_namespaces else [netns])
    if warnings is not None:
        warnings.extend(view.warnings)
    out = []
    for ns in view.namespaces:
        for d in ns.devices:
            if d.kind != "veth":
                continue
            p = d.peer
            peer = {"name": p.name if p else None, "ifindex": p.ifindex if p else None,
                    "netns": p.netns_ref if p else None, "netns_inode": p.netns_inode if p else None}
            out.append({"netns": ns.ref, "netns_inode": ns.inode, "name": d.name, "ifindex": d.ifindex,
                        "state": d.state, "peer": peer})
    return out


def tun_holders(netns: str | None = None, warnings: list[str] | None = None) -> dict[str, list[Holder]]:
    """Processes holding each tun/tap device of one namespace, by device name.

    What could not be seen (processes whose open files are unreadable) is added to `warnings`.
    """
    sc = Scanner()
    try:
        ns = sc.find(netns)
        if warnings is not None and sc.proc.hidden_fds:
            warnings.append(f"cannot read the open files of {len(sc.proc.hidden_fds)} process(es) (needs root): "
                            "the HOLDERS column may be incomplete")
        if not sc.proc.tun_fds and not sc.proc.tap_fds:
            return {}
        sc.read(ns)
        return {name: sorted(hs, key=lambda h: (h.pid, h.fd)) for (inode, name), hs in sc.holders().items()
                if inode == ns.inode}
    finally:
        sc.close()


def device(dev: str, netns: str | None = None) -> Device:
    """One device with its peer (and the peer's namespace name), driver, bus-info and holders."""
    return lookup(dev, netns)[0]


def lookup(dev: str, netns: str | None = None, kind: str | tuple[str, ...] | None = None) -> tuple[Device, list[str]]:
    """device() (of link kind `kind`, or one of them, when given), with the warnings about what could not be seen."""
    sc = Scanner()
    try:
        ns, link = _find_link(sc, dev, netns, kind)
        holders = sc.holders() if link.kind in ("tun", "macvtap") else {}
        found = _device(sc, ns, link, holders, None)
        return found, list(dict.fromkeys(sc.warnings))
    finally:
        sc.close()


def _find_link(sc: Scanner, dev: str, netns: str | None, kind: str | tuple[str, ...] | None = None) -> tuple[Ns, Link]:
    ns = sc.find(netns)
    sc.read(ns)
    if sc.socket_of(ns) is None:
        raise PermissionDenied(f"cannot enter {ns.label}", "needs CAP_SYS_ADMIN (run as root)")
    link = next((lk for lk in ns.links or () if lk.name == dev or dev in lk.altnames), None)
    if link is None:
        raise NotFound(f"device {dev!r} not found in {ns.label}", "see 'vnetctl inspect" + (f" -n {netns}'" if netns else "'"))
    wanted = (kind,) if isinstance(kind, str) else kind
    if wanted is not None and link.kind not in wanted:
        what = " or ".join({"tun": "tun/tap"}.get(k, k) for k in wanted)
        raise UsageError(f"{dev!r} is a {link.kind or 'physical'} device, not a {what}", f"give the name of a {what} device")
    return ns, link


def who(dev: str, netns: str | None = None) -> tuple[Who, list[str]]:
    """Device `dev`, its namespace's owners and, for a veth, the owners of the namespace at the other end."""
    sc = Scanner()
    try:
        ns, link = _find_link(sc, dev, netns)
        found = _device(sc, ns, link, sc.holders() if link.kind in ("tun", "macvtap") else {}, None)
        assert sc.owners is not None
        other = sc.spaces.get(found.peer.netns_inode) if found.peer and found.peer.netns_inode else None
        here = () if ns.current else sc.owners.of_pids(ns.owner_pids)
        there = sc.owners.of_pids(other.owner_pids) if other is not None and not other.current else ()
        return Who(found, ns.ref, ns.inode, here, there), list(dict.fromkeys(sc.warnings))
    finally:
        sc.close()


def tun_anywhere(dev: str) -> tuple[list[tuple[Namespace, Device]], list[str]]:
    """Every tun/tap named `dev` in every namespace, with its holders; NotFound/UsageError when there is none."""
    view = _view(None)
    found = [(ns, d) for ns in view.namespaces for d in ns.devices if d.name == dev or dev in d.altnames]
    taps = [(ns, d) for ns, d in found if d.kind in ("tun", "macvtap")]
    if not found:
        raise NotFound(f"device {dev!r} not found in any namespace", "see 'vnetctl inspect'")
    if not taps:
        raise UsageError(f"{dev!r} is a {found[0][1].kind or 'physical'} device, not a tun/tap or macvtap",
                         "give the name of a tun/tap or macvtap device")
    return taps, list(view.warnings)
