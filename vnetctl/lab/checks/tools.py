"""What the check runners share: running a tool, reading a child's lines, waiting, asking inspect."""

from __future__ import annotations

import os
import re
import select
import subprocess
import time
from collections.abc import Callable
from typing import Any

from ...errors import VnetError
from ...tools import TOOLS as ALL_TOOLS

TOOLS = {program: package for program, (package, _) in ALL_TOOLS.items()}   # program -> Debian package


def in_ns(netns: str | None, argv: list[str]) -> list[str]:
    """argv run inside a named namespace (as `ip netns exec` does), or here."""
    return (["ip", "netns", "exec", netns] if netns else []) + argv


def ping_argv(a: dict[str, Any]) -> list[str]:
    """ping's argv for a ping check's arguments."""
    return ["ping", "-c", str(a["count"]), "-i", "0.2", "-W", str(a["timeout"]), a["to"]]


def tool(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a tool; VnetError naming its package if missing."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise VnetError(f"{argv[0]} is not installed", f"install the Debian package {TOOLS.get(argv[0], argv[0])}") from None


def flush_neighbours(namespaces: list[str], batch: int = 32) -> None:
    """Empty the neighbour (ARP/NDP) caches of these namespaces, a batch of `ip -n NS neigh flush all` at a time."""
    for i in range(0, len(namespaces), batch):
        procs = [subprocess.Popen(["ip", "-n", ns, "neigh", "flush", "all"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for ns in namespaces[i:i + batch]]
        for p in procs:
            p.wait(timeout=10)


def matched_in_order(lines: list[str], patterns: list[re.Pattern[str]]) -> int:
    """How many of patterns match lines, in order."""
    k = 0
    for line in lines:
        if k < len(patterns) and patterns[k].search(line):
            k += 1
    return k


def read_until(proc: subprocess.Popen[str], lines: list[str], pattern: re.Pattern[str] | None, timeout: float,
                stream: str = "stdout", ordered: list[re.Pattern[str]] | None = None) -> str | None:
    """Read a child's lines until pattern matches (its group 1, or the line) or ordered all match."""
    f = proc.stdout if stream == "stdout" else proc.stderr
    assert f is not None
    deadline = time.monotonic() + timeout
    buf = ""
    fd = f.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], max(0.0, min(0.2, deadline - time.monotonic())))
        if not r:
            continue
        chunk = os.read(fd, 65536).decode(errors="replace")
        if not chunk:
            return None
        buf += chunk
        *done, buf = buf.split("\n")
        for line in done:
            lines.append(line)
            if pattern is not None:
                m = pattern.search(line)
                if m:
                    return m.group(1) if m.groups() else line
        if ordered is not None and matched_in_order(lines, ordered) == len(ordered):
            return "matched"
    return None


def read_from(path: str, offset: int) -> str:
    """A file's text from offset on ('' if unreadable)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def tail(text: str) -> str:
    """The last two non-empty lines, joined."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[-2:]) or "nothing"


def inspect_device(dev: str, netns: str | None) -> Any:
    """The device as inspect sees it."""
    try:
        from ... import discovery
    except ImportError:
        raise VnetError("vnetctl.discovery is not available", "this check needs the discovery module") from None
    return discovery.device(dev, netns)


def read(path: str) -> str:
    """A file's text ('' if unreadable)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def wait(cond: Callable[[], bool], timeout: float) -> bool:
    """Poll cond until true or timeout; True if it became true."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
