"""Traffic control through rtnetlink (pyroute2): a device's root qdisc read, set to a token bucket, removed; qdisc probes."""

from __future__ import annotations

import errno
from functools import cache
from typing import Any

from .netlink import Netlink, kernel, netlink_errors
from .scratch import in_scratch_namespace

TC_H_ROOT = 0xFFFFFFFF
DEFAULT_QDISCS = frozenset({"noqueue", "pfifo_fast", "noop", "mq", "fq_codel", "pfifo", "fq"})


def _ticks_per_usec() -> float:
    """psched ticks per microsecond (/proc/net/psched), to turn tbf's buffer back into bytes as tc does."""
    try:
        with open("/proc/net/psched") as f:
            t2us, us2t = (int(x, 16) for x in f.read().split()[:2])
        return t2us / us2t
    except (OSError, ValueError):
        return 15.625


def _root(msg: Any) -> dict[str, Any]:
    kind = msg.get_attr("TCA_KIND")
    out: dict[str, Any] = {"kind": kind, "handle": f"{msg['handle'] >> 16:x}:", "rate": None, "burst": None}
    opts = msg.get_attr("TCA_OPTIONS")
    parms = opts.get_attr("TCA_TBF_PARMS") if kind == "tbf" and opts is not None and hasattr(opts, "get_attr") else None
    if parms:
        rate = parms["rate"]  # bytes per second
        out["rate"] = rate * 8
        out["burst"] = round(parms["buffer"] / _ticks_per_usec() * rate / 1e6)
    return out


def root_qdiscs(nl: Netlink) -> dict[int, dict[str, Any]]:
    """Each device's root qdisc (kind, handle; rate in bit/s and burst in bytes for tbf), by ifindex."""
    from .netlink import dump
    msgs = dump(lambda: nl.ipr.get_qdiscs(), "cannot list qdiscs" + nl.where)
    return {m["index"]: _root(m) for m in msgs if m["parent"] == TC_H_ROOT}


def set_tbf(nl: Netlink, index: int, name: str, rate: int, burst: int, latency_ms: int) -> None:
    """Make a device's root qdisc a token bucket: rate in bit/s, burst in bytes (tc qdisc replace ... tbf)."""
    with kernel(f"cannot shape {name}{nl.where}"):
        nl.ipr.tc("replace", "tbf", index, rate=rate // 8, burst=burst, latency=f"{latency_ms}ms")


def set_netem(nl: Netlink, index: int, name: str, delay_ms: float, jitter_ms: float, loss_pct: float) -> None:
    """Make a device's root qdisc netem: delay and jitter in ms, loss in percent (tc qdisc replace ... netem)."""
    with kernel(f"cannot add delay or loss to {name}{nl.where}"):
        nl.ipr.tc("replace", "netem", index, delay=int(delay_ms * 1000), jitter=int(jitter_ms * 1000), loss=loss_pct)


def del_root(nl: Netlink, index: int, name: str) -> None:
    """Remove a device's root qdisc (the kernel puts its default back); none there is fine."""
    try:
        nl.ipr.tc("del", index=index, parent=TC_H_ROOT)
    except netlink_errors() as e:
        if getattr(e, "code", None) != errno.ENOENT:
            with kernel(f"cannot remove the qdisc of {name}{nl.where}"):
                raise


@cache
def has_qdisc(kind: str) -> bool | None:
    """True if this kernel has qdisc `kind` (tried on lo in a throwaway namespace); None when it cannot be tried."""
    def probe() -> bool | None:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        with IPRoute() as ipr:
            try:
                ipr.tc("add", kind, 1, **({"delay": 1000} if kind == "netem" else {}))
                return True
            except NetlinkError as e:
                return False if e.code == errno.ENOENT else None
    return in_scratch_namespace(probe)
