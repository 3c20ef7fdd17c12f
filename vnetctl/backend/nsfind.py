"""Every network namespace on the host, wherever it is held: one discovery for every command.

A namespace lives as long as something refers to it: a process (/proc/PID/ns/net), one
thread of a process (/proc/PID/task/TID/ns/net, after setns on that thread), a bind mount
(in our mount namespace, or in another one: /proc/PID/mountinfo of a process there, opened
through /proc/PID/root), an open nsfs fd, or only a socket created inside it (SIOCGSKNS).
Namespaces are deduplicated by nsfs inode; each keeps every path it can be opened by.
"""

from __future__ import annotations

import os
import select
from dataclasses import dataclass, field

from . import netns as nsb
from . import procfs


@dataclass(eq=False)
class Found:
    """One namespace: its name (if mounted under the run directory), paths to open it, pids, how it is held."""

    inode: int
    name: str | None = None
    paths: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    current: bool = False
    held: str | None = None  # without processes: "mount", "fd", "thread" or "socket" (and by whom)
    holder: int | None = None  # without processes: the pid whose thread, fd, socket or mount namespace holds it

    @property
    def owner_pids(self) -> list[int]:
        """The processes whose owner is the namespace's: those inside, else the one holding it."""
        return self.pids or ([self.holder] if self.holder else [])


@dataclass
class Discovery:
    """What one pass found, the /proc scan it came from, what it could not see, and fds it keeps open."""

    spaces: dict[int, Found]
    proc: procfs.ProcScan
    warnings: list[str] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)

    def add(self, inode: int, path: str, name: str | None = None, held: str | None = None, holder: int | None = None) -> Found:
        """Record that namespace `inode` can be opened by `path` (merged with what is known of it)."""
        ns = self.spaces.get(inode)
        if ns is None:
            ns = self.spaces[inode] = Found(inode, held=held, holder=holder)
        if name and not ns.name:
            ns.name = name
        if path not in ns.paths:
            ns.paths.append(path)
        return ns

    def close(self) -> None:
        """Close the namespace fds kept for namespaces held only by a socket."""
        for fd in self.kept:
            os.close(fd)
        self.kept.clear()


class MountTables:
    """The nsfs mounts of other mount namespaces, each table re-read only when it changes.

    An open /proc/PID/mountinfo reports POLLPRI after a mount or unmount in its namespace; one
    poll over all of them tells which to read again. Every `ip netns exec` process has a mount
    namespace of its own holding the host's whole table, so reading them all each pass would
    cost a monitor most of a CPU on a host of 1000 such processes. A table's fd is closed as
    soon as no process is left in its mount namespace (the fd would keep it, and the network
    namespaces mounted in it, alive).
    """

    def __init__(self) -> None:
        self.tables: dict[int, tuple[int, list[tuple[str, int]]]] = {}  # mount ns inode -> (fd, nsfs mounts)

    def scan(self, mount_ns: dict[int, int], here: int) -> list[tuple[int, list[tuple[str, int]]]]:
        """(pid, its namespace's nsfs mounts) for every mount namespace of `mount_ns` (inode -> a pid) but `here`."""
        for mnt in [m for m in self.tables if m not in mount_ns]:
            os.close(self.tables.pop(mnt)[0])
        poller = select.poll()
        for fd, _ in self.tables.values():
            poller.register(fd, select.POLLPRI)
        changed = {fd for fd, ev in poller.poll(0) if ev & (select.POLLPRI | select.POLLERR)}
        out = []
        for mnt, pid in mount_ns.items():
            if mnt == here:
                continue
            fd, mounts = self.tables.get(mnt, (-1, []))
            if fd < 0 or fd in changed:
                fd, mounts = self._read(pid, fd)
                if fd < 0:
                    continue
                self.tables[mnt] = (fd, mounts)
            out.append((pid, mounts))
        return out

    @staticmethod
    def _read(pid: int, fd: int) -> tuple[int, list[tuple[str, int]]]:
        try:
            if fd < 0:
                fd = os.open(f"/proc/{pid}/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
            os.lseek(fd, 0, os.SEEK_SET)  # reading it again from the start clears the change
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return fd, procfs.parse_nsfs(b"".join(chunks))
        except OSError:
            if fd >= 0:
                os.close(fd)
            return -1, []

    def close(self) -> None:
        """Close every table's fd."""
        for fd, _ in self.tables.values():
            os.close(fd)
        self.tables.clear()


@dataclass
class Memory:
    """What a caller that discovers again and again (a monitor) keeps between passes."""

    sockets: dict[int, int] = field(default_factory=dict)  # socket inode -> namespace inode (SIOCGSKNS asked once)
    mounts: MountTables = field(default_factory=MountTables)


def discover(fds: bool = True, sockets: bool = True, memory: Memory | None = None) -> Discovery:
    """Every namespace reachable from this host's /proc (with fds: also those held by an fd or a socket).

    With `memory`, kept by a caller that discovers again and again (a monitor): sockets already
    asked are not asked again (a namespace held only by such a socket is still listed, without a
    path: the caller already has it open), other mount namespaces' tables are read only when
    they change, and netlink sockets hold nothing (the caller's own subscriptions: two monitors
    would otherwise keep every namespace they watch alive for each other).
    """
    proc = procfs.scan(fds=fds)
    found = Discovery({}, proc)
    add = found.add
    add(nsb.current_inode(), "/proc/self/ns/net").current = True
    for ref in nsb.list_named():
        add(ref.inode, ref.path, ref.name)
    for path, inode in procfs.nsfs_mounts():
        add(inode, path, held=f"mount {path}")
    for inode, pids in proc.netns_pids.items():
        add(inode, f"/proc/{pids[0]}/ns/net").pids = sorted(pids)
    for pid, tid, inode in proc.thread_ns:
        add(inode, f"/proc/{pid}/task/{tid}/ns/net", held=f"thread {tid} of pid {pid}", holder=pid)
    for pid, fd, inode in proc.netns_fds:
        if inode not in found.spaces:
            add(inode, f"/proc/{pid}/fd/{fd}", held=f"fd {fd} of pid {pid}", holder=pid)
    here = os.stat("/proc/self/ns/mnt").st_ino
    if memory is not None:
        elsewhere = memory.mounts.scan(proc.mount_ns, here)
    else:
        elsewhere = [(pid, procfs.nsfs_mounts(pid, found.spaces.keys())) for mnt, pid in proc.mount_ns.items() if mnt != here]
    for pid, mounts in elsewhere:
        for path, inode in mounts:
            if inode not in found.spaces:
                add(inode, f"/proc/{pid}/root{path}", held=f"mount {path} in the mount namespace of pid {pid}", holder=pid)
    if sockets:
        _socket_held(found, memory.sockets if memory is not None else None)
    _warn(found)
    return found


def _socket_held(found: Discovery, seen: dict[int, int] | None) -> None:
    """Namespaces whose only reference is a socket: kept open through the fd SIOCGSKNS returns."""
    asked = dict(seen or {})
    if seen is not None:
        seen.clear()  # only the sockets alive now are remembered
    me = os.getpid()
    for pid, fd, sock in found.proc.socket_fds:
        if pid == me:
            continue  # our own sockets (a monitor's subscriptions) would keep every namespace it watches alive
        held = f"socket fd {fd} of pid {pid}"
        if sock in asked:
            inode = asked[sock]
            if inode and inode not in found.spaces:
                found.spaces[inode] = Found(inode, held=held, holder=pid)
        else:
            nsfd = procfs.socket_netns(pid, fd, netlink=seen is None)
            inode = os.fstat(nsfd).st_ino if nsfd is not None else 0  # 0: not to be asked again
            if nsfd is not None and inode in found.spaces:
                os.close(nsfd)
            elif nsfd is not None:
                found.kept.append(nsfd)
                found.add(inode, f"/proc/{os.getpid()}/fd/{nsfd}", held=held, holder=pid)
        if seen is not None:
            seen[sock] = inode


def _warn(found: Discovery) -> None:
    proc = found.proc
    if proc.hidden_ns:
        found.warnings.append(f"cannot see the network namespace of {len(proc.hidden_ns)} process(es) "
                              "(needs CAP_SYS_PTRACE or root): namespaces only they hold are missing")
    if proc.hidden_fds:
        found.warnings.append(f"cannot read the open files of {len(proc.hidden_fds)} process(es) (needs root): "
                              "tun/tap holders and namespaces held by an fd may be missing")
