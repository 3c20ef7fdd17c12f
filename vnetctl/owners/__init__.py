"""Owners: which container, pod, VM, service or process a namespace or a tun/tap holder belongs to.

Read-only, from what runtimes already keep: /proc/PID/cgroup (scope names), the
runtimes' state files (Docker's config.v2.json, podman's container store, containerd's
and CRI-O's OCI annotations, LXC's config) and command lines (conmon, container shims,
QEMU, VPN daemons). One module per runtime family parses its documented format; this
module reads /proc and picks the parser. Roots can be moved (VNETCTL_OWNERS_ROOT) so tests
can feed fixtures built from those formats.
"""

from __future__ import annotations

import os

from ..backend import procfs
from ..model import Owner
from . import cgroup, cmdline, cri, docker, lxc, podman

SHIMS = ("containerd-shim-runc-v2", "containerd-shim-runc-v1", "containerd-shim", "docker-containerd-shim")
ANCESTORS = 4  # conmon or a shim is the parent of a container's first process; its children are a level or two below
PIDS_PER_NAMESPACE = 8


class Resolver:
    """Owners of processes, with every file read at most once per resolver."""

    def __init__(self, root: str | None = None) -> None:
        self.root = root if root is not None else os.environ.get("VNETCTL_OWNERS_ROOT", "/")
        self.docker = docker.Store(self._path("var/lib/docker"), self.root)
        self.cri = cri.Store(self.root)
        self._podman: dict[str, podman.Store] = {}
        self._pids: dict[int, Owner] = {}
        self._parent: dict[int, tuple[int | None, tuple[str, ...]]] = {}

    def _path(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    def podman_store(self, root: str | None = None) -> podman.Store:
        """The podman store at `root` (default: the system's)."""
        root = root or self._path(podman.DEFAULT_ROOTS[0].lstrip("/"))
        if root not in self._podman:
            self._podman[root] = podman.Store(root)
        return self._podman[root]

    def of_pid(self, pid: int) -> Owner:
        """The owner of process `pid` (a plain process when nothing tells more)."""
        found = self._pids.get(pid)
        if found is None:
            found = self._pids[pid] = self._resolve(pid)
        return found

    def of_pids(self, pids: list[int] | tuple[int, ...]) -> tuple[Owner, ...]:
        """The distinct owners of a namespace's processes (the first few pids), telling ones first."""
        found = list(dict.fromkeys(self.of_pid(p) for p in sorted(pids)[:PIDS_PER_NAMESPACE]))
        rich = [o for o in found if o.kind != "process"]
        return tuple(sorted(rich, key=lambda o: o.kind != "pod") if rich else found)

    def _resolve(self, pid: int) -> Owner:
        hint = cgroup.parse(cgroup.path_of(procfs.read_text(pid, "cgroup")))
        found = self._from_hint(hint)
        if found is not None:
            return found
        argv = procfs.cmdline(pid)
        found = cmdline.owner(argv) or self._from_ancestors(pid)
        if found is not None:
            return found
        if hint.kind != "process":
            return Owner(hint.kind, hint.runtime, None, hint.id)
        return Owner("process", None, hint.path if hint.path != "/" else None, procfs.comm(pid) or None)

    def _from_hint(self, hint: cgroup.Hint) -> Owner | None:
        if hint.id is None:
            return None
        if hint.runtime == "docker":
            return self.docker.owner(hint.id) or Owner("container", "docker", hint.id)
        if hint.runtime == "podman":
            return self.podman_store().owner(hint.id) if hint.kind != "pod" else None
        if hint.runtime in ("containerd", "cri-o", None):
            return self.cri.owner(hint.id, hint.runtime) or Owner("container", hint.runtime, hint.id)
        if hint.runtime == "lxc" and hint.kind == "container":
            return lxc.owner(hint.id, self.root)
        if hint.kind in ("vm", "container"):
            return Owner(hint.kind, hint.runtime, None, hint.id)
        return None

    def _from_ancestors(self, pid: int) -> Owner | None:
        """A container found through its supervisor: conmon (podman, CRI-O) or a containerd shim."""
        current: int | None = pid
        for _ in range(ANCESTORS):
            if current is None or current <= 1:
                return None
            if current not in self._parent:
                self._parent[current] = (procfs.ppid(current), ())
            parent = self._parent[current][0]
            if parent is None or parent <= 1:
                return None
            argv = self._argv(parent)
            found = self._from_supervisor(argv)
            if found is not None:
                return found
            current = parent
        return None

    def _argv(self, pid: int) -> tuple[str, ...]:
        ppid, argv = self._parent.get(pid, (None, ()))
        if not argv:
            argv = procfs.cmdline(pid)
            self._parent[pid] = (ppid if pid in self._parent else procfs.ppid(pid), argv)
        return argv

    def _from_supervisor(self, argv: tuple[str, ...]) -> Owner | None:
        mon = cmdline.conmon(argv)
        if mon is not None:
            cid, name, bundle = mon
            if cid is None:
                return None
            crio = self.cri.owner(cid, "cri-o")
            if crio is not None:
                return crio
            store = self.podman_store(podman.root_of_bundle(bundle))
            return store.owner(cid, name)
        if cmdline.program(argv) in SHIMS:
            cid, space = cmdline.option(argv, "-id"), cmdline.option(argv, "-namespace")
            if cid is None:
                return None
            if space == "moby":
                return self.docker.owner(cid) or Owner("container", "docker", cid)
            return self.cri.owner(cid, "containerd") or Owner("container", "containerd", cid)
        return None


def describe(owner: Owner) -> str:
    """An owner as words: `web (podman)`, `kube-system/coredns-x (pod)`, `vm web-vm (qemu)`."""
    if owner.kind == "pod":
        name = f"{owner.pod_namespace}/{owner.name}" if owner.pod_namespace else owner.name or (owner.id or "?")[:12]
        return f"{name} (pod)"
    if owner.kind == "vm":
        return f"vm {owner.name or '?'} ({owner.runtime or 'vm'})"
    name = owner.name or (owner.id or "?")[:12]
    if owner.kind == "process":
        return f"{name} (process)"
    return f"{name} ({owner.runtime})" if owner.runtime else name
