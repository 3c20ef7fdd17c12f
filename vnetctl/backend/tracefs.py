"""The kernel's own drop reasons: the skb:kfree_skb tracepoint in a tracefs instance of our own.

The instance is made for one probe window and removed after it, so the global trace
buffer and other tracers are never touched. Events are global to the kernel, not to a
namespace, and a drop often happens far from the sender: in softirq on another CPU,
in ksoftirqd, in a neighbour timer. So a drop is the probe's when the same skb
(by address) was last seen by net:net_dev_queue or net:netif_receive_skb on a device of
the probe's path with the probe's length, or when it is raised in the sender's own
context. tracefs prints pids as the initial pid namespace sees them, which a process in
a pid namespace cannot know: a line written to the instance's trace_marker tells it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
_EVENT = re.compile(r"^\s*(.+?)-(\d+)\s+\[\d+\]\s+\S+\s+[\d.]+: (\w+): (.*)$", re.M)
_DROP = re.compile(r"skbaddr=(\S+) .*location=(\S+) reason: (\w+)")
_NET = re.compile(r"dev=(\S*) skbaddr=(\S+) len=(\d+)")
NET_EVENTS = ("net_dev_queue", "netif_receive_skb")
ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD
IGNORED = {"NO_SOCKET"}  # a raw or ping socket not wanting a packet is no drop of the path


@dataclass(frozen=True)
class Drop:
    """One kfree_skb event: the kernel's reason and where in the kernel it happened."""

    reason: str
    location: str
    comm: str
    by_skb: bool = True  # its skb was seen on the probe's path (else: raised in the sender's context only)


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
    """A tracefs instance with skb:kfree_skb of one protocol and the skb's path through devices; stop() reads and removes it.

    lens: the probe's lengths as the net events report them; devices: the names on its path;
    protocol: its ethertype (IPv4 or IPv6: drops of the other family are never the probe's).
    """

    def __init__(self, lens: set[int] | None = None, devices: set[str] | None = None, protocol: int = ETH_P_IP) -> None:
        self.lens, self.devices = lens or set(), devices or set()
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
        try:
            self._enable("skb", "kfree_skb", f"protocol == {protocol}")
            if self.lens:
                for name in NET_EVENTS:
                    self._enable("net", name, " || ".join(f"len == {n}" for n in sorted(self.lens)))
        except OSError as e:
            self.unavailable = f"skb:kfree_skb cannot be enabled: {e.strerror}"
            self.close()
            return
        try:
            _write(os.path.join(path, "trace_marker"), self.tag)
        except OSError:
            pass

    def _enable(self, system: str, event: str, filt: str) -> None:
        assert self.path is not None
        where = os.path.join(self.path, "events", system, event)
        _write(os.path.join(where, "filter"), filt)
        _write(os.path.join(where, "enable"), "1")

    def stop(self) -> list[Drop]:
        """Stop tracing, return the probe's drops (by skb, or in this process's context), remove the instance."""
        if self.path is None:
            return []
        try:
            _write(os.path.join(self.path, "tracing_on"), "0")
            with open(os.path.join(self.path, "trace")) as f:
                text = f.read()
        except OSError:
            text = ""
        finally:
            self.close()
        me = re.search(r"-(\d+)\s+\[\d+\][^\n]*" + self.tag, text)
        sent = text.find(self.tag + "-sent")
        # what came before the send (another trace's probe, say) is never this probe's
        return attribute(text[text.rfind("\n", 0, sent) + 1:] if sent >= 0 else text, me.group(1) if me else None,
                         self.lens, self.devices)

    def mark_sent(self) -> None:
        """Mark the moment the probe is sent: drops before it are not the probe's."""
        if self.path is not None:
            try:
                _write(os.path.join(self.path, "trace_marker"), self.tag + "-sent")
            except OSError:
                pass

    def close(self) -> None:
        """Remove the instance (the kernel frees its buffers)."""
        if self.path is not None:
            try:
                os.rmdir(self.path)
            except OSError:
                pass
            self.path = None


def attribute(text: str, pid: str | None, lens: set[int], devices: set[str]) -> list[Drop]:
    """The kfree_skb events of `text` that are the probe's: its skb last seen on its path with its length, or its sender."""
    claimed: dict[str, bool] = {}
    out = []
    for m in _EVENT.finditer(text):
        comm, who, event, fields = m.groups()
        if event in NET_EVENTS and (n := _NET.match(fields)) is not None:
            claimed[n.group(2)] = int(n.group(3)) in lens and (not devices or n.group(1) in devices)
        elif event == "kfree_skb" and (d := _DROP.search(fields)) is not None:
            by_skb = claimed.pop(d.group(1), False)
            if (by_skb or who == pid) and d.group(3) not in IGNORED:
                out.append(Drop(d.group(3), d.group(2), comm.strip(), by_skb))
    return out


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
