"""`-n docker:NAME`, `podman:NAME`, `pod:NAMESPACE/NAME`, `container:NAME`: a namespace found by its owner."""

from __future__ import annotations

import os

from ..backend import procfs
from ..errors import NotFound, UsageError
from ..model import Owner
from . import Resolver, describe, docker


def matches(form: str, wanted: str, owner: Owner) -> bool:
    """True if `owner` is what `form:wanted` asks for (a name, or a container id prefix of 4+ digits)."""
    if form == "pod":
        space, _, name = wanted.rpartition("/")
        return owner.pod == name and (owner.pod_namespace or "") == space
    if owner.kind not in ("container", "pod") or (form != "container" and owner.runtime != form):
        return False
    return owner.name == wanted or (len(wanted) >= 4 and (owner.id or "").startswith(wanted))


def locate(spec: str) -> tuple[str, int, Owner]:
    """(nsfs path, inode, owner) of the one namespace `spec` names; NotFound or UsageError (ambiguous) otherwise."""
    form, _, wanted = spec.partition(":")
    resolver = Resolver()
    found: dict[int, tuple[str, Owner]] = {}
    if form in ("docker", "container"):
        for data in resolver.docker.all():
            pid = docker.running_pid(data)
            owner = docker.parse(data)
            if pid and matches(form, wanted, owner):
                path = f"/proc/{pid}/ns/net"
                try:
                    found.setdefault(os.stat(path).st_ino, (path, owner))
                except OSError:
                    continue
    for inode, pids in procfs.netns_pids().items():
        if inode in found:
            continue
        for pid in sorted(pids):
            owner = resolver.of_pid(pid)
            if matches(form, wanted, owner):
                found[inode] = (f"/proc/{pid}/ns/net", owner)
                break
    if not found:
        what = {"pod": "pod", "container": "container"}.get(form, f"{form} container")
        raise NotFound(f"no running {what} {wanted!r} found", "see the owners in 'vnetctl inspect'")
    if len(found) > 1:
        names = ", ".join(sorted(f"{describe(o)} in {p}" for p, o in found.values()))
        raise UsageError(f"{spec!r} names {len(found)} namespaces: {names}", "give a container id (prefix) instead of the name")
    inode, (path, owner) = next(iter(found.items()))
    return path, inode, owner
