"""The trace itself: resolve the ends, predict both legs, open the taps, send, collect, decide."""

from __future__ import annotations

import ipaddress
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..backend import capture, firewall, tracefs
from ..backend import netns as nsb
from ..backend import probe as sender
from ..backend.pathstate import NsState, family
from ..errors import NotFound, UsageError
from ..model import Address
from . import probe as pr
from .model import Hop, Leg, Stop, TraceResult
from .predict import Walker, World
from .verdict import decide


def _usable(a: Address, fam: int) -> bool:
    ip = ipaddress.ip_interface(a.cidr).ip
    return a.family == fam and not ip.is_loopback and not ip.is_link_local


def resolve_dst(world: World, dst: str) -> tuple[str, NsState | None]:
    """DST as an IPv4/IPv6 address, or NS[:DEV] meaning that device's (or namespace's first) IPv4 address, else IPv6."""
    try:
        return str(ipaddress.ip_address(dst)), None
    except ValueError:
        pass
    name, _, dev = dst.partition(":")
    ref = nsb.resolve(name)
    st = world.state(ref)
    for fam in (socket.AF_INET, socket.AF_INET6):
        for a in st.addresses():
            lk = st.link(index=a.ifindex)
            if _usable(a, fam) and lk is not None and lk.name != "lo" and (not dev or lk.name == dev):
                return a.cidr.split("/")[0], st
    raise NotFound(f"no IP address on {dst!r}", "give an address, or NS:DEV of a device that has one")


def source_address(st: NsState, dst: str) -> str:
    """The address the kernel would send from (route prefsrc), else the namespace's first address of dst's family."""
    rt = st.route_get(dst)
    if rt.prefsrc:
        return rt.prefsrc
    fam = family(dst)
    for a in st.addresses():
        if _usable(a, fam):
            return a.cidr.split("/")[0]
    raise NotFound(f"namespace {st.name} has no IPv{6 if fam == socket.AF_INET6 else 4} address to send from",
                   "give it an address first")


def predict(world: World, src_st: NsState, src: str, dst: str, p: pr.Probe) -> tuple[Leg, Leg | None]:
    """The forward leg, and the reply leg when the forward one gets somewhere."""
    fwd = Walker(world, "forward", p.size, p.df).walk(src_st, src, dst)
    if fwd.stop.kind == "reached":
        return fwd, Walker(world, "reply", p.size, p.df).walk(fwd.stop.state, dst, src)
    if fwd.stop.kind == "holder":
        w = Walker(world, "reply", p.size, p.df)
        dev = fwd.stop.state.link(name=fwd.stop.device)
        w.hop(fwd.stop.state, dev, "in", "answer from the holder")
        return fwd, w.walk(fwd.stop.state, dst, src, iif=dev)
    return fwd, None


def _send(ns: nsb.NsRef | None, dst: str, p: pr.Probe, timeout: float) -> sender.Answer:
    if p.proto == "icmp":
        return sender.icmp_echo(ns, dst, pr.icmp_packets(p), p.ident, p.df, timeout)
    if p.proto == "udp":
        return sender.udp(ns, dst, p.port, p.sport, [pr.payload(p, p.header)] * p.count, p.df, timeout)
    return sender.tcp(ns, dst, p.port, p.sport, timeout)


def _mark(hops: list[Hop], spaces: list[int], frames: list[capture.Frame], src: str, dst: str, sent_at: float) -> None:
    for f in frames:
        leg = pr.classify(f.data, f.hatype, src, dst)
        for h in hops:
            if h.key == (spaces[f.key], f.device) and h.leg == leg and (h.direction == "out") == f.outgoing:
                ms = round(max(0.0, f.stamp - sent_at) * 1000, 3)
                h.seen, h.ms = True, ms if h.ms is None else min(h.ms, ms)


def _refresh(legs: list[Leg | None], again: list[Leg | None]) -> None:
    """Problems and stops as read after the probe (its ARP has run by now), onto the captured hops."""
    for leg, new in zip(legs, again, strict=True):
        if leg is None or new is None:
            continue
        fresh = {(h.netns_inode, h.device, h.direction): h.problems for h in new.hops}
        for h in leg.hops:
            h.problems = fresh.get((h.netns_inode, h.device, h.direction), h.problems)
        unread = _unread(leg, new.stop) if leg.stop.kind == new.stop.kind == "holder" else None
        if [h.key for h in new.hops] == [h.key for h in leg.hops] or new.stop.kind == "blocked":
            leg.stop = new.stop
        leg.stop = unread or leg.stop


def _unread(leg: Leg, after: Stop) -> Stop | None:
    """A tun/tap holder that read nothing of what the kernel queued to it during the probe, from the device's counters."""
    before = leg.stop
    if before.counters is None or after.counters is None:
        return None
    (tx0, drop0), (tx1, drop1) = before.counters, after.counters
    holder = before.detail.split(" is held by ")[-1]
    handed = any(h.seen and (h.netns, h.device, h.direction) == (after.netns, after.device, "out") for h in leg.hops)
    if drop1 > drop0:
        return Stop("blocked", after.netns, after.device, "holder-not-reading",
                    f"{after.device} dropped {drop1 - drop0} packet(s) during the probe (tx_dropped {drop0} -> {drop1}): "
                    f"its queue is full, {holder} does not read it")
    if handed and tx1 == tx0:
        return Stop("blocked", after.netns, after.device, "holder-not-reading",
                    f"the probe was queued to {after.device} but its tx_packets stayed {tx1} (counted when a packet is read): "
                    f"{holder} read nothing")
    return None


@dataclass
class Window:
    """What the probe's window produced: the answer, the frames, kernel drops, firewall rules that counted."""

    answer: sender.Answer
    spaces: list[int]
    frames: list[capture.Frame]
    drops: list[tracefs.Drop]
    tracefs_missing: str | None
    firewall: list[tuple[str, str, int]]


def _counters(refs: dict[int, nsb.NsRef | None]) -> dict[int, dict[str, int]]:
    """Firewall DROP/REJECT counters of every namespace, read side by side (one dumper process each)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(refs, pool.map(firewall.drop_counters, refs.values()), strict=True))


def _nsfile(ref: nsb.NsRef | None) -> str:
    return ref.path if ref is not None else "/proc/self/ns/net"


def _probe(world: World, hops: list[Hop], src_ref: nsb.NsRef | None, dst: str, p: pr.Probe, timeout: float) -> Window:
    """Open the taps (one per namespace), the drop watch and the firewall counters; send; collect; close everything."""
    refs = {st.inode: st.ns for st in world.states() if any(h.netns_inode == st.inode for h in hops)}
    names = {h.netns_inode: h.netns for h in hops}
    spaces = sorted(refs)
    with ThreadPoolExecutor(max_workers=1) as pool:
        counted = pool.submit(_counters, refs) if firewall.tools() else None  # while the taps open
        taps = capture.Taps([(_nsfile(refs[i]), None) for i in spaces], capture.bpf_program(pr.matches(p))) if spaces else None
        watch = tracefs.DropWatch(pr.lengths(p), {h.device for h in hops}, tracefs.ETH_P_IPV6 if p.v6 else tracefs.ETH_P_IP)
        try:
            fw_before = counted.result() if counted else {}
            watch.mark_sent()
            answer = _send(src_ref, dst, p, timeout)
            # Every hop's tap queued its copy before the answer could arrive: one last drain, no settling time.
            frames = taps.collect(time.monotonic()) if taps else []
        finally:
            stopped = pool.submit(watch.stop)
            if taps:
                taps.close()
            drops = stopped.result()
    # An answered probe needs no verdict: the counters after it are read only when it was not answered.
    fw_after = _counters(refs) if fw_before and answer.kind != "reply" else {}
    hits = [(names[i], rule, n) for i, before in fw_before.items() if fw_after for rule, n in firewall.moved(before, fw_after[i])]
    return Window(answer, spaces, frames, drops, watch.unavailable, hits)


def run(src_ns: str | None, dst: str, proto: str = "icmp", size: int = 84, df: bool = False, count: int = 1,
        timeout: float = 2.0) -> TraceResult:
    """Trace a probe from namespace src_ns to dst; see the module docstring."""
    if not 0 < timeout <= 60:
        raise UsageError(f"invalid --timeout {timeout}", "give 0-60 seconds")
    p = pr.make(proto, size, df, count)
    src_ref = nsb.resolve(src_ns)
    world = World([None, *nsb.list_named()] + ([src_ref] if src_ref and src_ref.name is None else []))
    try:
        dst_ip, _ = resolve_dst(world, dst)
        p = pr.for_family(p, ":" in dst_ip)
        src_st = world.state(src_ref)
        src_ip = source_address(src_st, dst_ip)
        fwd, rep = predict(world, src_st, src_ip, dst_ip, p)
        hops = fwd.hops + (rep.hops if rep else [])
        w = _probe(world, hops, src_ref, dst_ip, p, timeout)
        _mark(hops, w.spaces, w.frames, src_ip, dst_ip, w.answer.sent_at)
        if w.answer.kind != "reply":
            # Devices and addresses did not change during the probe; neighbours, FDB and sysctls are read afresh.
            _refresh([fwd, rep], list(predict(world, src_st, src_ip, dst_ip, p)))
    finally:
        world.close()
    # The probe's fate: the first drop proven by its skb (it is dropped within moments of the send; another trace's
    # probe of the same length on same-named devices may be dropped later in the window), else the last drop raised
    # in the sender's context (which also runs softirq work for other packets, such as IPv6 multicast).
    fate = next((d for d in w.drops if d.by_skb), w.drops[-1] if w.drops else None)
    drop = f"{fate.reason} ({fate.location})" if fate else None
    reached, replied, verdict = decide(fwd, rep, w.answer, drop, p.label, w.firewall)
    skipped = {"kernel_drop_reason": w.tracefs_missing} if w.tracefs_missing else {}
    if not firewall.tools():
        skipped["firewall"] = "neither iptables-save nor nft is installed: no firewall counters to read"
    return TraceResult({"netns": src_st.name, "address": src_ip}, {"netns": fwd.stop.netns if reached else "", "address": dst_ip},
                       p.label, reached, replied, hops, verdict, w.answer.detail or w.answer.kind,
                       ", ".join(dict.fromkeys(f"{d.reason} ({d.location})" for d in w.drops)) or None,
                       {"icmp_id": p.ident, "icmp_seq": p.seq0, "sport": p.sport} if p.proto == "icmp" else {"sport": p.sport},
                       skipped)
