"""What the user-space tunnel moved: per-direction counters and their summary."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field

# the error text a worker records when its tun device is deleted under it
DEVICE_GONE = "device deleted"


@dataclass
class Counters:
    """Per-direction counts of one worker thread (only that thread writes them)."""

    packets: int = 0
    bytes: int = 0
    errors: int = 0
    dropped: int = 0
    last_error: str = ""
    by_errno: dict[str, int] = field(default_factory=dict)

    def failed(self, e: OSError) -> None:
        """Count one transient error by its errno name."""
        name = errno.errorcode.get(e.errno or 0, str(e.errno))
        self.errors += 1
        self.by_errno[name] = self.by_errno.get(name, 0) + 1
        self.last_error = os.strerror(e.errno or 0)


@dataclass
class TunnelStats:
    """What the tunnel moved, summed over its queues."""

    tx: Counters = field(default_factory=Counters)
    rx: Counters = field(default_factory=Counters)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"tun_to_udp": vars(self.tx), "udp_to_tun": vars(self.rx), "seconds": round(self.seconds, 3)}

    def line(self) -> str:
        """The summary printed on stderr at exit."""
        def side(c: Counters) -> str:
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(c.by_errno.items()))
            return f"{c.packets} packets {c.bytes} bytes ({c.errors} errors{': ' + kinds if kinds else ''}, " \
                   f"{c.dropped} dropped)"

        gone = "; stopped: the device was deleted" if DEVICE_GONE in (self.tx.last_error, self.rx.last_error) else ""
        return f"tun->udp {side(self.tx)}; udp->tun {side(self.rx)} in {self.seconds:.2f} s{gone}"
