"""Forwarding entries of a VXLAN device as Steps: where it sends frames (head-end replication)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import NotFound
from ..steps import Dev, Receipt, Session, Step

FLOOD = "00:00:00:00:00:00"  # the all-zeros entry: broadcast, multicast and unknown unicast go to each such dst


@dataclass(frozen=True)
class FdbAppend(Step):
    """Send a VXLAN device's frames for `mac` (all-zeros: every flooded frame) to the underlay address `dst` too."""

    dev: str
    dst: str
    mac: str = FLOOD
    netns: str | None = None

    def apply(self, s: Session) -> Receipt:
        nl = s.nl(self.netns)
        nl.append_fdb(nl.require(self.dev).index, self.dev, self.mac, self.dst)
        return None

    def undo(self, s: Session, receipt: Receipt) -> None:
        nl = s.nl(self.netns)
        link = nl.link(self.dev)
        if link is None:
            return  # the entries went with the device
        try:
            nl.del_fdb(link.index, self.dev, self.mac, self.dst)
        except NotFound:
            pass

    def command(self) -> str:
        where = f" -n {self.netns}" if self.netns else ""
        return f"bridge{where} fdb append {self.mac} dev {self.dev} dst {self.dst}"

    def vanishes_with(self, lab_ns: set[str], made: set[Dev]) -> bool:
        return self.netns in lab_ns or (self.netns, self.dev) in made
