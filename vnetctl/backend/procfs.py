"""/proc scanning: which processes live in which network namespace."""

from __future__ import annotations

import os


def netns_pids() -> dict[int, list[int]]:
    """Map each network-namespace inode reachable through /proc/PID/ns/net to its pids."""
    out: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            ino = os.stat(f"/proc/{entry.name}/ns/net").st_ino
        except OSError:
            continue
        out.setdefault(ino, []).append(int(entry.name))
    return out


def comm(pid: int) -> str:
    """The command name of a process ('' if it is gone)."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""
