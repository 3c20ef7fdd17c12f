"""The kernel's own drop reasons: the skb:kfree_skb tracepoint in a tracefs instance of our own.

The instance is made for one probe window and removed after it, so the global trace
buffer and other tracers are never touched. Events are global to the kernel, not to a
namespace: only those raised in this thread's own context (the probe's send path, where
veth and bridge deliver synchronously) are kept, so other hosts' traffic does not get the
blame. tracefs prints pids as the initial pid namespace sees them, which a process in a
pid namespace cannot know: a line written to the instance's trace_marker tells it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
_LINE = re.compile(r"^\s*(.+?)-(\d+)\s+\[\d+\].*kfree_skb:.*location=(\S+) reason: (\w+)", re.M)
IGNORED = {"NO_SOCKET"}  # a raw or ping socket not wanting a packet is no drop of the path


@dataclass(frozen=True)
class Drop:
    """One kfree_skb event: the kernel's reason and where in the kernel it happened."""

    reason: str
    location: str
    comm: str


def tracefs_root() -> str | None:
    """Where tracefs is mounted (from /proc/self/mounts), or None."""
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "tracefs":
                    return parts[1]
    except OSError:
        return None
    return None


class DropWatch:
    """A tracefs instance with skb:kfree_skb enabled for IPv4; stop() reads and removes it."""

    def __init__(self) -> None:
        self.unavailable: str | None = None
        self.path: str | None = None
        self.tag = "vnetctl-trace-" + os.urandom(4).hex()
        root = tracefs_root()
        if root is None:
            self.unavailable = "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)"
            return
        path = os.path.join(root, "instances", f"vnetctl-trace-{os.getpid()}-{os.urandom(3).hex()}")
        try:
            os.mkdir(path)
        except OSError as e:
            self.unavailable = f"cannot make a tracefs instance: {e.strerror}"
            return
        self.path = path
        event = os.path.join(path, "events", "skb", "kfree_skb")
        try:
            _write(os.path.join(event, "filter"), "protocol == 2048")
            _write(os.path.join(event, "enable"), "1")
        except OSError as e:
            self.unavailable = f"skb:kfree_skb cannot be enabled: {e.strerror}"
            self.close()
            return
        try:
            _write(os.path.join(path, "trace_marker"), self.tag)
        except OSError:
            pass

    def stop(self) -> list[Drop]:
        """Disable the event, return the drops raised in this process's context, remove the instance."""
        if self.path is None:
            return []
        try:
            _write(os.path.join(self.path, "events", "skb", "kfree_skb", "enable"), "0")
            with open(os.path.join(self.path, "trace")) as f:
                text = f.read()
        except OSError:
            text = ""
        finally:
            self.close()
        me = re.search(r"-(\d+)\s+\[\d+\][^\n]*" + self.tag, text)
        out = []
        for m in _LINE.finditer(text):
            if me is not None and m.group(2) == me.group(1) and m.group(4) not in IGNORED:
                out.append(Drop(m.group(4), m.group(3), m.group(1).strip()))
        return out

    def close(self) -> None:
        """Remove the instance (the kernel frees its buffers)."""
        if self.path is not None:
            try:
                os.rmdir(self.path)
            except OSError:
                pass
            self.path = None


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
