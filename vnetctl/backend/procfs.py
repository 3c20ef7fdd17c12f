"""/proc scanning: which processes live in which network namespace, and what they hold open."""

from __future__ import annotations

import ctypes
import os
import re
import socket
import stat
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

TUN_DEV = "/dev/net/tun"
TUN_RDEV = os.makedev(10, 200)  # the tun clone device, whatever the path of its node (slirp4netns, a mknod'ed copy)
TUNGETIFF = 0x800454D2  # _IOR('T', 210, unsigned int): the device's name; /dev/tapN answers it too
TUNGETDEVNETNS = 0x54E3  # _IO('T', 227): an fd of the namespace the tun device lives in now
SIOCGSKNS = 0x894C  # an fd of the network namespace a socket belongs to
SYS_PIDFD_GETFD = 438
# a mountinfo line of an nsfs mount of a network namespace: ID PARENT MAJ:MIN net:[INODE] MOUNTPOINT ... - nsfs ...
_NSFS_LINE = re.compile(rb"^\d+ \d+ \d+:\d+ net:\[(\d+)\] (\S+) [^\n]*? - nsfs ", re.M)
_NET_ROOT = re.compile(rb" net:\[(\d+)\] ")
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class ProcScan:
    """One pass over /proc: namespaces by pid, /dev/net/tun fds, nsfs fds, what was unreadable."""

    netns_pids: dict[int, list[int]] = field(default_factory=dict)
    tun_fds: list[tuple[int, int]] = field(default_factory=list)
    tap_fds: list[tuple[int, int]] = field(default_factory=list)
    netns_fds: list[tuple[int, int, int]] = field(default_factory=list)
    hidden_ns: list[int] = field(default_factory=list)
    hidden_fds: list[int] = field(default_factory=list)
    thread_ns: list[tuple[int, int, int]] = field(default_factory=list)
    mount_ns: dict[int, int] = field(default_factory=dict)
    socket_fds: list[tuple[int, int, int]] = field(default_factory=list)  # (pid, fd, socket inode)


def netns_pids() -> dict[int, list[int]]:
    """Map each network-namespace inode to the pids in it (a process counts where any of its threads is)."""
    proc = scan(fds=False)
    out = {ino: list(pids) for ino, pids in proc.netns_pids.items()}
    for pid, _, ino in proc.thread_ns:
        if pid not in out.setdefault(ino, []):
            out[ino].append(pid)
    return out


def scan(fds: bool = True) -> ProcScan:
    """Every process's network namespace and (with fds) its /dev/net/tun and nsfs descriptors."""
    out = ProcScan()
    tap_major = char_major("macvtap") if fds else None
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            ino = os.stat(f"/proc/{pid}/ns/net").st_ino
            out.netns_pids.setdefault(ino, []).append(pid)
        except FileNotFoundError:
            continue
        except PermissionError:
            out.hidden_ns.append(pid)
            ino = 0
        except OSError:
            continue
        if ino:
            _scan_threads(pid, ino, out)
            try:
                out.mount_ns.setdefault(os.stat(f"/proc/{pid}/ns/mnt").st_ino, pid)
            except OSError:
                pass
        if fds:
            _scan_fds(pid, out, tap_major)
    return out


def _scan_threads(pid: int, ino: int, out: ProcScan) -> None:
    """Threads that entered another network namespace than their process's (setns on one thread)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    if len(tids) < 2:
        return
    for tid in tids:
        if tid == str(pid):
            continue
        try:
            tino = os.stat(f"/proc/{pid}/task/{tid}/ns/net").st_ino
        except OSError:
            continue
        if tino != ino:
            out.thread_ns.append((pid, int(tid), tino))


def _scan_fds(pid: int, out: ProcScan, tap_major: int | None = None) -> None:
    base = f"/proc/{pid}/fd"
    try:
        names = os.listdir(base)
    except PermissionError:
        out.hidden_fds.append(pid)
        return
    except OSError:
        return
    for name in names:
        try:
            target = os.readlink(f"{base}/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.socket_fds.append((pid, int(name), int(target[8:-1])))
        elif target.startswith("net:["):
            out.netns_fds.append((pid, int(name), int(target[5:-1])))
        elif target.startswith("/"):
            rdev = _char_rdev(f"{base}/{name}")
            if rdev == TUN_RDEV:
                out.tun_fds.append((pid, int(name)))
            elif rdev is not None and tap_major is not None and os.major(rdev) == tap_major:
                out.tap_fds.append((pid, int(name)))  # a macvtap's /dev/tapN, wherever its node was made


def _char_rdev(fd_path: str) -> int | None:
    """The device number of the character device an fd is open on (tun is 10:200), by number, not by path."""
    try:
        st = os.stat(fd_path)
    except OSError:
        return None
    return st.st_rdev if stat.S_ISCHR(st.st_mode) else None


def char_major(driver: str) -> int | None:
    """The major number of a character-device driver (/proc/devices), None if it is not loaded."""
    try:
        with open("/proc/devices") as f:
            for line in f:
                words = line.split()
                if len(words) == 2 and words[1] == driver and words[0].isdigit():
                    return int(words[0])
    except OSError:
        return None
    return None


def tap_iff(pid: int, fd: int) -> str | None:
    """The macvtap device behind a process's /dev/tapN fd (TUNGETIFF on a borrowed copy), or None."""
    ifr = _borrow(pid, fd, TUNGETIFF, bytes(40))
    return ifr[:16].split(b"\0", 1)[0].decode(errors="replace") or None if isinstance(ifr, bytes) else None


def tun_iff(pid: int, fd: int) -> str | None:
    """The device a /dev/net/tun fd is attached to (the `iff:` line of its fdinfo), or None."""
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as f:
            for line in f:
                if line.startswith("iff:"):
                    return line[4:].strip() or None
    except OSError:
        return None
    return None


def tun_device_netns(pid: int, fd: int) -> int | None:
    """The nsfs inode of the namespace the tun device behind a process's fd lives in, or None.

    Borrows a copy of the fd (pidfd_getfd) and asks the tun driver (TUNGETDEVNETNS); the
    copy is closed at once, so the device and the holder are untouched. None when the
    kernel or our privileges do not allow it.
    """
    nsfd = _borrow(pid, fd, TUNGETDEVNETNS)
    if nsfd is None:
        return None
    try:
        return os.fstat(nsfd).st_ino
    finally:
        os.close(nsfd)


def _borrow(pid: int, fd: int, request: int, arg: bytes | None = None, skip_netlink: bool = False) -> Any:
    """What the ioctl `request` (with arg) returns on a copy of another process's fd (pidfd_getfd), or None.

    With skip_netlink, None for a netlink socket too (without asking it).
    """
    import fcntl

    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return None
    try:
        dup = _libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if dup < 0:
            return None
        try:
            if skip_netlink and _domain(dup) == socket.AF_NETLINK:
                return None
            return fcntl.ioctl(dup, request) if arg is None else fcntl.ioctl(dup, request, arg)
        except OSError:
            return None
        finally:
            os.close(dup)
    finally:
        os.close(pidfd)


def _domain(fd: int) -> int:
    """The address family of socket `fd` (SO_DOMAIN); the fd stays open."""
    sock = socket.socket(fileno=fd)
    try:
        return int(sock.family)
    finally:
        sock.detach()


def socket_netns(pid: int, fd: int, netlink: bool = True) -> int | None:
    """An fd (ours, to close) of the network namespace a process's socket belongs to (SIOCGSKNS), or None.

    Without `netlink`, a netlink socket gives None: another monitor's subscriptions are no holders.
    """
    return _borrow(pid, fd, SIOCGSKNS, skip_netlink=not netlink)


def nsfs_mounts(pid: str | int = "self", known: AbstractSet[int] = frozenset()) -> list[tuple[str, int]]:
    """Network-namespace bind mounts in the mount namespace of process `pid` (default ours): (mount point, inode).

    Mounts of namespaces in `known` are left out. Every `ip netns exec` process has a mount
    namespace of its own holding the host's whole mount table: the file is searched with
    regexes, and its lines taken apart only when it mounts a namespace not known yet.
    """
    try:
        with open(f"/proc/{pid}/mountinfo", "rb") as f:
            return parse_nsfs(f.read(), known)
    except OSError:
        return []


def parse_nsfs(data: bytes, known: AbstractSet[int] = frozenset()) -> list[tuple[str, int]]:
    """The (mount point, inode) of each network-namespace mount in mountinfo bytes, but those of `known` inodes."""
    if known and not {int(i) for i in _NET_ROOT.findall(data)} - known:
        return []
    found = ((m[1].decode(errors="surrogateescape"), int(m[0])) for m in _NSFS_LINE.findall(data))
    return [(_unescape(path), inode) for path, inode in found if inode not in known]


def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \\ooo octal
    if "\\" not in path:
        return path
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and i + 3 < len(path) and path[i + 1:i + 4].isdigit():
            out.append(chr(int(path[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def comm(pid: int) -> str:
    """The command name of a process ('' if it is gone)."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def read_text(pid: int, name: str) -> str:
    """/proc/PID/<name> as text ('' if the process is gone or the file unreadable)."""
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def cmdline(pid: int) -> tuple[str, ...]:
    """A process's argv (empty for a kernel thread or a process that is gone)."""
    raw = read_text(pid, "cmdline")
    return tuple(raw.rstrip("\0").split("\0")) if raw else ()


def ppid(pid: int) -> int | None:
    """A process's parent pid, or None if it is gone."""
    stat = read_text(pid, "stat")
    try:
        return int(stat[stat.rindex(")") + 2:].split()[1])
    except (ValueError, IndexError):
        return None


def pids_of(program: str) -> list[int]:
    """The pids whose command name is `program` (a daemon found by name, e.g. dockerd)."""
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and comm(int(entry.name)) == program:
            out.append(int(entry.name))
    return sorted(out)
