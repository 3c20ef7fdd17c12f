"""inspect as text: the documented JSON shape, a plain or rich tree, a table (pure functions)."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..model import Device, Holder, HostView, Namespace, Owner, Peer, Who
from ..owners import describe
from .links import flags_state
from .output import Col

TABLE_COLUMNS = [Col("NAMESPACE"), Col("IFINDEX"), Col("NAME"), Col("KIND"), Col("DRIVER", drop=5), Col("BUS-INFO", drop=6),
                 Col("STATE"), Col("MTU", drop=4), Col("MASTER", drop=2), Col("PEER"), Col("ADDRESSES", drop=1),
                 Col("HOLDERS", drop=3, cut=True), Col("OWNER", drop=7, cut=True)]


CURRENT = "(host)"  # the current namespace, when it has no name, in every table and tree


def netns_label(name: str | None, current: bool, ref: str | None = None, inode: int | None = None) -> str:
    """How a namespace is named in text: its name, (host) for the current one, else its -n reference."""
    if name:
        return name
    if current:
        return CURRENT
    return f"({ref})" if ref else f"(inode {inode})"


def ref_label(ref: str | None) -> str:
    """A namespace known only by what -n accepts (None: the current one), labelled as netns_label does."""
    if ref is None:
        return CURRENT
    return f"({ref})" if ref.startswith("pid:") or "/" in ref else ref


def ns_label(ns: Namespace) -> str:
    """A Namespace's label (see netns_label)."""
    return netns_label(ns.name, ns.current, ns.ref, ns.inode)


def labels(view: HostView) -> dict[int, str]:
    """Namespace inode -> label, for naming peers."""
    return {ns.inode: ns_label(ns) for ns in view.namespaces}


def peer_ns_label(peer: Peer, known: dict[int, str]) -> str:
    """Where a peer lives, as words."""
    if peer.netns_inode is None:
        return "an unknown namespace"
    if peer.netns_inode in known:
        return known[peer.netns_inode]
    return netns_label(peer.netns_name, peer.netns_current, peer.netns_ref, peer.netns_inode)


def owner_json(o: Owner | None) -> dict[str, Any] | None:
    """An owner as JSON: kind, runtime, id, name, pod, pod_namespace, image."""
    if o is None:
        return None
    return {"kind": o.kind, "runtime": o.runtime, "id": o.id, "name": o.name, "pod": o.pod,
            "pod_namespace": o.pod_namespace, "image": o.image}


def owners_text(owners: tuple[Owner, ...]) -> str:
    """The telling owners of a namespace as words ('' for plain processes, which the commands already show)."""
    return ", ".join(describe(o) for o in owners if _telling(o))


def holder_json(h: Holder) -> dict[str, Any]:
    """One holder as JSON."""
    return {"pid": h.pid, "comm": h.comm, "fd": h.fd, "cmdline": list(h.cmdline), "owner": owner_json(h.owner)}


def peer_json(peer: Peer | None) -> dict[str, Any] | None:
    """A veth peer as JSON."""
    if peer is None:
        return None
    return {"name": peer.name, "ifindex": peer.ifindex, "netns": peer.netns_ref, "netns_inode": peer.netns_inode,
            "netns_current": peer.netns_current}


def device_json(d: Device) -> dict[str, Any]:
    """One device in the documented shape (plus a few extra keys)."""
    return {"name": d.name, "ifindex": d.ifindex, "kind": d.kind, "driver": d.driver, "bus_info": d.bus_info,
            "state": d.state, "mtu": d.mtu, "mac": d.mac, "master": d.master, "addresses": list(d.addresses),
            "peer": peer_json(d.peer), "holders": [holder_json(h) for h in d.holders],
            "ports": list(d.ports), "tun_mode": d.tun_mode, "altnames": list(d.altnames),
            "driver_version": d.driver_version, "netns_inode": d.netns_inode, "link_type": d.link_type,
            "lower": peer_json(d.lower), "vxlan": vxlan_json(d) if d.kind == "vxlan" else None,
            "admin_up": d.admin_up, "carrier": d.carrier, "link_state": link_state(d)}


def link_state(d: Device) -> str:
    """Admin state and carrier as `ip` flags say them: UP, UP,NO-CARRIER or DOWN (operstate when unknown)."""
    return flags_state(d.admin_up, d.carrier, d.state)


def vxlan_json(d: Device) -> dict[str, Any]:
    """A vxlan's VNI, remote or multicast group, local address and UDP port."""
    v = dict(d.vxlan)
    group = v.get("vxlan_group")
    multicast = isinstance(group, str) and ipaddress.ip_address(group).is_multicast
    return {"vni": v.get("vxlan_id"), "remote": None if multicast else group, "group": group if multicast else None,
            "local": v.get("vxlan_local"), "port": v.get("vxlan_port")}


def namespace_json(ns: Namespace) -> dict[str, Any]:
    """One namespace in the documented shape."""
    return {"name": ns.name, "inode": ns.inode, "pids": list(ns.pids), "commands": list(ns.commands),
            "current": ns.current, "ref": ns.ref, "paths": list(ns.paths),
            "owners": [owner_json(o) for o in ns.owners], "held": ns.held, "devices": [device_json(d) for d in ns.devices]}


def host_json(view: HostView) -> dict[str, Any]:
    """`vnetctl inspect --json`: {"namespaces": [...], "warnings": [...]}."""
    return {"namespaces": [namespace_json(ns) for ns in view.namespaces], "warnings": list(view.warnings)}


def driver_json(d: Device) -> dict[str, Any]:
    """`vnetctl inspect driver --json`: what ethtool -i says, and the link kind."""
    return {"driver": d.driver, "version": d.driver_version, "bus_info": d.bus_info, "kind": d.kind}


def ns_header(ns: Namespace) -> str:
    """The line that opens a namespace in the tree."""
    text = f"{ns_label(ns)}  inode {ns.inode}"
    if owners_text(ns.owners):
        text += f"  {owners_text(ns.owners)}"
    if ns.held and not ns.pids and not ns.name:
        text += f"  held by {ns.held}"
    if ns.pids:
        shown = ",".join(map(str, ns.pids[:6])) + (f",+{len(ns.pids) - 6}" if len(ns.pids) > 6 else "")
        text += f"  pids {shown}"
    if ns.commands:
        text += "  [" + ",".join(ns.commands[:6]) + ("…" if len(ns.commands) > 6 else "") + "]"
    return text


def holders_text(holders: tuple[Holder, ...]) -> str:
    """Holders as `comm[pid] fd N`, with the owner when it says more than the command: `qemu[7] fd 26 (vm web (qemu))`."""
    return ", ".join(f"{h.comm or '?'}[{h.pid}] fd {h.fd}" + (f" ({describe(h.owner)})" if h.owner and _telling(h.owner) else "")
                     for h in holders)


def _telling(owner: Owner | None) -> bool:
    return owner is not None and owner.kind != "process"


def kind_text(d: Device) -> str:
    """A device's type in one word: tap/tun, the link kind, the driver, or the link type."""
    return d.tun_mode or d.kind or d.driver or d.link_type or "device"


def device_line(d: Device, known: dict[int, str]) -> str:
    """One device as a line of the tree."""
    parts = [f"{d.name} #{d.ifindex}", kind_text(d), link_state(d), f"mtu {d.mtu}"]
    if d.driver and d.driver not in (d.kind, "tun"):
        parts.append(f"driver {d.driver}")
    if d.mac and d.kind is not None:
        parts.append(d.mac)
    if d.master:
        parts.append(f"⊂ {d.master}")
    if d.peer is not None:
        parts.append(f"⇄ {d.peer.name or '?'} #{d.peer.ifindex} in {peer_ns_label(d.peer, known)}")
    if d.lower is not None:
        where = "" if d.lower.netns_inode == d.netns_inode else f" in {peer_ns_label(d.lower, known)}"
        parts.append(f"on {d.lower.name or '?'} #{d.lower.ifindex}{where}")
    if d.kind == "vxlan" and d.vxlan:
        v = vxlan_json(d)
        parts.append(" ".join(f"{k} {v[k]}" for k in ("vni", "remote", "group", "local", "port") if v[k] is not None))
    if d.ports:
        parts.append("ports " + ",".join(d.ports))
    if d.holders:
        parts.append("held by " + holders_text(d.holders))
    if d.addresses:
        parts.append(" ".join(d.addresses))
    return "  ".join(parts)


def tree_lines(view: HostView) -> list[str]:
    """The whole host as a plain, stable text tree."""
    known = labels(view)
    out: list[str] = []
    for ns in view.namespaces:
        out.append(ns_header(ns))
        for i, d in enumerate(ns.devices):
            last = i == len(ns.devices) - 1
            out.append(("└── " if last else "├── ") + device_line(d, known))
        if not ns.devices:
            out.append("└── (no devices seen)")
    return out


def rich_tree(view: HostView) -> Any:
    """The tree as a rich renderable for a terminal."""
    from rich.text import Text
    from rich.tree import Tree

    known = labels(view)
    root = Tree(Text("host", style="bold"), guide_style="dim")
    for ns in view.namespaces:
        branch = root.add(Text(ns_header(ns), style="bold cyan"))
        for d in ns.devices:
            branch.add(Text(device_line(d, known)))
        if not ns.devices:
            branch.add(Text("(no devices seen)", style="dim"))
    return root


def table_rows(view: HostView) -> list[list[Any]]:
    """One row per device, for TABLE_COLUMNS."""
    known = labels(view)
    rows: list[list[Any]] = []
    for ns in view.namespaces:
        for d in ns.devices:
            peer = f"{d.peer.name or '?'}#{d.peer.ifindex}@{peer_ns_label(d.peer, known)}" if d.peer else None
            rows.append([ns_label(ns), d.ifindex, d.name, kind_text(d), d.driver, d.bus_info, link_state(d), d.mtu,
                         d.master, peer, list(d.addresses), holders_text(d.holders), owners_text(ns.owners)])
    return rows


def device_text(d: Device) -> list[str]:
    """`inspect peer` / `inspect driver` for a person: key: value lines."""
    lines = [f"device: {d.name} #{d.ifindex}", f"kind: {kind_text(d)}",
             f"driver: {d.driver or '-'}", f"version: {d.driver_version or '-'}", f"bus-info: {d.bus_info or '-'}"]
    if d.peer is not None:
        where = peer_ns_label(d.peer, {})
        if d.peer.netns_inode:
            where += f" (inode {d.peer.netns_inode})"
        lines.append(f"peer: {d.peer.name or '?'} #{d.peer.ifindex} in {where}")
    elif d.kind == "veth":
        lines.append("peer: (none)")
    return lines


def who_json(w: Who) -> dict[str, Any]:
    """`inspect who --json`: the device, its namespace and owners, and the peer's namespace owners."""
    peer = peer_json(w.device.peer)
    if peer is not None:
        peer["owners"] = [owner_json(o) for o in w.peer_owners]
    return {"device": device_json(w.device), "netns": w.netns_ref, "netns_inode": w.netns_inode,
            "owners": [owner_json(o) for o in w.owners], "peer": peer}


def _where(ref: str | None, owners: tuple[Owner, ...], current: bool = False) -> str:
    place = CURRENT if current or ref is None else (ref if ":" not in ref and "/" not in ref else f"({ref})")
    said = ", ".join(describe(o) for o in owners)
    return f"{place} of {said}" if said else place


def who_line(w: Who) -> str:
    """`inspect who` for a person: one line from this device to whoever sits at the other end."""
    d = w.device
    text = f"{d.name} #{d.ifindex} {kind_text(d)} in {_where(w.netns_ref, w.owners)}"
    if d.peer is not None:
        p = d.peer
        far = "an unknown namespace" if p.netns_inode is None else _where(p.netns_ref, w.peer_owners, p.netns_current)
        text += f" ⇄ {d.peer.name or '?'} #{d.peer.ifindex} in {far}"
    if d.holders:
        text += " held by " + holders_text(d.holders)
    elif d.kind == "tun":
        text += " held by nobody"
    return text
