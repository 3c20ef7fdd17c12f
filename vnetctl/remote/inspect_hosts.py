"""inspect across hosts: each host's inspect, gathered over SSH, and the VXLAN links that join them.

A cross-host link is found in the kernels' own words, not in a lab's record: a VXLAN
device on one host and one on another with the same VNI and port, each one's remote being
the other's local address — or, for VXLANs without a remote (a bridge across hosts), each
one flooding to the other's local address by an all-zeros FDB entry. So `--hosts` finds
them between any hosts, lab or not.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import NotFound
from ..lab.hosts import parse_ssh
from ..lab.spec import Host
from . import record
from .controller import first_error, parallel
from .ssh import Connection


def here() -> dict[str, Any]:
    """This host's inspect (the documented JSON), its tree lines, and its VXLAN devices' tunnel ends."""
    from ..discovery import host
    from ..errors import VnetError
    from ..render.inspect_text import host_json, tree_lines
    from ..steps import Session
    view = host(None)
    vxlans = []
    with Session() as s:
        for ns in view.namespaces:
            spec = None if ns.current else (ns.name or ns.ref)
            if not ns.current and spec is None:
                continue
            try:
                links = s.nl(spec).links()
            except VnetError:
                continue
            for lk in links:
                if lk.kind == "vxlan":
                    d = dict(lk.details)
                    vxlans.append({"netns": ns.name, "netns_inode": ns.inode, "dev": lk.name, "vni": d.get("vxlan_id"),
                                   "local": d.get("vxlan_local"), "remote": d.get("vxlan_group"), "port": d.get("vxlan_port"),
                                   "floods": [] if d.get("vxlan_group") else _floods(spec, lk.index)})
    return {**host_json(view), "vxlans": vxlans, "tree": tree_lines(view)}


def _floods(spec: str | None, index: int) -> list[str]:
    """The underlay addresses a VXLAN device floods to: its all-zeros FDB entries (head-end replication)."""
    from ..backend import netns as nsb
    from ..backend.pathstate import NsState
    from ..ops.fdb import FLOOD
    st = NsState(nsb.resolve(spec))
    try:
        return sorted({ip for mac, ip in st.vxlan_fdb(index) if mac == FLOOD})
    finally:
        st.close()


def hosts_of(lab: str | None, destinations: str | None) -> list[Host]:
    """The hosts to inspect: a lab's (its file, or this controller's record of it), or ssh destinations."""
    if destinations:
        found = []
        for dest in (d.strip() for d in destinations.split(",")):
            if dest:
                try:
                    parse_ssh(dest)
                except ValueError:
                    from ..errors import UsageError
                    raise UsageError(f"--hosts: {dest!r} is not [user@]host[:port]", "e.g. --hosts root@h1,root@h2") from None
                found.append(Host(dest, "", dest))
        return found
    assert lab is not None
    if os.path.isfile(lab):
        from ..lab.validate import load_spec
        return list(load_spec(lab).hosts)
    rec = record.read(lab)
    if rec is None:
        raise NotFound(f"no lab across hosts called {lab!r} on this controller",
                       "give its file, or the hosts with --hosts [user@]host,...")
    return [Host(n, "", h["ssh"], None, h.get("python", "python3")) for n, h in rec["hosts"].items()]


def links(hosts: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """VXLAN devices on two hosts that are each other's far end (remote, or flooded to): the cross-host links."""
    ends = [(h, v) for h, data in hosts.items() for v in data["vxlans"] if v.get("remote") or v.get("floods")]
    out = []
    for i, (ha, a) in enumerate(ends):
        for hb, b in ends[i + 1:]:
            if ha != hb and (a["vni"], a["port"]) == (b["vni"], b["port"]) and _reaches(a, b) and _reaches(b, a):
                out.append({"vni": a["vni"], "port": a["port"],
                            "a": {"host": ha, "netns": a["netns"], "dev": a["dev"], "underlay": a["local"]},
                            "b": {"host": hb, "netns": b["netns"], "dev": b["dev"], "underlay": b["local"]}})
    return out


def _reaches(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """VXLAN end a sends to end b's local address: its remote, or one of its flood entries."""
    return b["local"] is not None and (a["remote"] == b["local"] if a["remote"] else b["local"] in a.get("floods", ()))


def inspect_hosts(hosts: list[Host]) -> dict[str, Any]:
    """Every host's inspect, in parallel, and the cross-host links: {"hosts": {...}, "links": [...]}."""

    def one(h: Host) -> dict[str, Any]:
        c = Connection(h).open()
        try:
            return dict(c.call({"op": "inspect"}, "inspect")["inspect"])
        finally:
            c.close()

    got = parallel(hosts, one)
    err = first_error(got)
    if err is not None:
        raise err
    data = {h.name: {"ssh": h.ssh, **got[h.name]} for h in hosts}
    return {"hosts": data, "links": links(data)}
