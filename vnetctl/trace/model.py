"""A trace as plain data: the predicted hops, what the captures saw, and the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REASONS = ("link-down", "no-route", "unreachable-route", "neighbour-failed", "forwarding-off", "rp-filter", "mtu",
           "bridge-port", "firewall", "no-listener", "no-holder", "holder-not-reading", "unknown")


@dataclass
class Hop:
    """One device the probe must cross, in one direction, on the forward or the reply leg."""

    leg: str
    netns: str
    netns_inode: int
    device: str
    kind: str | None
    direction: str
    note: str = ""
    seen: bool = False
    ms: float | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, str]:
        """Where it is captured: (namespace inode, device)."""
        return self.netns_inode, self.device

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape of a hop."""
        return {"netns": self.netns, "netns_inode": self.netns_inode, "device": self.device, "direction": self.direction,
                "seen": self.seen, "ms": self.ms, "leg": self.leg, "kind": self.kind, "note": self.note}


@dataclass
class Stop:
    """How a predicted leg ends: reached (the address is here), holder (a tun/tap's process) or blocked."""

    kind: str
    netns: str
    device: str
    reason: str = ""
    detail: str = ""
    state: Any = None  # the namespace's NsState, for the reply leg; never printed
    counters: tuple[int, int] | None = None  # a tun/tap's (tx_packets, tx_dropped) when predicted


@dataclass
class Leg:
    """The hops of one direction and how it ends."""

    hops: list[Hop]
    stop: Stop


@dataclass(frozen=True)
class Verdict:
    """Where the probe vanished and why, as read from state."""

    netns: str
    device: str
    reason: str
    detail: str
    kernel_drop_reason: str | None = None


@dataclass
class TraceResult:
    """Everything one trace found."""

    src: dict[str, str]
    dst: dict[str, str]
    proto: str
    reached: bool
    replied: bool
    hops: list[Hop]
    verdict: Verdict | None
    answer: str
    kernel_drops: str | None = None
    probe: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape (issue 13)."""
        v = self.verdict
        return {"src": self.src, "dst": self.dst, "proto": self.proto, "reached": self.reached, "replied": self.replied,
                "answer": self.answer, "hops": [h.as_json() for h in self.hops],
                "verdict": None if v is None else {"netns": v.netns, "device": v.device, "reason": v.reason,
                                                   "detail": v.detail, "kernel_drop_reason": v.kernel_drop_reason},
                "kernel_drops": self.kernel_drops, "probe": self.probe, "skipped": self.skipped}
