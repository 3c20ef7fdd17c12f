"""Resolve a schema-checked lab into plain data, in four passes: namespaces → devices → cross-references → routes.

Each pass records its problems on the Checker (file:line:col) and goes on, so a lab's problems
are all reported at once. The cross-reference pass also orders the devices so that each comes
after the devices it names (its lower device, its bridge, its peer's bridge): a lab may declare
them in any section order.
"""

from __future__ import annotations

import difflib
import heapq
import ipaddress
from typing import Any

from ..kinds import get as declared_kind
from ..kinds import in_labs
from ..ops.addr import interface
from ..tcunits import parse_rate
from .schema import Checker
from .spec import LabDevice, LabNamespace, LabRoute
from .yamlload import Pos

MAX_BRIDGE_PORTS = 1023  # the kernel's BR_MAX_PORTS is 1024 port numbers, and number 0 is reserved

Key = tuple[str | None, str]
DEVICE_SECTIONS = (("bridges", "bridge"), ("tuntaps", None),
                   *((k.section, k.name) for k in in_labs() if k.section and k.name != "bridge"))


class Resolver:
    """What a lab declares so far: its namespaces, device names and addresses, for the next pass to refer to."""

    def __init__(self, ck: Checker) -> None:
        self.ck = ck
        self.ns_at: dict[str, Pos] = {}
        self.names: dict[Key, Pos] = {}
        self.addrs: dict[str, Pos] = {}
        self.devices: list[LabDevice] = []

    # pass 1 -----------------------------------------------------------------------------------------------
    def namespaces(self, top: dict[str, Any]) -> list[LabNamespace]:
        """The declared namespaces, each once."""
        out = []
        for item, at in top["namespaces"]:
            name = item["name"]
            if name is None or "{" in name:
                continue
            at = item.at.get("name", at)
            if name in self.ns_at:
                self.ck.add(at, f"duplicate namespace {name!r} (first declared at line {self.ns_at[name][0]})")
                continue
            self.ns_at[name] = at
            out.append(LabNamespace(name, self.ck.loc(at), item["loopback"], tuple(item["sysctls"].items()), item["host"]))
        return out

    def known_ns(self, ns: str | None, at: Pos, what: str) -> None:
        """Record a problem if ns is neither the host (None) nor a declared namespace."""
        if ns is not None and ns not in self.ns_at:
            near = difflib.get_close_matches(ns, list(self.ns_at), 1)
            hint = f" (did you mean {near[0]!r}?)" if near else " (declare it under 'namespaces')"
            self.ck.add(at, f"{what} names namespace {ns!r}, which the lab does not declare{hint}")

    # pass 2 -----------------------------------------------------------------------------------------------
    def read_devices(self, top: dict[str, Any]) -> None:
        """Every device section, each device with its kind's options checked against the registry's rules."""
        for section, kind in DEVICE_SECTIONS:
            for item, at in top[section]:
                if item["name"] is None:
                    continue
                dev = self._end(item, at, kind or item["mode"] or "tun", section[:-1])
                if section == "veths" and item["peer"] and item["peer"]["name"] is not None:
                    peer = self._end(item["peer"], at, "veth", "peer of")
                    dev = LabDevice(**{**dev.__dict__, "peer": peer})
                self.devices.append(dev)

    def _end(self, item: dict[str, Any], at: Pos, kind: str, section: str) -> LabDevice:
        at_: dict[str, Pos] = item.at  # type: ignore[attr-defined]
        self.known_ns(item["netns"], at_.get("netns", at), f"{section} {item['name']!r}")
        self._claim(item["netns"], item["name"], at_.get("name", at))
        for cidr in item["addresses"] or ():
            self._claim_address(str(interface(cidr).ip), item["name"], at_.get("addresses", at))
        opts: tuple[tuple[str, Any], ...] = ()
        declared = declared_kind(kind)
        if declared is not None and declared.options:
            values = {o: item[o] for o in declared.names()}
            opts = declared.step_options(values)
            for key, message in declared.rule_problems(values):
                self.ck.add(at_.get(key, at), f"{section} {item['name']!r}: {message}")
        return LabDevice(item["name"], kind, self.ck.loc(at_.get("name", at)), item["netns"], tuple(item["addresses"] or ()),
                         item["up"], item["mtu"], item["master"], opts, item.get("dev"), item.get("user"), item.get("group"),
                         bool(item.get("multi_queue")), host=item["host"] if not isinstance(item["host"], tuple) else None,
                         spans=item["host"] if isinstance(item["host"], tuple) else (),
                         rate=parse_rate(item["rate"]) if item.get("rate") else 0, addrgenmode=item["addrgenmode"])

    def _claim(self, ns: str | None, name: str | None, at: Pos) -> None:
        if name is None or "{" in name:
            return
        if name == "lo" and ns is not None:
            self.ck.add(at, f"device name 'lo' is the loopback of namespace {ns!r}; use 'loopback: true' there")
        elif (ns, name) in self.names:
            where = f"namespace {ns!r}" if ns else "the host namespace"
            self.ck.add(at, f"duplicate device {name!r} in {where} (first declared at line {self.names[(ns, name)][0]})")
        else:
            self.names[(ns, name)] = at

    def _claim_address(self, ip: str, name: str, where: Pos) -> None:
        if ip in self.addrs:
            self.ck.add(where, f"address {ip} of {name!r} conflicts with the same address at line "
                        f"{self.addrs[ip][0]}, column {self.addrs[ip][1]}")
        else:
            self.addrs[ip] = where

    def ends(self) -> list[LabDevice]:
        """Every device, a veth's peer end included."""
        return [e for d in self.devices for e in ((d, d.peer) if d.peer else (d,))]

    def kinds(self) -> dict[Key, str]:
        """The kind of each declared device, by (namespace, name)."""
        return {(e.netns, e.name): e.kind for e in self.ends()}

    # pass 3 -----------------------------------------------------------------------------------------------
    def cross_references(self) -> list[LabDevice]:
        """Check every master and lower device names one the lab declares; the devices in dependency order."""
        kinds = self.kinds()
        for dev in self.ends():
            if "{" in dev.name:
                continue
            where = f"namespace {dev.netns!r}" if dev.netns else "the host namespace"
            if dev.master is not None and kinds.get((dev.netns, dev.master)) != "bridge":
                self.ck.add(_pos(dev.where), f"master {dev.master!r} of {dev.name!r} is not a bridge the lab declares in {where}")
            if dev.lower is not None and (dev.netns, dev.lower) not in kinds:
                self.ck.add(_pos(dev.where), f"dev {dev.lower!r} of {dev.name!r} is not a device the lab declares in {where}")
        self._port_counts()
        return self._ordered()

    def _port_counts(self) -> None:
        """No bridge gets more ports than the kernel gives one (EXFULL at `up` otherwise)."""
        ports: dict[Key, int] = {}
        for dev in self.ends():
            if dev.master is not None:
                ports[(dev.netns, dev.master)] = ports.get((dev.netns, dev.master), 0) + 1
        for dev in self.ends():
            count = ports.get((dev.netns, dev.name), 0)
            if dev.kind == "bridge" and count > MAX_BRIDGE_PORTS:
                self.ck.add(_pos(dev.where), f"bridge {dev.name!r} has {count} ports; the kernel gives a bridge at most "
                            f"{MAX_BRIDGE_PORTS} (split the ports over several bridges)")

    def _ordered(self) -> list[LabDevice]:
        """The devices so each follows those it needs; declaration order otherwise (a stable topological sort)."""
        devices = self.devices
        owner = {(e.netns, e.name): i for i, d in enumerate(devices) for e in ((d, d.peer) if d.peer else (d,))}
        needs = [{owner[k] for k in _references(d) if k in owner and owner[k] != i} for i, d in enumerate(devices)]
        waiting = [len(n) for n in needs]
        dependents: list[list[int]] = [[] for _ in devices]
        for i, n in enumerate(needs):
            for j in n:
                dependents[j].append(i)
        ready = [i for i, w in enumerate(waiting) if w == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            i = heapq.heappop(ready)  # the first ready device in declaration order
            order.append(i)
            for j in dependents[i]:
                waiting[j] -= 1
                if waiting[j] == 0:
                    heapq.heappush(ready, j)
        if len(order) < len(devices):
            placed = set(order)
            loop = _cycle(min(set(range(len(devices))) - placed), needs, placed)
            self.ck.add(_pos(devices[loop[0]].where), " -> ".join(devices[i].name for i in loop + loop[:1])
                        + ": these devices need each other (through dev or master); break the cycle")
            order += sorted(set(range(len(devices))) - placed)
        return [devices[i] for i in order]

    # pass 4 -----------------------------------------------------------------------------------------------
    def routes(self, top: dict[str, Any]) -> list[LabRoute]:
        """The routes, each through a declared namespace and device."""
        kinds = self.kinds()
        out = []
        for item, at in top["routes"]:
            self.known_ns(item["netns"], at, "route")
            if item["dev"] and (item["netns"], item["dev"]) not in kinds:
                self.ck.add(at, f"route dev {item['dev']!r} is not a device the lab declares there")
            if not item["dev"] and not item["via"] and item["to"]:
                self.ck.add(at, f"route to {item['to']} needs 'via' or 'dev'")
            if item["to"] and item["to"] != "default" and item["via"]:
                to, via = ipaddress.ip_network(item["to"], strict=False), ipaddress.ip_address(item["via"])
                if to.version != via.version:
                    self.ck.add(at, f"route to {item['to']} (IPv{to.version}) via {item['via']} (IPv{via.version}): "
                                "one address family per route")
            if item["to"]:
                out.append(LabRoute(item["to"], self.ck.loc(at), item["netns"], item["via"], item["dev"], item["host"]))
        return out


def _cycle(start: int, needs: list[set[int]], placed: set[int]) -> list[int]:
    """A cycle among devices none of which could be placed (each still needs one of the others)."""
    path = [start]
    while True:
        nxt = min(i for i in needs[path[-1]] if i not in placed)
        if nxt in path:
            return path[path.index(nxt):]
        path.append(nxt)


def _references(dev: LabDevice) -> list[Key]:
    """The devices dev (and its peer end) name: lower device and bridge."""
    return [(e.netns, ref) for e in ((dev, dev.peer) if dev.peer else (dev,)) for ref in (e.lower, e.master) if ref]


def _pos(where: str) -> Pos:
    line, col = where.rsplit(":", 2)[1:]
    return int(line), int(col)
