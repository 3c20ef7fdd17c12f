"""Predict a probe's path from kernel state: route per namespace, veth to peer, bridge by FDB, VXLAN, tun/tap."""

from __future__ import annotations

import ipaddress

from ..backend import process
from ..backend import tun as tunb
from ..backend.netns import NsRef
from ..backend.pathstate import NsState, RouteAnswer
from ..model import Link
from .model import Hop, Leg, Stop

MAX_STEPS = 24
BAD_NEIGH = ("FAILED", "INCOMPLETE")
BAD_ROUTE = ("unreachable", "prohibit", "blackhole")
FORWARD6 = "net.ipv6.conf.all.forwarding"
STOPPED = ("T", "t")  # stopped by a signal, or stopped under a tracer


class World:
    """The namespaces a trace may cross, each read once."""

    def __init__(self, refs: list[NsRef | None]) -> None:
        self.refs = refs
        self._states: dict[str, NsState] = {}
        self._nsids: dict[int, dict[int, NsRef | None]] = {}

    def state(self, ref: NsRef | None) -> NsState:
        """The (cached) reader of namespace ref."""
        key = ref.path if ref else ""
        if key not in self._states:
            self._states[key] = NsState(ref)
        return self._states[key]

    def peer(self, st: NsState, lk: Link) -> tuple[NsState, Link] | None:
        """The other end of a veth: its namespace (by IFLA_LINK_NETNSID) and device."""
        if lk.link is None:
            return None
        other = st
        if lk.link_netnsid is not None:
            if st.inode not in self._nsids:
                self._nsids[st.inode] = st.nsid_map(self.refs)
            if lk.link_netnsid not in self._nsids[st.inode]:
                return None
            other = self.state(self._nsids[st.inode][lk.link_netnsid])
        plk = other.link(index=lk.link)
        return (other, plk) if plk is not None else None

    def states(self) -> list[NsState]:
        """Every namespace read so far."""
        return list(self._states.values())

    def close(self) -> None:
        """Release every socket."""
        for st in self._states.values():
            st.close()


def link_problems(hop: Hop, lk: Link) -> None:
    """A device that is down, administratively or by carrier."""
    if not lk.up:
        hop.problems.append(("link-down", f"{lk.name} in {hop.netns} is administratively down"))
    elif lk.state in ("DOWN", "LOWERLAYERDOWN") and lk.kind != "tun":
        hop.problems.append(("link-down", f"{lk.name} in {hop.netns} has no carrier "
                                          f"(state {lk.state}: its peer or lower device is down)"))


class Walker:
    """Walks one leg (forward or reply) of a probe of `size` bytes (DF if df)."""

    def __init__(self, world: World, leg: str, size: int, df: bool, inner: int | None = None) -> None:
        self.world, self.leg, self.size, self.df = world, leg, size, df
        self.inner = size if inner is None else inner  # the probe's own size inside any encapsulation
        self.hops: list[Hop] = []

    def hop(self, st: NsState, lk: Link, direction: str, note: str = "") -> Hop:
        """Record a hop (with its link problems)."""
        h = Hop(self.leg, st.name, st.inode, lk.name, _kind(lk), direction, note)
        link_problems(h, lk)
        if h.problems and lk.up and lk.kind == "veth" and (p := self.world.peer(st, lk)) is not None and not p[1].up:
            h.problems[0] = ("link-down", f"{lk.name} in {st.name} has no carrier: its peer {p[1].name} in {p[0].name} "
                                          "is administratively down")
        self.hops.append(h)
        return h

    def walk(self, st: NsState, src: str, dst: str, iif: Link | None = None) -> Leg:
        """From namespace st (entered through iif, or originating there) towards dst."""
        for _ in range(MAX_STEPS):
            owner = st.owner_of(dst)
            if owner is not None:
                return Leg(self.hops, Stop("reached", st.name, iif.name if iif else owner.name,
                                           detail=f"{dst} is on {owner.name}", state=st))
            v6 = ":" in dst
            if v6 and iif is not None and st.sysctl(FORWARD6) == "0":  # an IPv6 input route exists all the same
                return Leg(self.hops, Stop("blocked", st.name, iif.name, "forwarding-off",
                                           f"{FORWARD6} is 0 in {st.name}, which must forward {src} -> {dst}"))
            rt = st.route_get(dst, src if iif else None, iif.index if iif else None)
            out = st.link(index=rt.oif) if rt.oif else None
            if rt.error or rt.type != "unicast" or out is None:
                return Leg(self.hops, blocked(st, iif, rt, src, dst))
            h = self.hop(st, out, "out", _route_note(rt, dst))
            # IPv6 routers never fragment: a forwarded packet too big is dropped (Packet Too Big), DF or not
            if (self.df or (v6 and iif is not None)) and self.size > out.mtu:
                h.problems.append(("mtu", f"a {self.size}-byte packet{' with DF' if self.df else ''} does not fit "
                                          f"{out.name}'s MTU {out.mtu}: at most {out.mtu - (self.size - self.inner)} bytes fit"))
            nexthop = rt.gateway or dst
            if out.kind == "tun":
                return Leg(self.hops, self.holder(st, out))
            if out.kind == "vxlan":
                nxt = self.vxlan(st, out, nexthop)
            else:
                state, mac = st.neighbour(out.index, nexthop)
                if state in BAD_NEIGH:
                    h.problems.append(("neighbour-failed", f"{'NDP' if v6 else 'ARP'} for {nexthop} on {out.name} in {st.name} "
                                                           f"is {state}"))
                nxt = self.segment(st, out, nexthop, mac)
            if isinstance(nxt, Stop):
                return Leg(self.hops, nxt)
            st, iif = nxt
        return Leg(self.hops, Stop("blocked", st.name, "-", "unknown", "the path is longer than 24 steps (a loop?)"))

    def holder(self, st: NsState, lk: Link) -> Stop:
        """A tun/tap's packets go to the process holding it — or nowhere."""
        held = tunb.holders(lk.name, st.inode)
        if not held:
            return Stop("blocked", st.name, lk.name, "no-holder",
                        f"no process holds {lk.name}: the kernel drops what is sent to it", state=st)
        pid, comm, fd = held[0]
        states = {p: (process.stat_fields(p) or ["?"])[0] for p, _, _ in held}
        if all(s in STOPPED for s in states.values()):
            who = ", ".join(f"{c}[{p}] fd {f} (state {states[p]})" for p, c, f in held)
            return Stop("blocked", st.name, lk.name, "holder-not-reading",
                        f"{lk.name} is held by {who}, stopped: nothing reads what the kernel queues to it", state=st)
        return Stop("holder", st.name, lk.name, detail=f"{lk.name} is held by {comm}[{pid}] fd {fd}", state=st,
                    counters=st.dev_counters(lk.name))

    def segment(self, st: NsState, out: Link, nexthop: str, mac: str | None) -> tuple[NsState, Link] | Stop:
        """Across veths and bridges to the namespace that holds nexthop."""
        cur_st, cur = st, out
        for _ in range(MAX_STEPS):
            if cur.kind == "tun":
                return self.holder(cur_st, cur)
            p = self.world.peer(cur_st, cur) if cur.kind == "veth" else None
            if p is None:
                return Stop("blocked", cur_st.name, cur.name, "unknown", f"cannot follow {cur.name} ({cur.kind or 'device'})")
            pst, plk = p
            h = self.hop(pst, plk, "in")
            bridge = pst.link(index=plk.master) if plk.master else None
            if bridge is None or bridge.kind != "bridge":
                return pst, plk
            _port_problem(h, pst, plk, bridge)
            nxt = self.bridge_out(pst, bridge, plk, nexthop, mac)
            if isinstance(nxt, Stop) or nxt[1].kind == "bridge":
                return nxt
            cur_st, cur = nxt
        return Stop("blocked", cur_st.name, cur.name, "unknown", "the segment is longer than 24 steps (a loop?)")

    def bridge_out(self, st: NsState, br: Link, inport: Link, nexthop: str, mac: str | None) -> tuple[NsState, Link] | Stop:
        """The bridge's choice: itself (it holds nexthop), the FDB's port, or the flooded port that leads there."""
        if st.owner_of(nexthop) is not None:
            self.hop(st, br, "in", f"{br.name} holds {nexthop}")
            return st, br
        ports = [lk for lk in st.links() if lk.master == br.index and lk.index != inport.index]
        target = st.link(index=st.fdb_port(br.index, mac)) if mac else None
        how = f"FDB: {mac} behind this port" if target is not None else f"flooded; {nexthop} is behind this port"
        if target is None:
            target = next((lk for lk in ports if self._leads_to(st, lk, nexthop)), None)
        if target is None:
            # the non-port whose peer device itself holds nexthop, before one that reaches its namespace only
            strays = [lk for lk in st.links() if lk.master != br.index and self._leads_to(st, lk, nexthop)]
            stray = next((lk for lk in strays if self._leads_to(st, lk, nexthop, device=True)), strays[0] if strays else None)
            if stray is not None:
                return Stop("blocked", st.name, stray.name, "bridge-port",
                            f"{stray.name} leads to {nexthop} but is not a port of {br.name}")
            return Stop("blocked", st.name, br.name, "neighbour-failed", f"nothing on {br.name}'s segment holds {nexthop}")
        h = self.hop(st, target, "out", how)
        _port_problem(h, st, target, br)
        return st, target

    def _leads_to(self, st: NsState, lk: Link, ip: str, device: bool = False) -> bool:
        """lk's peer is in the namespace holding ip (with device: the peer device itself holds it)."""
        if lk.kind == "tun":
            return False
        p = self.world.peer(st, lk) if lk.kind == "veth" else None
        owner = p[0].owner_of(ip) if p is not None else None
        return owner is not None and (not device or p is not None and owner.index == p[1].index)

    def vxlan(self, st: NsState, vx: Link, nexthop: str) -> tuple[NsState, Link] | Stop:
        """Into a VXLAN: the underlay leg to its remote (its own, or the FDB's), out of the remote's VXLAN of the same VNI."""
        attrs = st.vxlan(vx.index)
        remote = attrs.get("vxlan_group") or attrs.get("vxlan_group6")
        local, vni = attrs.get("vxlan_local") or attrs.get("vxlan_local6"), attrs.get("vxlan_id")
        if isinstance(remote, str):
            remotes = [(remote, f"remote {remote}")]
        else:
            remotes = self._fdb_remotes(st, vx, nexthop)
            if not remotes:
                return Stop("blocked", st.name, vx.name, "no-route",
                            f"{vx.name} has no remote and no FDB entry (for {nexthop}'s MAC or 00:00:00:00:00:00) "
                            "naming one: the VXLAN has nowhere to send it")
        tried: list[tuple[Leg, list[Hop], str]] = []
        for rem, how in remotes:
            under = Walker(self.world, self.leg, self.size + (70 if ":" in rem else 50), self.df, self.inner)
            leg = under.walk(st, str(local) if local else "", rem)
            tried.append((leg, under.hops, how))
            if leg.stop.kind == "reached" and self._vni_peer(leg.stop.state, vni, nexthop, len(remotes) > 1) is not None:
                break
        leg, hops, how = tried[-1] if tried[-1][0].stop.kind == "reached" else tried[0]
        for h in hops:
            h.note = (h.note + "; " if h.note else "") + f"VXLAN {vni} underlay"
        if self.hops and self.hops[-1].device == vx.name:
            self.hops[-1].note += f"; VXLAN {vni} {how}"
        self.hops += hops
        if leg.stop.kind != "reached":
            return leg.stop
        rst: NsState = leg.stop.state
        peer = self._vni_peer(rst, vni, nexthop, False)
        if peer is None:
            return Stop("blocked", rst.name, leg.stop.device, "unknown", f"no VXLAN with VNI {vni} in {rst.name}")
        self.hop(rst, peer, "in", f"VXLAN {vni} from {local}")
        return rst, peer

    def _fdb_remotes(self, st: NsState, vx: Link, nexthop: str) -> list[tuple[str, str]]:
        """Where a remote-less VXLAN sends nexthop's frames: the FDB entry for its MAC, else every all-zeros entry."""
        fdb = st.vxlan_fdb(vx.index)
        _, mac = st.neighbour(vx.index, nexthop)
        exact = [(ip, f"FDB: {mac} dst {ip}") for m, ip in fdb if mac is not None and m == mac]
        return exact or [(ip, f"FDB: 00:00:00:00:00:00 dst {ip}") for m, ip in fdb if m == "00:00:00:00:00:00"]

    @staticmethod
    def _vni_peer(st: NsState, vni: object, nexthop: str, must_hold: bool) -> Link | None:
        """The VXLAN of VNI vni in st (with must_hold: only if st holds nexthop, for flooded head-end replication)."""
        if must_hold and st.owner_of(nexthop) is None:
            return None
        return next((lk for lk in st.links() if lk.kind == "vxlan" and st.vxlan(lk.index).get("vxlan_id") == vni), None)


def _kind(lk: Link) -> str | None:
    if lk.kind == "tun":
        return "tap" if lk.detail("tun_type") == 2 else "tun"
    return lk.kind


def _route_note(rt: RouteAnswer, dst: str) -> str:
    table = {254: "main", 255: "local", 253: "default"}.get(rt.table, str(rt.table))
    return f"route to {dst} table {table}" + (f" via {rt.gateway}" if rt.gateway else "")


def _port_problem(h: Hop, st: NsState, lk: Link, br: Link) -> None:
    state = st.port_state(lk.index)
    if state not in (None, "forwarding") and not any(r == "link-down" for r, _ in h.problems):
        h.problems.append(("bridge-port", f"port {lk.name} of {br.name} is {state}, not forwarding"))


def blocked(st: NsState, iif: Link | None, rt: RouteAnswer, src: str, dst: str) -> Stop:
    """Why a namespace has no way on for the probe, read from its routes and sysctls."""
    where = iif.name if iif else "-"
    if rt.type in BAD_ROUTE:
        return Stop("blocked", st.name, where, "unreachable-route",
                    f"{dst} in {st.name} matches the route '{st.refusing_route(dst) or rt.type}'")
    fam = 10 if ":" in dst else 2
    if iif is not None and fam == 2:
        if st.sysctl("net.ipv4.ip_forward") == "0":
            return Stop("blocked", st.name, where, "forwarding-off",
                        f"net.ipv4.ip_forward is 0 in {st.name}, which must forward {src} -> {dst}")
        rpf = max(int(st.sysctl("net.ipv4.conf.all.rp_filter") or 0), int(st.sysctl(f"net.ipv4.conf.{iif.name}.rp_filter") or 0))
        back = st.route_get(src)
        back_dev = st.link(index=back.oif) if back.oif else None
        if rpf and rt.error in ("EINVAL", "EXDEV") and (back_dev is None or back_dev.index != iif.index):
            return Stop("blocked", st.name, where, "rp-filter",
                        f"rp_filter={rpf} on {iif.name} in {st.name}: the route back to {src} leaves by "
                        f"{back_dev.name if back_dev else 'no device'}, not {iif.name}")
    refusing = st.refusing_route(dst) if rt.error in ("EHOSTUNREACH", "EACCES", "EINVAL") else None
    if refusing is not None:
        return Stop("blocked", st.name, where, "unreachable-route", f"{dst} in {st.name} matches the route '{refusing}'")
    down = [lk for lk in st.links() if not lk.up and any(a.ifindex == lk.index and a.family == fam for a in st.addresses())]
    down.sort(key=lambda lk: not any(_covers(a.cidr, dst) for a in st.addresses() if a.ifindex == lk.index))
    if down and rt.error == "ENETUNREACH":
        return Stop("blocked", st.name, down[0].name, "link-down",
                    f"no route to {dst} in {st.name}: {down[0].name} is administratively down, so its routes are gone")
    if rt.error in ("ENETUNREACH", "EHOSTUNREACH", None):
        return Stop("blocked", st.name, where, "no-route", f"no route to {dst} in {st.name} ({rt.error or 'no device'})")
    return Stop("blocked", st.name, where, "unknown", f"route lookup for {dst} in {st.name} failed: {rt.error}")


def _covers(cidr: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_interface(cidr).network
    except ValueError:
        return False
