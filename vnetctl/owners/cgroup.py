"""What a cgroup path says about a process: the scope names runtimes, libvirt and systemd give it.

Pure parsing of /proc/PID/cgroup text; no file is read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEX = r"[0-9a-f]{64}"
_SCOPES: list[tuple[re.Pattern[str], str, str]] = [
    # (pattern on one path component, runtime, kind); the id is group 1
    (re.compile(rf"^docker-({HEX})\.scope$"), "docker", "container"),
    (re.compile(rf"^libpod-conmon-({HEX})\.scope$"), "podman", "conmon"),
    (re.compile(rf"^libpod-({HEX})(?:\.scope)?$"), "podman", "container"),
    (re.compile(rf"^(?:machine-)?libpod_pod_({HEX})\.slice$"), "podman", "pod"),
    (re.compile(rf"^cri-containerd-({HEX})\.scope$"), "containerd", "container"),
    (re.compile(rf"^crio-conmon-({HEX})\.scope$"), "cri-o", "conmon"),
    (re.compile(rf"^crio-({HEX})(?:\.scope)?$"), "cri-o", "container"),
    (re.compile(r"^lxc\.payload[.:](.+)$"), "lxc", "container"),
    (re.compile(r"^lxc\.monitor[.:](.+)$"), "lxc", "monitor"),
    (re.compile(r"^machine-qemu-\d+-(.+)\.scope$"), "qemu", "vm"),
    (re.compile(r"^qemu-\d+-(.+)\.libvirt-qemu$"), "qemu", "vm"),
    (re.compile(r"^machine-(.+)\.scope$"), "nspawn", "container"),
]
_PARENTS = {"docker": ("docker", "container"), "lxc": ("lxc", "container"), "libpod_parent": ("podman", "container")}
_BARE_ID = re.compile(rf"^{HEX}$")
_SERVICE = re.compile(r"^(.+\.service)$")


@dataclass(frozen=True)
class Hint:
    """What the cgroup path tells: runtime, kind, id (a container id or a name) and the path itself."""

    path: str
    runtime: str | None = None
    kind: str = "process"
    id: str | None = None


def unescape(name: str) -> str:
    """Undo systemd's unit-name escaping (\\x2d is '-')."""
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), name)


def path_of(text: str) -> str:
    """The most telling cgroup path of /proc/PID/cgroup text: cgroup v2's, else systemd's, else any controller's."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            paths[parts[1]] = parts[2]
    for key in ("", "name=systemd"):
        if paths.get(key, "/") != "/":
            return paths[key]
    return next((p for p in paths.values() if p != "/"), "/")


def parse(path: str) -> Hint:
    """The runtime, kind and id a cgroup path names (deepest telling component wins)."""
    parts = [unescape(p) for p in path.split("/") if p]
    for i in range(len(parts) - 1, -1, -1):
        comp = parts[i]
        for pattern, runtime, kind in _SCOPES:
            m = pattern.match(comp)
            if m:
                return Hint(path, runtime, kind, m.group(1))
        parent = parts[i - 1] if i else ""
        if parent in _PARENTS and (_BARE_ID.match(comp) or parent == "lxc"):
            runtime, kind = _PARENTS[parent]
            return Hint(path, runtime, kind, comp.removeprefix("libpod-"))
        if _BARE_ID.match(comp) and any(p.startswith("kubepods") for p in parts[:i]):
            return Hint(path, None, "container", comp)  # containerd or CRI-O under cgroupfs: the stores tell which
    for comp in reversed(parts):
        m = _SERVICE.match(comp)
        if m:
            return Hint(path, "systemd", "service", m.group(1))
    return Hint(path)
