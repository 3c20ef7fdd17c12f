"""vnetctl monitor: link, address and route changes in every namespace, as events, with owners.

Like `ip monitor all-nsid`, but for every namespace on the host, including those created
after it starts: the namespaces are discovered again every POLL seconds (nsfind), a new one
is announced (netns-add) and subscribed to, a vanished one is announced (netns-del).
Each event is a plain dict (the documented JSON-lines shape).
"""

from __future__ import annotations

import dataclasses
import resource
import select
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .backend import netmon, nsfind, procfs
from .backend import netns as nsb
from .model import Owner, iso_time
from .owners import Resolver

POLL = 0.5  # new namespaces, however held, are noticed within this (plus one discovery pass)


@dataclass(eq=False)
class _Watched:
    """A namespace being watched: its subscribed socket, device names by ifindex, owners."""

    inode: int
    ref: str | None
    sock: Any
    names: dict[int, str] = field(default_factory=dict)
    owners: tuple[Owner, ...] = ()
    pids: tuple[int, ...] = ()


def _ref(found: nsfind.Found) -> str | None:
    if found.current:
        return None
    if found.name:
        return found.name
    return f"pid:{found.pids[0]}" if found.pids else (found.paths[0] if found.paths else None)


def _now() -> str:
    return iso_time()


class Monitor:
    """Watches every namespace (or the one `netns` names) and yields events."""

    def __init__(self, netns: str | None = None, owners: bool = True) -> None:
        self.only = nsb.resolve(netns) if netns else None
        self.resolver = Resolver() if owners else None
        self.watched: dict[int, _Watched] = {}
        self.warnings: list[str] = []
        self.memory = nsfind.Memory()  # sockets asked once, mount tables read when they change
        self.poller = select.poll()
        self.by_fd: dict[int, _Watched] = {}
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != hard:  # one socket per namespace, for as long as it lives
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    def _discover(self) -> nsfind.Discovery:
        if self.only is not None:
            found = nsfind.Discovery({}, procfs.ProcScan())
            found.add(self.only.inode, self.only.path, self.only.name)
            return found
        return nsfind.discover(fds=True, sockets=True, memory=self.memory)

    def _watch(self, spaces: list[nsfind.Found], announce: bool) -> list[dict[str, Any]]:
        events = []
        opened = netmon.open_in([f.paths[0] for f in spaces])
        for f, got in zip(spaces, opened, strict=True):
            if isinstance(got, OSError):
                self.warnings.append(f"cannot watch namespace {_ref(f) or '(host)'} (inode {f.inode}): {got.strerror or got}")
                continue
            sock, links = got
            w = self.watched[f.inode] = _Watched(f.inode, _ref(f), sock, {lk.index: lk.name for lk in links})
            self.poller.register(sock, select.POLLIN)  # poll, not select: fds past 1024 with 1000 namespaces
            self.by_fd[sock.fileno()] = w
            self._owners(w, f.owner_pids)
            if announce:
                events.append(self._event(w, "netns-add", None, {"devices": sorted(w.names.values())}))
        return events

    def _owners(self, w: _Watched, pids: list[int]) -> None:
        if self.resolver is not None and tuple(pids) != w.pids:
            w.pids = tuple(pids)
            w.owners = self.resolver.of_pids(pids) if w.ref is not None else ()

    def _event(self, w: _Watched, kind: str, device: str | None, extra: dict[str, Any]) -> dict[str, Any]:
        owner = dataclasses.asdict(w.owners[0]) if w.owners else None
        return {"time": _now(), "event": kind, "netns": w.ref, "netns_inode": w.inode, "owner": owner,
                "device": device, **extra}

    def _rescan(self) -> list[dict[str, Any]]:
        found = self._discover()
        try:
            return self._update(found.spaces)
        finally:
            found.close()  # namespaces held only by a socket: open until watched (the watch holds them then)

    def _update(self, spaces: dict[int, nsfind.Found]) -> list[dict[str, Any]]:
        events = []
        for inode in [i for i in self.watched if i not in spaces]:
            w = self.watched.pop(inode)
            self.poller.unregister(w.sock)
            del self.by_fd[w.sock.fileno()]
            w.sock.close()
            events.append(self._event(w, "netns-del", None, {}))
        for inode, f in spaces.items():
            if inode in self.watched:
                self._owners(self.watched[inode], f.owner_pids)
        new = [f for i, f in spaces.items() if i not in self.watched and f.paths]
        return events + (self._watch(new, announce=True) if new else [])

    def _changes(self, w: _Watched) -> list[dict[str, Any]]:
        changes, lost = netmon.read(w.sock)
        events = []
        if lost:
            self.warnings.append(f"notifications lost in namespace {w.ref or '(host)'} (receive buffer full)")
        for c in changes:
            name = c.link.name if c.link else w.names.get(c.ifindex)
            if c.what == "link":
                assert c.link is not None
                kind = "link-change" if c.new and c.ifindex in w.names else ("link-add" if c.new else "link-del")
                if c.new:
                    w.names[c.ifindex] = c.link.name
                else:
                    w.names.pop(c.ifindex, None)
                extra: dict[str, Any] = {"ifindex": c.ifindex, "kind": c.link.kind, "state": c.link.state, "mtu": c.link.mtu}
            elif c.what == "addr":
                kind, extra = ("addr-add" if c.new else "addr-del"), {"ifindex": c.ifindex, "address": c.address}
            else:
                kind = "route-add" if c.new else "route-del"
                extra = {"ifindex": c.ifindex or None, "dst": c.dst, "gateway": c.gateway}
            events.append(self._event(w, kind, name, extra))
        return events

    def events(self, stop: Callable[[], bool] | None = None,
               ready: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
        """Events as they happen (until stop() is true); ready(n) is called once the n namespaces found at start are watched."""
        found = self._discover()
        self._watch(list(found.spaces.values()), announce=False)
        found.close()
        if ready is not None:
            ready(len(self.watched))
        next_scan = time.monotonic() + POLL
        try:
            while stop is None or not stop():
                timeout = max(0.0, next_scan - time.monotonic())
                for fd, _ in self.poller.poll(timeout * 1000):
                    w = self.by_fd.get(fd)
                    if w is not None:
                        yield from self._changes(w)
                if time.monotonic() >= next_scan and self.only is None:
                    yield from self._rescan()
                    next_scan = time.monotonic() + POLL
                elif time.monotonic() >= next_scan:
                    next_scan = time.monotonic() + POLL
        finally:
            self.close()

    def close(self) -> None:
        """Close every socket and mount table."""
        for w in self.watched.values():
            self.poller.unregister(w.sock)
            w.sock.close()
        self.watched.clear()
        self.by_fd.clear()
        self.memory.mounts.close()
