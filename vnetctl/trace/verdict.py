"""The verdict: the first hop where the probe vanished, and the cause the state gives for it."""

from __future__ import annotations

from ..backend.probe import Answer
from .model import Hop, Leg, Verdict

# The kernel's drop reasons (skb:kfree_skb) that name a verdict on their own.
DROP_REASONS = {"IP_RPFILTER": "rp-filter", "NETFILTER_DROP": "firewall", "PKT_TOO_BIG": "mtu",
                "NEIGH_FAILED": "neighbour-failed", "IP_OUTNOROUTES": "no-route", "IP_INNOROUTES": "no-route",
                "BRIDGE_INGRESS_STP_STATE": "bridge-port", "DEV_READY": "link-down"}
ICMP_REASONS = {(3, 0): "no-route", (3, 1): "neighbour-failed", (3, 4): "mtu", (3, 13): "firewall",
                (3, 9): "firewall", (3, 10): "firewall",
                # ICMPv6 (its types never collide with these): unreachable no route / prohibited / address /
                # source policy / reject route, and Packet Too Big
                (1, 0): "no-route", (1, 1): "firewall", (1, 3): "neighbour-failed", (1, 5): "firewall",
                (1, 6): "unreachable-route", (2, 0): "mtu"}


def first_unseen(hops: list[Hop]) -> int:
    """Index of the first hop that did not see the probe (len(hops) if all did)."""
    return next((i for i, h in enumerate(hops) if not h.seen), len(hops))


def leg_verdict(leg: Leg, answer: Answer, drop: str | None) -> Verdict | None:
    """Why this leg lost the probe, or None if every hop saw it and it was not blocked."""
    hops, stop = leg.hops, leg.stop
    i = first_unseen(hops)
    if i == len(hops) and stop.kind != "blocked":
        return None
    # A failed ARP is a symptom when something further on explains it: look for a cause first.
    found = [(h, r, d) for h in hops[max(i - 1, 0):] for r, d in h.problems]
    cause = next((f for f in found if f[1] != "neighbour-failed"), None)
    if cause is not None:
        return Verdict(cause[0].netns, cause[0].device, cause[1], cause[2], drop)
    if stop.kind == "blocked" and (i == len(hops) or stop.reason != "unknown"):
        return Verdict(stop.netns, stop.device, stop.reason, stop.detail, drop)
    if found:
        return Verdict(found[0][0].netns, found[0][0].device, found[0][1], found[0][2], drop)
    lost = hops[i] if i < len(hops) else None
    where = (lost.netns, lost.device) if lost else (stop.netns, stop.device)
    last = f"last seen {hops[i - 1].direction} {hops[i - 1].device} in {hops[i - 1].netns}" if i else "never seen leaving"
    if answer.icmp is not None and answer.icmp[:2] in ICMP_REASONS:
        reason = ICMP_REASONS[answer.icmp[:2]]
        fits = f"; a packet of at most {answer.icmp[2]} bytes fits" if reason == "mtu" and answer.icmp[2] else ""
        return Verdict(*where, reason, f"{answer.detail} ({last}){fits}", drop)
    if drop is not None and drop.split()[0] in DROP_REASONS:
        return Verdict(*where, DROP_REASONS[drop.split()[0]], f"the kernel dropped it: {drop} ({last})", drop)
    return Verdict(*where, "unknown", f"{last}; nothing in the state explains why it did not get further", drop)


def firewall_verdict(legs: list[Leg], hits: list[tuple[str, str, int]], drop: str | None) -> Verdict | None:
    """A DROP/REJECT rule that counted packets during the probe, in the first namespace of the path that has one."""
    hops = [h for leg in legs for h in leg.hops]
    for h in sorted(hops, key=lambda h: (h.direction != "in", hops.index(h))):
        hit = next((x for x in hits if x[0] == h.netns), None)
        if hit is not None:
            return Verdict(h.netns, h.device, "firewall", f"{hit[1]} counted {hit[2]} packet(s) during the probe", drop)
    return None


def decide(fwd: Leg, rep: Leg | None, answer: Answer, drop: str | None, proto: str,
           firewall: list[tuple[str, str, int]] | None = None) -> tuple[bool, bool, Verdict | None]:
    """(reached, replied, verdict) from the annotated legs, the probe's answer and the firewall rules that counted."""
    replied = answer.kind == "reply"
    delivered = bool(fwd.hops) and all(h.seen for h in fwd.hops) and fwd.stop.kind in ("reached", "holder")
    reached = replied or answer.kind == "refused" or delivered
    if replied:
        return reached, True, None
    fw = firewall_verdict([fwd] + ([rep] if rep else []), firewall or [], drop)
    if fw is not None:
        return reached, False, fw
    if answer.kind == "refused":
        return reached, False, Verdict(fwd.stop.netns, fwd.stop.device, "no-listener",
                                       f"the destination answered {answer.detail}: nothing listens on {proto}", drop)
    v = leg_verdict(fwd, answer, drop)
    if v is None and fwd.stop.kind == "holder" and (rep is None or not rep.hops or not rep.hops[0].seen):
        v = Verdict(fwd.stop.netns, fwd.stop.device, "no-listener",
                    f"the probe was delivered to {fwd.stop.detail.split(' is held by ')[-1]}, which did not answer", drop)
    if v is None and rep is not None:
        v = leg_verdict(rep, answer, drop)
    if v is None:
        last = fwd.hops[-1] if fwd.hops else None
        v = Verdict(last.netns if last else fwd.stop.netns, last.device if last else fwd.stop.device, "unknown",
                    f"every predicted hop saw the probe but no answer came back ({answer.detail or answer.kind})", drop)
    return reached, False, v
