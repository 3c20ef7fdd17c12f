"""Host settings of this namespace that decide whether lab traffic flows: net.* sysctls, the iptables FORWARD chain."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass


def sysctl(key: str) -> str | None:
    """A net.* sysctl of this namespace (e.g. net.ipv4.ip_forward), or None when it does not exist here."""
    try:
        with open("/proc/sys/" + key.replace(".", "/")) as f:
            return f.read().strip()
    except OSError:
        return None


@dataclass(frozen=True)
class Forward:
    """What `iptables -S` says of the filter table's FORWARD chain."""

    policy: str | None          # ACCEPT, DROP, ...; None when it could not be read
    docker_user: bool           # Docker's DOCKER-USER chain exists (where Docker wants local ACCEPT rules)
    error: str = ""             # why it could not be read


def forward(tool: str) -> Forward | None:
    """The FORWARD chain as `tool -S` (iptables or ip6tables) prints it; None when tool is not installed."""
    if shutil.which(tool) is None:
        return None
    try:
        proc = subprocess.run([tool, "-w", "5", "-S"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return Forward(None, False, str(e))
    if proc.returncode != 0:
        return Forward(None, False, (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1])
    policy, docker_user = None, False
    for line in proc.stdout.splitlines():
        words = line.split()
        if words[:2] == ["-P", "FORWARD"] and len(words) > 2:
            policy = words[2]
        docker_user = docker_user or words[:2] == ["-N", "DOCKER-USER"]
    return Forward(policy, docker_user)
