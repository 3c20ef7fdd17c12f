"""Shaping as a Step: a device's root qdisc set to a token bucket (tc tbf) or to netem, or removed.

Values are written as tc writes them: rates `10mbit`, `1gbit`, `500kbit`, `125kbps` (bytes), sizes
`32kb`, `1mb`, `15000` (bytes), times `10ms`, `1s`, `500us`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backend import tc
from ..errors import Unsupported, UsageError
from ..steps import Receipt, Session, Step, in_ns, where
from ..tcunits import rate_word

DEFAULT_LATENCY_MS = 50


def default_burst(rate: int) -> int:
    """Enough for 10 ms at rate and never below 32 KiB (a burst under a GSO segment stalls the link)."""
    return max(rate // 8 // 100, 32 * 1024)


def require_netem() -> None:
    """Unsupported (69) unless this kernel has the netem qdisc (probed, not guessed)."""
    if tc.has_qdisc("netem") is False:
        raise Unsupported("kernel lacks sch_netem: cannot add delay, jitter or loss",
                          "this kernel has no netem qdisc; load or build the sch_netem module; nothing was changed")


@dataclass(frozen=True)
class Shape(Step):
    """Set a device's root qdisc: tbf for a rate (rate 0: remove the limit), netem for delay/jitter/loss."""

    name: str
    netns: str | None = None
    rate: int = 0                  # bit/s
    burst: int = 0                 # bytes (0: default_burst)
    latency_ms: int = DEFAULT_LATENCY_MS
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0

    def __post_init__(self) -> None:
        if self.netem and self.rate:
            raise UsageError("a rate and delay/jitter/loss are two qdiscs", "set --rate on its own, then the others")
        if self.jitter_ms and not self.delay_ms:
            raise UsageError("jitter needs a delay", "give --delay too, e.g. --delay 20ms --jitter 5ms")

    @property
    def netem(self) -> bool:
        """True when this Step sets delay, jitter or loss."""
        return bool(self.delay_ms or self.jitter_ms or self.loss_pct)

    def apply(self, s: Session) -> Receipt:
        nl = s.nl(self.netns)
        link = nl.require(self.name)
        old = tc.root_qdiscs(nl).get(link.index)
        self._set(s, link.index)
        return {"old": old if old is not None and old["kind"] in ("tbf", "netem") else None}

    def _set(self, s: Session, index: int) -> None:
        nl = s.nl(self.netns)
        if self.netem:
            tc.set_netem(nl, index, self.name, self.delay_ms, self.jitter_ms, self.loss_pct)
        elif self.rate:
            tc.set_tbf(nl, index, self.name, self.rate, self.burst or default_burst(self.rate), self.latency_ms)
        else:
            found = tc.root_qdiscs(nl).get(index)
            if found is not None and found["kind"] in ("tbf", "netem"):  # only what shaping puts there
                tc.del_root(nl, index, self.name)

    def undo(self, s: Session, receipt: Receipt) -> None:
        link = s.nl(self.netns).link(self.name)
        if link is None or receipt is None:
            return
        old = receipt["old"]
        if old is not None and old["kind"] == "tbf":
            Shape(self.name, self.netns, old["rate"], old["burst"] or 0)._set(s, link.index)
        else:
            Shape(self.name, self.netns)._set(s, link.index)

    def vanishes_with(self, lab_ns: set[str], made: set[tuple[str | None, str]]) -> bool:
        return self.netns in lab_ns or (self.netns, self.name) in made

    def describe(self) -> str:
        return f"shape {self.name}{where(self.netns)}"

    def command(self) -> str:
        if not self.netem and not self.rate:
            return in_ns(self.netns, "tc", "qdisc", "del", "dev", self.name, "root")
        words = ["tc", "qdisc", "replace", "dev", self.name, "root"]
        if self.netem:
            words += ["netem"]
            words += ["delay", f"{self.delay_ms:g}ms"] + ([f"{self.jitter_ms:g}ms"] if self.jitter_ms else [])
            words += ["loss", f"{self.loss_pct:g}%"] if self.loss_pct else []
        else:
            words += ["tbf", "rate", rate_word(self.rate), "burst", f"{self.burst or default_burst(self.rate)}b",
                      "latency", f"{self.latency_ms}ms"]
        return in_ns(self.netns, *words)
