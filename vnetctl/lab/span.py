"""Bridges across hosts: one Linux bridge per host, joined by VXLAN into one L2 segment.

A bridge in the host namespace with `host: [h1, h2, ...]` (or without `host`, but with
ports on several hosts) is made on each of those hosts. Each copy gets one more port: a
VXLAN device with the bridge's VNI (one per spanning bridge, clear of every other VNI of the
lab), whose all-zeros forwarding entries send every flooded frame to each other host's
underlay address (head-end replication; unicast is learned). The bridge, the VXLAN port
and the bridge's other ports (and their veth peers) get the MTU the encapsulation leaves.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from dataclasses import dataclass

from ..errors import LabError
from .schema import Checker
from .spec import LabDevice, LabSpec
from .yamlload import Pos

VXLAN_PORT = 4789
OVERHEAD = {4: 50, 6: 70}  # outer Ethernet + IP + UDP + VXLAN headers
VNI_FIRST, VNI_SPAN = 0x100000, 0xEFFFFF  # the upper VNIs: hand-made VXLANs tend to use small ones


def _pos(where: str) -> Pos:
    line, col = where.rsplit(":", 2)[1:]
    return int(line), int(col)


def port_name(bridge: str) -> str:
    """The name of a spanning bridge's VXLAN port on every host."""
    return f"{bridge}-vx" if len(bridge) <= 12 else "vx" + hashlib.sha256(bridge.encode()).hexdigest()[:8]


def vni_for(seed_text: str, taken: set[int]) -> int:
    """A VNI from the upper range, stable for seed_text, not in taken (which it joins)."""
    seed = hashlib.sha256(seed_text.encode()).digest()
    vni = VNI_FIRST + int.from_bytes(seed[:4], "big") % VNI_SPAN
    while vni in taken:
        vni = VNI_FIRST + (vni - VNI_FIRST + 1) % VNI_SPAN
    taken.add(vni)
    return vni


def expand(devices: list[LabDevice], hosts: list[str], ck: Checker) -> list[LabDevice]:
    """Each bridge of the host namespace without one host: a copy on each host it spans (declared, or of its ports)."""
    ports: dict[str, list[str]] = {}
    names: dict[str, set[str]] = {}
    for e in (e for d in devices for e in ((d, d.peer) if d.peer else (d,))):
        if e.netns is None and e.host is not None:
            names.setdefault(e.host, set()).add(e.name)
            if e.master is not None:
                ports.setdefault(e.master, []).append(e.host)
    out: list[LabDevice] = []
    for d in devices:
        if d.kind != "bridge" or d.netns is not None or d.host is not None:
            out.append(d)
            continue
        on = [h for h in (d.spans or hosts) if h in hosts and (d.spans or h in ports.get(d.name, ()))]
        if not on:
            if not d.spans:
                ck.add(_pos(d.where), f"bridge {d.name!r} needs 'host' (one of {', '.join(hosts)}), a list of hosts "
                       "to span, or ports on the hosts it spans")
            continue
        if len(on) > 1:
            _check_span(d, on, names, ck)
        out += [dataclasses.replace(d, host=h, spans=tuple(on) if len(on) > 1 else ()) for h in on]
    return out


def _check_span(d: LabDevice, on: list[str], names: dict[str, set[str]], ck: Checker) -> None:
    if len(set(on)) < len(on):
        ck.add(_pos(d.where), f"bridge {d.name!r} names a host twice in its 'host' list")
    if d.addresses:
        ck.add(_pos(d.where), f"bridge {d.name!r} spans hosts {', '.join(on)} and has addresses: each host's copy would "
               "hold the same address; give the addresses to devices in namespaces on the bridge")
    clash = [h for h in on if port_name(d.name) in names.get(h, set())]
    if clash:
        ck.add(_pos(d.where), f"bridge {d.name!r} spans hosts: its VXLAN port {port_name(d.name)!r} would clash with the "
               f"device of that name on host {clash[0]}; rename that device")


@dataclass(frozen=True)
class Span:
    """A bridge across hosts: its hosts, the VNI and the VXLAN port joining them, the MTU left."""

    bridge: str
    hosts: tuple[str, ...]
    vni: int
    mtu: int
    overhead: int
    port: str


def spans(spec: LabSpec, underlays: dict[str, str], taken: set[int]) -> list[Span]:
    """Every bridge across hosts, with its VNI (clear of `taken`, which it joins) and lowered MTU."""
    mtus = {h.name: h.mtu for h in spec.hosts}
    out: dict[str, Span] = {}
    for d in spec.devices:
        if d.kind != "bridge" or len(d.spans) < 2 or d.name in out:
            continue
        families = {ipaddress.ip_address(underlays[h]).version for h in d.spans}
        if len(families) > 1:
            raise LabError([f"{d.where}: bridge {d.name!r} spans hosts whose underlays are IPv4 and IPv6 "
                            f"({', '.join(f'{h} {underlays[h]}' for h in d.spans)}); give them underlays of one family"])
        overhead = OVERHEAD[families.pop()]
        mtu = min(m for m in (d.mtu, *(mtus[h] - overhead for h in d.spans)) if m is not None)
        out[d.name] = Span(d.name, d.spans, vni_for(f"{spec.name}\0bridge\0{d.name}", taken), mtu, overhead, port_name(d.name))
    return list(out.values())


def host_devices(devices: list[LabDevice], host: str, span_list: list[Span], underlays: dict[str, str]) -> list[LabDevice]:
    """A host's devices with its spanning bridges' VXLAN ports added and their MTU lowered on the bridge and its ports."""
    by_bridge = {s.bridge: s for s in span_list if host in s.hosts}
    out: list[LabDevice] = []
    for d in devices:
        s = by_bridge.get(d.name) if d.kind == "bridge" and d.netns is None else None
        port = next((by_bridge[e.master] for e in ((d, d.peer) if d.peer else (d,))
                     if e.netns is None and e.master in by_bridge), None)
        if s is not None:
            out.append(_lowered(d, s.mtu))
            out.append(LabDevice(s.port, "vxlan", d.where, None, mtu=s.mtu, master=d.name, host=host,
                                 options=(("vni", s.vni), ("local", underlays[host]), ("dstport", VXLAN_PORT))))
        elif port is not None:
            out.append(_lowered(d, port.mtu))
        else:
            out.append(d)
    return out


def _lowered(d: LabDevice, mtu: int) -> LabDevice:
    peer = _lowered(d.peer, mtu) if d.peer is not None else None
    return dataclasses.replace(d, mtu=min(mtu, d.mtu or mtu), peer=peer)


def floods(span_list: list[Span], host: str, underlays: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """(VXLAN port, underlay address) for each other host a spanning bridge on `host` floods to."""
    return tuple((s.port, underlays[h]) for s in span_list if host in s.hosts for h in s.hosts if h != host)


def notes(span_list: list[Span], underlays: dict[str, str], host_mtu: dict[str, int]) -> list[str]:
    """One line per bridge across hosts: its VNI, VXLAN port, the underlays it floods to, and its MTU."""
    return [f"bridge {s.bridge} spans hosts {', '.join(s.hosts)}: VXLAN VNI {s.vni} as port {s.port} on each, "
            f"flooding to the other hosts' underlays ({', '.join(f'{h} {underlays[h]}' for h in s.hosts)}) port {VXLAN_PORT}, "
            f"MTU {s.mtu} on the bridge and its ports (underlay {min(host_mtu[h] for h in s.hosts)} - {s.overhead} bytes "
            "of VXLAN encapsulation)" for s in span_list]
