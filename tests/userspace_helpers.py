"""Starting and stopping the tuntap programs as real processes in kernel tests."""

from __future__ import annotations

import json
import signal
import subprocess
from typing import Any

from tests.helpers import VNETCTL, ip_json, wait_for


def start(*args: str) -> subprocess.Popen[str]:
    """Start `vnetctl ARGS` in the background with stdout/stderr piped."""
    return subprocess.Popen(VNETCTL + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT, timeout: float = 10) -> tuple[int, str, str]:
    """Signal the program and collect (exit code, stdout, stderr)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def attached(dev: str, netns: str | None = None) -> bool:
    """True once a process holds tun/tap dev: `ip link` stops showing NO-CARRIER."""
    found = ip_json("link", "show", dev, netns=netns)
    return bool(found) and "NO-CARRIER" not in found[0]["flags"]


def wait_attached(proc: subprocess.Popen[str], dev: str, netns: str | None = None) -> None:
    """Wait until proc holds dev (or fail with its stderr if it died)."""
    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"program exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        return attached(dev, netns)

    wait_for(ready, timeout=15, what=f"a process attached to {dev}")


def tx_stats(dev: str, netns: str | None = None) -> dict[str, Any]:
    """`ip -s -j link show dev` TX counters (what the kernel queued to the program)."""
    return ip_json("-s", "link", "show", dev, netns=netns)[0]["stats64"]["tx"]


def json_lines(text: str) -> list[dict[str, Any]]:
    """Parse JSON Lines output."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
