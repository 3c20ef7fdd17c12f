"""Capability checks, read from /proc/self/status (not 'am I root')."""

from __future__ import annotations

from ..errors import PermissionDenied

CAP_BITS = {"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_ADMIN": 21, "CAP_SYS_PTRACE": 19}


def effective_caps() -> int:
    """The effective capability mask of this process."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def has_cap(name: str) -> bool:
    """True if this process has capability `name` in its effective set."""
    return bool(effective_caps() & (1 << CAP_BITS[name]))


def require(caps: set[str] | frozenset[str], what: str) -> None:
    """Raise PermissionDenied naming the first missing capability."""
    mask = effective_caps()
    for cap in sorted(caps):
        if not mask & (1 << CAP_BITS[cap]):
            raise PermissionDenied(
                f"{what} needs {cap}",
                "run as root or grant the capability (e.g. sudo, or setcap/ambient caps); nothing was changed",
            )
