"""Per-namespace sysctls (net.*) as Steps."""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass

from ..backend.netns import call_in
from ..errors import NotFound, UsageError
from ..steps import Dev, Receipt, Session, Step, in_ns

KEY_RE = re.compile(r"^net(\.[A-Za-z0-9_-]+)+$")


def proc_path(key: str) -> str:
    """The /proc/sys file of a net.* sysctl key."""
    return "/proc/sys/" + key.replace(".", "/")


@dataclass(frozen=True)
class SysctlSet(Step):
    """Set a net.* sysctl inside a namespace, remembering the old value."""

    key: str
    value: str
    netns: str | None = None

    def __post_init__(self) -> None:
        if not KEY_RE.match(self.key):
            raise UsageError(f"invalid sysctl {self.key!r}", "only per-namespace net.* keys, e.g. net.ipv4.ip_forward")

    def _rw(self, s: Session, value: str | None) -> str | None:
        path = proc_path(self.key)

        def io() -> str | None:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                raise NotFound(f"sysctl {self.key} not found", "check the key with 'sysctl -a'") from None
            try:
                try:
                    old: str | None = os.read(fd, 4096).decode().strip()
                except OSError as e:
                    if e.errno != errno.EIO:
                        raise
                    old = None  # a stable_secret never set reads as EIO: nothing to restore (it cannot be unset)
                if value is not None:
                    os.lseek(fd, 0, os.SEEK_SET)
                    os.write(fd, value.encode())
                return old
            finally:
                os.close(fd)

        return call_in(s.ns(self.netns), io)

    def apply(self, s: Session) -> Receipt:
        return {"old": self._rw(s, str(self.value))}

    def undo(self, s: Session, receipt: Receipt) -> None:
        if receipt is not None and receipt["old"] is not None:
            try:
                self._rw(s, receipt["old"])
            except NotFound:
                pass

    def command(self) -> str:
        return in_ns(self.netns, "sysctl", "-w", f"{self.key}={self.value}")

    def vanishes_with(self, lab_ns: set[str], made: set[Dev]) -> bool:
        return self.netns in lab_ns
