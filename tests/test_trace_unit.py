"""trace's pure parts: frame classification, BPF matches, verdict priorities, drawings."""

from __future__ import annotations

import struct

import pytest

from vnetctl.backend.capture import bpf_program
from vnetctl.backend.probe import Answer
from vnetctl.errors import UsageError
from vnetctl.render.trace import dot, mermaid
from vnetctl.trace import probe as pr
from vnetctl.trace.model import Hop, Leg, Stop, TraceResult
from vnetctl.trace.verdict import decide
from vnetctl.userspace.packet import build_eth, build_icmp, build_ipv4, build_udp

A, B = "10.0.1.2", "10.0.2.2"


def icmp_frame(src: str, dst: str, ident: int, seq: int) -> bytes:
    packet = build_ipv4(src, dst, 1, build_icmp(8, 0, ident, seq, b"x" * 56))
    return build_eth("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800, packet)


def test_classify_legs_on_ethernet_tun_and_inside_vxlan():
    fwd = icmp_frame(A, B, 7, 9)
    assert pr.classify(fwd, 1, A, B) == "forward"
    assert pr.classify(icmp_frame(B, A, 7, 9), 1, A, B) == "reply"
    assert pr.classify(fwd[14:], 65534, A, B) == "forward"  # a tun: no L2 header
    vxlan = b"\x08\0\0\0\0\0\x07\0" + fwd
    outer = build_eth("02:00:00:00:00:04", "02:00:00:00:00:03", 0x0800,
                      build_ipv4("192.168.50.1", "192.168.50.2", 17, build_udp("192.168.50.1", "192.168.50.2", 5555, 4789, vxlan)))
    assert pr.classify(outer, 1, A, B) == "forward"
    assert pr.classify(icmp_frame("10.9.9.9", B, 7, 9), 1, A, B) is None


def test_matches_find_the_probe_where_the_filter_looks():
    p = pr.make("icmp", 84, False, 1)
    frame = icmp_frame(A, B, p.ident, p.seq0)
    words = {(off, val) for off, val in pr.matches(p) if off + 4 <= len(frame)}
    assert any(struct.unpack_from("!I", frame, off)[0] == val for off, val in words)
    other = icmp_frame(A, B, p.ident ^ 1, p.seq0)
    assert not any(struct.unpack_from("!I", other, off)[0] == val for off, val in words)
    prog = bpf_program(pr.matches(p))
    assert len(prog) % 8 == 0 and len(prog) // 8 == 2 * len(set(pr.matches(p))) + 2


@pytest.mark.parametrize("text", ["sctp:1", "udp", "tcp:0", "udp:70000", "icmp:1"])
def test_bad_proto(text):
    with pytest.raises(UsageError):
        pr.parse_proto(text)


def hop(ns: str, dev: str, d: str, seen: bool, problems: list[tuple[str, str]] | None = None) -> Hop:
    return Hop("forward", ns, 1, dev, "veth", d, seen=seen, problems=problems or [])


def test_a_failed_arp_is_a_symptom_when_a_cause_follows():
    hops = [hop("ha", "eth0", "out", False, [("neighbour-failed", "ARP INCOMPLETE")]), hop("sw", "ha-p", "in", False),
            hop("sw", "rt1-p", "out", False, [("bridge-port", "rt1-p is disabled")])]
    _, _, v = decide(Leg(hops, Stop("reached", "rt", "eth1")), None, Answer("none", 0.0), None, "icmp")
    assert v is not None and (v.device, v.reason) == ("rt1-p", "bridge-port")


def test_a_firewall_rule_beats_a_refused_port():
    hops = [hop("ha", "eth0", "out", True), hop("hb", "eth0", "in", True)]
    _, _, v = decide(Leg(hops, Stop("reached", "hb", "eth0")), None, Answer("refused", 0.0), None, "udp:9",
                     [("hb", "iptables -A INPUT -j REJECT", 1)])
    assert v is not None and (v.netns, v.device, v.reason) == ("hb", "eth0", "firewall")


def test_answered_has_no_verdict():
    hops = [hop("ha", "eth0", "out", True)]
    assert decide(Leg(hops, Stop("reached", "hb", "eth0")), None, Answer("reply", 0.0), None, "icmp") == (True, True, None)


def test_drawings_mark_the_verdict_hop():
    hops = [hop("ha", "eth0", "out", True), hop("rt", "eth1", "in", False)]
    reached, replied, v = decide(Leg(hops, Stop("blocked", "rt", "eth1", "forwarding-off", "ip_forward is 0")), None,
                                 Answer("none", 0.0), None, "icmp")
    r = TraceResult({"netns": "ha", "address": A}, {"netns": "", "address": B}, "icmp", reached, replied, hops, v, "none")
    assert "style h1 fill" in mermaid(r) and "h0 -.-> h1" in mermaid(r)
    assert 'h1 [label="rt/eth1 in (not seen)", color=red' in dot(r)
    assert "forwarding-off: ip_forward is 0" in mermaid(r)


TRACE_TEXT = """\
            ping-101   [001] b.s1. 1.000001: tracing_mark_write: vnetctl-trace-ab
            ping-101   [001] b.s1. 1.000002: net_dev_queue: dev=eth0 skbaddr=00000000aaaa len=98
     ksoftirqd/1-22    [001] ..s1. 1.000003: netif_receive_skb: dev=eth1 skbaddr=00000000aaaa len=84
     ksoftirqd/1-22    [001] ..s1. 1.000004: kfree_skb: skbaddr=00000000aaaa rx_sk=0 protocol=2048 location=ip_error+0x94/0x220 reason: IP_INADDRERRORS
     ksoftirqd/1-22    [001] ..s1. 1.000005: kfree_skb: skbaddr=00000000aaaa rx_sk=0 protocol=2048 location=x+0x1/0x2 reason: NOT_SPECIFIED
     ksoftirqd/1-22    [001] ..s1. 1.000006: netif_receive_skb: dev=eth1 skbaddr=00000000bbbb len=84
     ksoftirqd/1-22    [001] ..s1. 1.000007: kfree_skb: skbaddr=00000000bbbb rx_sk=0 protocol=2048 location=y+0x1/0x2 reason: IP_RPFILTER
            ping-101   [001] ..s1. 1.000008: kfree_skb: skbaddr=00000000cccc rx_sk=0 protocol=2048 location=z+0x1/0x2 reason: NEIGH_FAILED
"""


def test_drops_are_the_probes_by_skb_on_its_path_or_by_its_sender():
    from vnetctl.backend.tracefs import attribute

    got = [(d.reason, d.comm) for d in attribute(TRACE_TEXT, "101", {84, 98}, {"eth0", "eth1"})]
    # the skb seen on the path with the probe's length, dropped in softirq; freed once, so its reuse is not ours;
    # bbbb is on the path with the right length too; cccc is dropped in the sender's own context
    assert got == [("IP_INADDRERRORS", "ksoftirqd/1"), ("IP_RPFILTER", "ksoftirqd/1"), ("NEIGH_FAILED", "ping")]
    assert [d.reason for d in attribute(TRACE_TEXT, None, {84, 98}, {"eth9"})] == []
    assert [d.reason for d in attribute(TRACE_TEXT, None, {60}, set())] == []


def test_ipv6_probe_frames_are_found_and_classified():
    from vnetctl.userspace.packet import build_icmp6, build_ipv6

    a6, b6 = "fd00:1::2", "fd00:2::2"
    p = pr.for_family(pr.make("icmp", 84, False, 1), True)
    pkt = pr.icmp_packets(p)[0]
    assert pkt[0] == 128 and len(pkt) + 40 == 84
    echo = build_ipv6(a6, b6, 58, build_icmp6(a6, b6, 128, 0, p.ident, p.seq0, b"x" * 36))
    frame = build_eth("02:00:00:00:00:02", "02:00:00:00:00:01", 0x86DD, echo)
    assert pr.classify(frame, 1, a6, b6) == "forward" and pr.classify(echo, 65534, a6, b6) == "forward"
    assert pr.classify(build_ipv6(b6, a6, 58, build_icmp6(b6, a6, 129, 0, p.ident, p.seq0)), 65534, a6, b6) == "reply"
    ptb = build_ipv6("fd00:1::1", a6, 58, build_icmp6("fd00:1::1", a6, 2, 0, 0, 1280, echo))
    assert pr.classify(ptb, 65534, a6, b6) == "error"
    words = set(pr.matches(p))
    assert any(struct.unpack_from("!I", frame, off)[0] == val for off, val in words if off + 4 <= len(frame))
    quoted = build_eth("02:00:00:00:00:02", "02:00:00:00:00:01", 0x86DD, ptb)
    assert any(struct.unpack_from("!I", quoted, off)[0] == val for off, val in words if off + 4 <= len(quoted))
    assert 84 in pr.lengths(p) and 98 in pr.lengths(p)
    with pytest.raises(UsageError):
        pr.for_family(pr.make("icmp", 30, False, 1), True)


@pytest.mark.parametrize("v6", [False, True])
def test_a_hundred_probes_still_fit_one_bpf_program(v6):
    p = pr.for_family(pr.make("icmp", 84, False, 100), v6)
    prog = bpf_program(pr.matches(p))
    assert len(prog) // 8 <= 2 * 120 + 2
    assert {off for off, _ in pr.matches(p)} >= {pr.VXLAN6_OUTER + (44 if v6 else 24)}
