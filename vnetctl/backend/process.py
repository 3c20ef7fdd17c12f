"""Processes vnetctl starts: spawn inside a namespace, identify by pid + start time, stop.

A pid alone can be reused by an unrelated process after the one we started exits, so a
process is always named by (pid, start time in clock ticks from /proc/PID/stat) and
signalled only after both still match. Nothing is ever killed by name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from ..errors import NotFound, PermissionDenied
from .netns import NsRef, call_in

TCP_LISTEN = "0A"


def set_name(name: str) -> None:
    """Name this process (its comm, at most 15 bytes), as ps, lsof and inspect holders show it."""
    import ctypes

    pr_set_name = 15
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_name, name.encode()[:15], 0, 0, 0)


def stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/PID/stat (after the command name), or None if the pid is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(")") + 2:].split()


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks after boot (field 22), None if it is gone."""
    fields = stat_fields(pid)
    return int(fields[19]) if fields else None


def alive(pid: int, start: int | None) -> bool:
    """True if the process (pid, start) is still running: same start time, not a zombie."""
    fields = stat_fields(pid)
    if not fields or fields[0] in ("Z", "X"):
        return False
    return start is None or int(fields[19]) == start


def spawn(argv: list[str], ns: NsRef | None, log_path: str, env: dict[str, str] | None = None,
          cwd: str | None = None) -> tuple[int, int]:
    """Start argv (no shell) in its own session, inside ns; output to a private log. Returns (pid, start)."""
    if ns is not None:
        if ns.name is None:
            argv = ["nsenter", f"--net={ns.path}", "--", *argv]
        else:
            argv = ["ip", "netns", "exec", ns.name, *argv]
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, close_fds=True,
                                start_new_session=True, env=env, cwd=cwd)
    except FileNotFoundError:
        raise NotFound(f"command {argv[0]!r} not found", "install it or give an absolute path in the lab's argv") from None
    except PermissionError:
        raise PermissionDenied(f"cannot run {argv[0]!r}", "check that it is executable") from None
    finally:
        os.close(fd)
    start = start_time(proc.pid)
    # The Popen object is dropped on purpose: the process outlives this one; reap() collects it if we stay.
    proc.returncode = 0
    return proc.pid, start if start is not None else 0


def reap(pid: int) -> None:
    """Collect the exit status of our own child, if it is one and has exited."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(pid: int, start: int | None, timeout: float = 5.0) -> bool:
    """SIGTERM the process (pid, start) and the process group it leads, wait up to timeout,
    then SIGKILL; True once all of them are gone."""
    group = _group_is_ours(pid, start)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        reap(pid)
        if not _running(pid, start, group):
            return True
        try:
            if group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        delay = 0.002
        while time.monotonic() < deadline:
            reap(pid)
            if not _running(pid, start, group):
                return True
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    reap(pid)
    return not _running(pid, start, group)


def _group_is_ours(pid: int, start: int | None) -> bool:
    """True if process group `pid` can only hold what (pid, start) started.

    spawn() makes each process the leader of its own session and group, so its children
    (a shell's background jobs, a daemon's workers) share the group id. A pid number stays
    taken while it names a live group, so a group `pid` with no process `pid` is still that one.
    """
    fields = stat_fields(pid)
    if fields is None:
        return True
    return (start is None or int(fields[19]) == start) and int(fields[2]) == pid


def _members(pgid: int) -> list[int]:
    """Live processes in process group pgid."""
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = stat_fields(int(entry.name))
            if fields and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
                out.append(int(entry.name))
    return out


def _running(pid: int, start: int | None, group: bool) -> bool:
    return alive(pid, start) or (group and bool(_members(pid)))


def listening(ns: NsRef | None, port: int, proto: str) -> bool:
    """True if a socket in ns listens on (tcp) or is bound to (udp) `port`."""
    def look() -> bool:
        for name in (proto, proto + "6"):
            try:
                with open(f"/proc/thread-self/net/{name}") as f:
                    lines = f.read().splitlines()[1:]
            except FileNotFoundError:
                continue
            for line in lines:
                cols = line.split()
                local, st = cols[1], cols[3]
                if int(local.rsplit(":", 1)[1], 16) == port and (proto == "udp" or st == TCP_LISTEN):
                    return True
        return False

    return call_in(ns, look)


def connects(ns: NsRef | None, host: str, port: int, timeout: float = 2.0) -> bool:
    """True if a TCP connection from inside ns to host:port is accepted."""
    import socket

    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = call_in(ns, lambda: socket.socket(fam, socket.SOCK_STREAM))
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        sock.close()
