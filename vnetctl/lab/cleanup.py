"""`vnetctl cleanup`: remove everything vnetctl owns on this host, by marker and state only.

Processes labs started (by pid + start time), namespaces recorded in state whose inode
still matches, devices carrying a `vnet-o-` marker in every namespace vnetctl recorded
or can see, and the labs' state. Nothing unmarked or unrecorded is ever touched.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from .. import state
from ..backend import netns as nsb
from ..backend import process as procb
from ..backend.privilege import require
from ..backend.procfs import netns_pids
from ..errors import IncompleteUndo, NotFound, VnetError
from ..ops.netns import drop_placeholder
from ..ownership import owner_of
from ..steps import Session, ip
from . import journal as jr
from . import paths
from .process import ProcessStart


@dataclass(frozen=True)
class Action:
    """One thing cleanup does (or, with dry_run, would do): `verb` a `target` named `name`."""

    what: str
    command: str
    run: Callable[[], None]
    verb: str = "delete"  # stop | delete | forget | remove
    target: str = "device"  # process | netns | netns-record | device | lab-state
    name: str = ""
    netns: str | None = None
    owner: str | None = None
    pid: int | None = None

    def line(self) -> str:
        """The action as a shell line with its description as a comment."""
        return f"{self.command}  # {self.what}"

    def to_json(self) -> dict[str, object]:
        """The documented JSON shape (docs/json.md)."""
        return {"action": self.verb, "object": self.target, "name": self.name, "netns": self.netns, "owner": self.owner,
                "pid": self.pid, "command": self.command, "description": self.what}


def _lab_dirs() -> list[str]:
    try:
        return sorted(n for n in os.listdir(paths.labs_dir()) if paths.valid_name(n))
    except FileNotFoundError:
        return []


def _process_actions() -> list[Action]:
    out = []
    for name in _lab_dirs():
        seen = set()
        for e in jr.replay(name):
            if not isinstance(e.step, ProcessStart) or e.undone:
                continue
            receipt = e.receipt
            if receipt is None:
                pid_file = os.path.join(paths.run_dir(name), f"{e.step.name}.pid")
                try:
                    with open(pid_file) as f:
                        receipt = json.load(f)
                except (OSError, ValueError):
                    continue
            pid, start = int(receipt["pid"]), receipt.get("start")
            if pid in seen or not procb.alive(pid, start):
                continue
            seen.add(pid)
            out.append(Action(f"stop process {e.step.name} of lab {name} (pid {pid})", f"kill {pid}",
                              partial(_stop, pid, start), "stop", "process", e.step.name, owner=name, pid=pid))
    return out


def _stop(pid: int, start: int | None) -> None:
    if not procb.stop(pid, start):
        raise VnetError(f"process {pid} did not stop")


def _netns_actions() -> list[Action]:
    out = []
    pids = netns_pids()
    for name, rec in state.owned_netns().items():
        try:
            ref = nsb.resolve(name)
        except (NotFound, VnetError):
            ref = None
        if ref is None or ref.inode != rec.get("inode"):
            out.append(Action(f"forget namespace record {name} (namespace gone or replaced)", f"# forget {name}",
                              partial(_forget, name), "forget", "netns-record", name, owner=rec.get("owner")))
            continue
        busy = f", pids {', '.join(map(str, pids[ref.inode][:5]))} inside" if pids.get(ref.inode) else ""
        out.append(Action(f"delete namespace {name} (owner {rec.get('owner')}{busy})",
                          shlex.join(["ip", "netns", "del", name]), partial(_del_netns, name, ref.inode),
                          "delete", "netns", name, owner=rec.get("owner")))
    return out


def _forget(name: str) -> None:
    """Drop the record; and the empty mount point a crash mid-creation or mid-deletion left, if that is all."""
    drop_placeholder(name)
    state.forget_netns(name)


def _del_netns(name: str, inode: int) -> None:
    still = netns_pids().get(inode, [])
    if still:
        raise VnetError(f"namespace {name!r} still has processes (pids {', '.join(map(str, still[:10]))})",
                        "stop them, then run 'vnetctl cleanup' again")
    nsb.delete(name)
    state.forget_netns(name)


def _device_actions(s: Session, skip_ns: set[str]) -> list[Action]:
    out = []
    specs: list[str | None] = [None]
    specs += [r.name for r in nsb.list_named() if r.name not in skip_ns]
    here = nsb.current_inode()
    named = {r.inode for r in nsb.list_named()}
    for inode, plist in sorted(netns_pids().items()):
        if inode != here and inode not in named:
            specs.append(f"pid:{plist[0]}")
    for spec in specs:
        try:
            links = s.nl(spec).links()
        except VnetError:
            continue
        for link in links:
            owner = owner_of(link.altnames)
            if owner is None:
                continue
            where = f" in namespace {spec}" if spec else ""
            out.append(Action(f"delete device {link.name}{where} (owner {owner})", ip(spec, "link", "del", link.name),
                              partial(_del_link, s, spec, link.index, link.name), "delete", "device", link.name, spec,
                              owner))
    return out


def _del_link(s: Session, spec: str | None, index: int, name: str) -> None:
    nl = s.nl(spec)
    current = nl.link_by_index(index)
    if current is None or current.name != name or owner_of(current.altnames) is None:
        return  # went with its peer or its namespace
    try:
        nl.del_link(index, name)
    except NotFound:
        pass


def cleanup(dry_run: bool = False) -> list[Action]:
    """Remove (or with dry_run list) everything vnetctl owns; returns what was (or would be) done."""
    if not dry_run:
        require(frozenset({"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}), "cleanup")
    done: list[Action] = []
    left: list[str] = []

    def run(actions: list[Action]) -> None:
        for a in actions:
            done.append(a)
            if dry_run:
                continue
            try:
                a.run()
            except VnetError as e:
                left.append(f"{a.what}: {e.line()}")

    locks: list[jr.LabLock] = []
    try:
        if not dry_run:  # a lab another vnetctl is bringing up or down is not torn out from under it
            for name in _lab_dirs():
                locks.append(jr.LabLock(name).acquire())
        run(_process_actions())
        ns_actions = _netns_actions()
        run(ns_actions)
        doomed = {name for name, _ in state.owned_netns().items()} if dry_run else set()
        with Session(256) as s:
            run(_device_actions(s, doomed))
        labs = [n for n in _lab_dirs() if set(os.listdir(paths.lab_dir(n))) - {jr.LOCK}]
        for name in labs:
            done.append(Action(f"state of lab {name}", f"rm -r {shlex.quote(paths.lab_dir(name))}", lambda: None, "remove",
                               "lab-state", name, owner=name))
            if not dry_run:
                jr.forget(name, keep_lock=True)
    finally:
        for lock in locks:
            lock.release()
    if left:
        raise IncompleteUndo(f"cleanup left {len(left)} thing(s): " + "; ".join(left), left)
    return done
