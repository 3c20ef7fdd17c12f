"""Labs across hosts: where each namespace and device lives, and each host's part of the lab.

A lab with a `hosts:` section places every namespace (and every device, route and process
of a host's own namespace) on one host. `split` turns the validated lab into one lab per
host. A veth whose ends sit on different hosts becomes, on each side, a VXLAN device
created from the host namespace straight into the end's namespace — so its packets leave
through the underlay —: a point-to-point L2 link with a VNI of its own and an MTU lowered
by the encapsulation.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from ..ownership import OWNER_RE
from ..steps import Step
from . import Lab, span
from .schema import Checker, F
from .span import OVERHEAD, VXLAN_PORT, vni_for
from .spec import Check, Host, LabSpec
from .spec import LabDevice as Device
from .yamlload import MMap, Pos

HOST_FIELDS = {"ssh": F("str", True), "underlay": F("ip"), "python": F("str", default="python3"),
               "mtu": F("int", default=1500)}
SSH_RE = re.compile(r"^(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9_.-]*)@)?"
                    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.:-]+?)(?::(?P<port>\d+))?$")


def parse_ssh(text: str) -> tuple[str | None, str, int | None]:
    """`[user@]host[:port]` as (user, host, port); ValueError if it is not one."""
    m = SSH_RE.match(text)
    if not m or (m["port"] and not 0 < int(m["port"]) < 65536):
        raise ValueError(text)
    host = m["host"].strip("[]")
    return m["user"], host, int(m["port"]) if m["port"] else None


def _pos(where: str) -> Pos:
    line, col = where.rsplit(":", 2)[1:]
    return int(line), int(col)


def place(spec: LabSpec, raw: tuple[Any, Pos] | None, ck: Checker) -> LabSpec:
    """Read `hosts:` and give every object of the lab its host; problems go to ck (exit 65)."""
    if raw is None:
        for what, host, where in _placed(spec):
            if host is not None:
                ck.add(_pos(where), f"{what} names host {host!r}, but the lab has no 'hosts' section")
        return spec
    hosts = _hosts(raw, ck)
    if not hosts:
        return spec
    return _Placer(spec, hosts, ck).run()


def _placed(spec: LabSpec) -> list[tuple[str, str | None, str]]:
    out: list[tuple[str, str | None, str]] = [(f"namespace {n.name!r}", n.host, n.where) for n in spec.namespaces]
    for d in spec.devices:
        out += [(f"device {e.name!r}", e.host or (e.spans[0] if e.spans else None), e.where)
                for e in ((d, d.peer) if d.peer else (d,))]
    out += [(f"route to {r.to}", r.host, r.where) for r in spec.routes]
    out += [(f"process {p.name!r}", p.host, p.where) for p in spec.processes]
    return out


def _hosts(raw: tuple[Any, Pos], ck: Checker) -> dict[str, Host]:
    value, where = raw
    if not isinstance(value, MMap) or not value:
        ck.add(where, "'hosts' must be a mapping of host names to {ssh: [user@]host[:port]}")
        return {}
    hosts: dict[str, Host] = {}
    for name in value:
        at = value.at(name)
        if not isinstance(name, str) or not OWNER_RE.match(name):
            ck.add(value.key_at(name), f"invalid host name {name!r}: 1-64 letters, digits, '_', '.', '-'")
            continue
        item = ck.obj(value[name], HOST_FIELDS, at, f"host {name}")
        if item is None or item["ssh"] is None:
            continue
        try:
            parse_ssh(item["ssh"])
        except ValueError:
            ck.add(item.at.get("ssh", at), f"host {name}: ssh {item['ssh']!r} is not [user@]host[:port]")  # type: ignore[attr-defined]
            continue
        if item["mtu"] is not None and not 576 <= item["mtu"] <= 65535:
            ck.add(item.at.get("mtu", at), f"host {name}: underlay mtu {item['mtu']} is outside 576-65535")  # type: ignore[attr-defined]
        hosts[name] = Host(name, ck.loc(at), item["ssh"], item["underlay"], item["python"] or "python3", item["mtu"] or 1500)
    return hosts


class _Placer:
    """Resolves and checks the host of every namespace, device, route, process and check."""

    def __init__(self, spec: LabSpec, hosts: dict[str, Host], ck: Checker) -> None:
        self.spec, self.hosts, self.ck = spec, hosts, ck
        self.sole = next(iter(hosts)) if len(hosts) == 1 else None
        self.ns_host: dict[str, str] = {}

    def known(self, host: str | None, where: str, what: str) -> str | None:
        if host is None:
            if self.sole is None:
                self.ck.add(_pos(where), f"{what} needs 'host' (one of {', '.join(self.hosts)})")
            return self.sole
        if host not in self.hosts:
            near = difflib.get_close_matches(host, list(self.hosts), 1)
            hint = f"did you mean {near[0]!r}?" if near else f"declare it under 'hosts' ({', '.join(self.hosts)})"
            self.ck.add(_pos(where), f"{what} is on host {host!r}, which the lab does not declare ({hint})")
            return None
        return host

    def of(self, netns: str | None, host: str | None, where: str, what: str) -> str | None:
        """The host of an object in namespace netns (or in the host namespace of `host`)."""
        if netns is None:
            return self.known(host, where, what)
        ns_host = self.ns_host.get(netns)
        if host is not None and ns_host is not None and host != ns_host:
            self.ck.add(_pos(where), f"{what} says host {host!r}, but its namespace {netns!r} is on host {ns_host!r}")
        return ns_host

    def run(self) -> LabSpec:
        spec = self.spec
        namespaces = []
        for ns in spec.namespaces:
            host = self.known(ns.host, ns.where, f"namespace {ns.name!r}")
            if host is not None:
                self.ns_host[ns.name] = host
            namespaces.append(dataclasses.replace(ns, host=host))
        devices = span.expand([self._device(d) for d in spec.devices], list(self.hosts), self.ck)
        routes = [dataclasses.replace(r, host=self.of(r.netns, r.host, r.where, f"route to {r.to}")) for r in spec.routes]
        procs = [dataclasses.replace(p, host=self.of(p.netns, p.host, p.where, f"process {p.name!r}")) for p in spec.processes]
        placed = dataclasses.replace(spec, hosts=tuple(self.hosts.values()), namespaces=tuple(namespaces),
                                     devices=tuple(devices), routes=tuple(routes), processes=tuple(procs))
        self._same_host(placed)
        for check in placed.checks:
            check_host(placed, check, self.ck)
        return placed

    def _device(self, d: Device) -> Device:
        if d.spans:
            if d.kind != "bridge" or d.netns is not None:
                self.ck.add(_pos(d.where), f"device {d.name!r} names several hosts; only a bridge in the host namespace "
                            "can span hosts")
                return dataclasses.replace(d, spans=())
            return dataclasses.replace(d, spans=tuple(h for h in d.spans if self.known(h, d.where, f"bridge {d.name!r}")))
        if d.kind == "bridge" and d.netns is None and d.host is None and self.sole is None:
            return d  # on the hosts of its ports (span.expand)
        host = self.of(d.netns, d.host, d.where, f"device {d.name!r}")
        if d.peer is None:
            return dataclasses.replace(d, host=host)
        peer = dataclasses.replace(d.peer, host=self.of(d.peer.netns, d.peer.host, d.peer.where, f"device {d.peer.name!r}"))
        return dataclasses.replace(d, host=host, peer=peer)

    def _same_host(self, spec: LabSpec) -> None:
        """A bridge port, a VLAN's or VXLAN's lower device and a route's device sit on their user's host."""
        where: dict[tuple[str | None, str], list[str | None]] = {}
        for e in ends(spec):
            where.setdefault((e.netns, e.name), []).append(e.host)
        for e in ends(spec):
            for ref, what in ((e.master, "bridge"), (e.lower, "lower device")):
                hosts = where.get((e.netns, ref), []) if ref else []
                if ref and hosts and e.host not in hosts:
                    self.ck.add(_pos(e.where), f"{e.name!r} on host {e.host!r} names {what} {ref!r}, which is on host "
                                f"{hosts[0]!r}; a {what} and its port live on one host")
        for r in spec.routes:
            hosts = where.get((r.netns, r.dev), []) if r.dev else []
            if r.dev and hosts and r.host not in hosts:
                self.ck.add(_pos(r.where), f"route to {r.to} on host {r.host!r} names device {r.dev!r}, "
                            f"which is on host {hosts[0]!r}")


def ends(spec: LabSpec) -> list[Device]:
    """Every device end of the lab (a veth gives two)."""
    return [e for d in spec.devices for e in ((d, d.peer) if d.peer else (d,))]


def _check_namespaces(check: Check) -> list[str | None]:
    a = check.args
    found = [a.get("from", a.get("netns"))] if ("from" in a or "netns" in a) else []
    trigger = a.get("trigger") or {}
    if trigger.get("ping"):
        found.append(trigger["ping"].get("from"))
    if check.kind == "peer" and a.get("expect"):
        found.append(a["expect"].get("netns"))
    return found


def check_host(spec: LabSpec, check: Check, ck: Checker | None = None) -> str | None:
    """The host a check runs on: where its namespace (or its process) lives."""
    ns_host = {n.name: n.host for n in spec.namespaces}
    if check.kind in ("output", "holders"):
        procs = {p.name: p.host for p in spec.processes}
        hosts = [procs.get(check.args.get("process") or "")]
    else:
        hosts = [ns_host.get(ns) if ns else None for ns in _check_namespaces(check)]
    first = hosts[0] if hosts else None
    if ck is not None and (not hosts or None in hosts):
        if len(spec.hosts) > 1:
            ck.add(_pos(check.where), f"check {check.name!r} runs in a host's own namespace; in a lab across hosts "
                   "give it a namespace ('from' or 'netns') so vnetctl knows which host runs it")
    elif ck is not None and any(h != first for h in hosts):
        ck.add(_pos(check.where), f"check {check.name!r} spans hosts {', '.join(sorted(set(map(str, hosts))))}; "
               "a check runs on one host")
    return first if first is not None else (spec.hosts[0].name if len(spec.hosts) == 1 else None)


@dataclass(frozen=True)
class CrossLink:
    """A veth whose ends are on two hosts, carried as a VXLAN point-to-point link."""

    a: Device
    b: Device
    vni: int
    mtu: int
    overhead: int


@dataclass(frozen=True)
class Part:
    """One host's part of a lab: a lab of its own, and which of its devices are cross-host ends."""

    host: Host
    spec: LabSpec
    cross: frozenset[tuple[str | None, str]]
    floods: tuple[tuple[str, str], ...] = ()  # (VXLAN port of a bridge across hosts, another host's underlay)


def taken_vnis(spec: LabSpec) -> set[int]:
    """The VNIs the lab's own VXLAN devices use."""
    return {int(v) for d in spec.devices if d.kind == "vxlan" for k, v in d.options if k == "vni"}


def cross_links(spec: LabSpec, underlays: dict[str, str]) -> list[CrossLink]:
    """The lab's cross-host veths with a VNI each (stable, no two alike) and their lowered MTU."""
    taken = taken_vnis(spec)
    mtus = {h.name: h.mtu for h in spec.hosts}
    out = []
    for d in spec.devices:
        if d.peer is None or d.host == d.peer.host or d.host is None or d.peer.host is None:
            continue
        vni = vni_for(f"{spec.name}\0{d.host}\0{d.netns}\0{d.name}", taken)
        family = ipaddress.ip_address(underlays.get(d.host, "0.0.0.0")).version
        overhead = OVERHEAD[family]
        mtu = min(m for m in (d.mtu, d.peer.mtu, mtus[d.host] - overhead, mtus[d.peer.host] - overhead) if m is not None)
        out.append(CrossLink(d, d.peer, vni, mtu, overhead))
    return out


def _cross_end(end: Device, vni: int, mtu: int, local: str, remote: str) -> Device:
    options = (("vni", vni), ("local", local), ("remote", remote), ("dstport", VXLAN_PORT))
    return dataclasses.replace(end, kind="vxlan", options=options, mtu=mtu, peer=None)


def split(spec: LabSpec, underlays: dict[str, str]) -> dict[str, Part]:
    """Each host's part of the lab; underlays maps each host to its underlay address."""
    crossing = cross_links(spec, underlays)
    links = {(c.a.netns, c.a.name): c for c in crossing}
    spanning = span.spans(spec, underlays, taken_vnis(spec) | {c.vni for c in crossing})
    devices: dict[str, list[Device]] = {h.name: [] for h in spec.hosts}
    cross: dict[str, set[tuple[str | None, str]]] = {h.name: set() for h in spec.hosts}
    for d in spec.devices:
        c = links.get((d.netns, d.name))
        if c is None or d.peer is None:
            devices[str(d.host)].append(d)
            continue
        for end, other in ((d, d.peer), (d.peer, d)):
            host, peer_host = str(end.host), str(other.host)
            devices[host].append(_cross_end(end, c.vni, c.mtu, underlays[host], underlays[peer_host]))
            cross[host].add((end.netns, end.name))
    parts = {}
    for h in spec.hosts:
        parts[h.name] = Part(h, dataclasses.replace(
            spec, namespaces=tuple(n for n in spec.namespaces if n.host == h.name),
            devices=tuple(span.host_devices(devices[h.name], h.name, spanning, underlays)),
            routes=tuple(r for r in spec.routes if r.host == h.name),
            processes=tuple(p for p in spec.processes if p.host == h.name),
            checks=tuple(c for c in spec.checks if check_host(spec, c) == h.name)), frozenset(cross[h.name]),
            span.floods(spanning, h.name, underlays))
    return parts


def compile_part(part: Part) -> list[Step]:
    """A host's Steps: its lab's, with each cross-host end created from the host namespace."""
    from ..ops.fdb import FdbAppend
    from ..ops.link import LinkAdd
    from ..ops.link_underlay import LinkAddUnderlay
    from .plan import compile_steps
    out: list[Step] = []
    for step in compile_steps(part.spec):
        if isinstance(step, LinkAdd) and step.kind == "vxlan" and (step.netns, step.name) in part.cross:
            step = LinkAddUnderlay(**{f.name: getattr(step, f.name) for f in dataclasses.fields(step)})
        out.append(step)
        if isinstance(step, LinkAdd) and step.netns is None:
            out += [FdbAppend(dev, dst) for dev, dst in part.floods if dev == step.name]
    return out


def notes(spec: LabSpec, underlays: dict[str, str]) -> list[str]:
    """One line per cross-host link and bridge across hosts: its VNI, underlay addresses and lowered MTU."""
    out = []
    crossing = cross_links(spec, underlays)
    spanning = span.spans(spec, underlays, taken_vnis(spec) | {c.vni for c in crossing})
    for c in crossing:
        host_mtu = min(h.mtu for h in spec.hosts if h.name in (c.a.host, c.b.host))
        out.append(f"cross-host link {c.a.name} ({c.a.netns or 'host'}@{c.a.host}) <-> {c.b.name} "
                   f"({c.b.netns or 'host'}@{c.b.host}): VXLAN VNI {c.vni} over {underlays[str(c.a.host)]} <-> "
                   f"{underlays[str(c.b.host)]} port {VXLAN_PORT}, MTU {c.mtu} (underlay {host_mtu} - {c.overhead} "
                   "bytes of VXLAN encapsulation)")
    return out + span.notes(spanning, underlays, {h.name: h.mtu for h in spec.hosts})


class HostLab(Lab):
    """One host's part of a lab across hosts, brought up with the single-host machinery."""

    def __init__(self, part: Part) -> None:
        super().__init__(part.spec)
        self.part = part

    def plan(self) -> list[Step]:
        """The host's Steps (cross-host ends made in the host namespace, then moved)."""
        if self._steps is None:
            self._steps = compile_part(self.part)
        return self._steps
