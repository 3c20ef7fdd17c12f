"""`vnetctl cleanup`: remove what labs left on this host, by journal, marker and state only.

First each lab's journal is undone as `lab down` would (processes stopped, sysctls restored,
devices and namespaces removed); then what is still there is swept: processes labs started
(by pid + start time), namespaces recorded in state whose netns cookie still matches, devices
carrying a `vnet-o-` marker in every namespace vnetctl recorded or can see. Objects made by
plain CLI commands (owner `cli`) are only touched when asked (`--all`, `--owner cli`).
Nothing unmarked or unrecorded is ever touched, and while any lab is being changed cleanup
does not run (75, naming the pid).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from .. import state
from ..backend import netns as nsb
from ..backend import process as procb
from ..backend.privilege import require
from ..backend.procfs import netns_pids
from ..errors import IncompleteUndo, NotFound, VnetError
from ..ops.netns import drop_placeholder, is_ours
from ..ownership import CLI_OWNER, PLAN_OWNER, owner_of, plan_owner
from ..steps import Session, ip
from . import journal as jr
from . import paths, plancopy
from .process import ProcessStart
from .teardown import undo_journal

Wanted = Callable[[str | None], bool]


def scope(owner: str | None = None, all_: bool = False) -> Wanted:
    """Which owners cleanup touches: one (`owner`), every one (`all_`), or by default every lab's but not the CLI's."""
    if owner is not None:
        return lambda o: o == owner
    if all_:
        return lambda o: o is not None
    return lambda o: o is not None and o != CLI_OWNER and not o.startswith(PLAN_OWNER)


@dataclass(frozen=True)
class Action:
    """One thing cleanup does (or, with dry_run, would do): `verb` a `target` named `name`."""

    what: str
    command: str
    run: Callable[[], None]
    verb: str = "delete"  # stop | delete | forget | remove | undo
    target: str = "device"  # process | netns | netns-record | device | lab-state | plan-state | lab | lab-record
    name: str = ""
    netns: str | None = None
    owner: str | None = None
    pid: int | None = None
    host: str | None = None  # a host of a lab across hosts; None: this one

    def line(self) -> str:
        """The action as a shell line with its description as a comment."""
        return f"{self.command}  # {f'on host {self.host}: ' if self.host else ''}{self.what}"

    def to_json(self) -> dict[str, object]:
        """The documented JSON shape (docs/json.md)."""
        return {"action": self.verb, "object": self.target, "name": self.name, "netns": self.netns, "owner": self.owner,
                "pid": self.pid, "command": self.command, "description": self.what,
                "host": self.host}


def _lab_dirs() -> list[str]:
    try:
        return sorted(n for n in os.listdir(paths.labs_dir()) if paths.valid_name(n))
    except FileNotFoundError:
        return []


def _process_actions(wanted: Wanted) -> list[Action]:
    out = []
    for name in filter(wanted, _lab_dirs()):
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


def _netns_actions(wanted: Wanted, skipped: list[str], damaged: list[str]) -> list[Action]:
    out = []
    pids = netns_pids()
    for name, rec in state.owned_netns(damaged).items():
        if not wanted(rec.get("owner")):
            skipped.append(f"namespace {name} (owner {rec.get('owner')})")
            continue
        try:
            ref = nsb.resolve(name)
        except (NotFound, VnetError):
            ref = None
        if ref is None or not is_ours(ref, rec):
            out.append(Action(f"forget namespace record {name} (namespace gone or replaced)", f"# forget {name}",
                              partial(_forget, name), "forget", "netns-record", name, owner=rec.get("owner")))
            continue
        busy = f", pids {', '.join(map(str, pids[ref.inode][:5]))} inside" if pids.get(ref.inode) else ""
        out.append(Action(f"delete namespace {name} (owner {rec.get('owner')}{busy})",
                          shlex.join(["ip", "netns", "del", name]), partial(_del_netns, name, ref.inode),
                          "delete", "netns", name, owner=rec.get("owner")))
    return out


def _plan_actions(wanted: Wanted, skipped: list[str]) -> list[Action]:
    """What `lab plan` scripts made, when in scope: their processes (pid and start time), their namespaces (same inode)."""
    out = []
    for lab in plancopy.names():
        owner = plan_owner(lab)
        if not wanted(owner):
            skipped.append(f"what the plan script of lab {lab} made (owner {owner})")
            continue
        for p in plancopy.processes(lab):
            if p["running"]:
                out.append(Action(f"stop process {p['name']} of lab {lab}'s plan script (pid {p['pid']})", f"kill {p['pid']}",
                                  partial(_stop, p["pid"], p["start"]), "stop", "process", p["name"], owner=owner, pid=p["pid"]))
        inodes = dict(plancopy.namespaces(lab))
        for name in plancopy.alive_namespaces(lab):
            out.append(Action(f"delete namespace {name} (owner {owner})", shlex.join(["ip", "netns", "del", name]),
                              partial(_del_netns, name, inodes[name]), "delete", "netns", name, owner=owner))
    return out


def _forget_plans(wanted: Wanted, dry_run: bool) -> list[Action]:
    """Drop the records of the plan scripts whose copies were removed."""
    out = []
    for lab in plancopy.names():
        if wanted(plan_owner(lab)):
            out.append(Action(f"record of lab {lab}'s plan script", f"rm -r {shlex.quote(paths.plan_dir(lab))}", lambda: None,
                              "remove", "plan-state", lab, owner=plan_owner(lab)))
            if not dry_run:
                shutil.rmtree(paths.plan_dir(lab), ignore_errors=True)
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


def _device_actions(s: Session, skip_ns: set[str], wanted: Wanted, skipped: list[str]) -> list[Action]:
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
            where = f" in namespace {spec}" if spec else ""
            if owner is None:
                continue
            if not wanted(owner):
                skipped.append(f"device {link.name}{where} (owner {owner})")
                continue
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


def cleanup(dry_run: bool = False, owner: str | None = None, all_: bool = False,
            warnings: list[str] | None = None, here: bool = False) -> list[Action]:
    """Remove (or with dry_run list) what labs left; with all_ or owner also what CLI commands made.

    Returns what was (or would be) done; what the scope leaves and what cannot be proven
    vnetctl's is named in `warnings`. Labs across hosts this host controls are cleaned on
    each of their hosts too, unless `here`.
    """
    if not dry_run:
        require(frozenset({"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}), "cleanup")
    wanted = scope(owner, all_)
    warnings = [] if warnings is None else warnings
    done: list[Action] = []
    left: list[str] = []
    outer = None if dry_run else jr.CleanupLock(exclusive=True).acquire()  # no lab changes meanwhile, 75 otherwise
    locks: list[jr.LabLock] = []
    try:
        for name in [] if dry_run else _lab_dirs():
            locks.append(jr.LabLock(name, by_cleanup=True).acquire())
        _clean_here(wanted, owner, dry_run, done, left, warnings)
    finally:
        for lock in locks:
            lock.release()
        if outer is not None:
            outer.release()
    if not here:
        from ..remote.cleanup import cleanup_hosts
        done += cleanup_hosts(wanted, dry_run, warnings, left)
    if left:
        raise IncompleteUndo(f"cleanup left {len(left)} thing(s): " + "; ".join(left), left)
    return done


def _clean_here(wanted: Wanted, owner: str | None, dry_run: bool, done: list[Action], left: list[str],
                warnings: list[str]) -> None:
    """cleanup on this host, under its locks: labs' journals, then processes, namespaces, plan copies, devices."""
    def run(actions: list[Action]) -> None:
        for a in actions:
            done.append(a)
            if dry_run:
                continue
            try:
                a.run()
            except VnetError as e:
                left.append(f"{a.what}: {e.line()}")

    kept = _undo_labs(wanted, dry_run, done, left, warnings)
    skipped: list[str] = []
    run(_process_actions(wanted))
    damaged: list[str] = []
    run(_netns_actions(wanted, skipped, damaged))
    run(_plan_actions(wanted, skipped))
    doomed = {n for n, rec in state.owned_netns().items() if wanted(rec.get("owner"))} if dry_run else set()
    if dry_run:
        doomed |= {n for lab in plancopy.names() if wanted(plan_owner(lab)) for n in plancopy.alive_namespaces(lab)}
    with Session(256) as s:
        run(_device_actions(s, doomed, wanted, skipped))
    warnings += [f"{d}; skipped" for d in damaged]
    if skipped:
        why = "other owners" if owner is not None else \
            "made by plain vnetctl commands or 'lab plan' scripts; --all, --owner cli or --owner plan:LAB removes them"
        warnings.append(f"left ({why}): " + ", ".join(skipped))
    done += _forget_labs([n for n in _lab_dirs() if wanted(n) and n not in kept], dry_run)
    if not left:
        done += _forget_plans(wanted, dry_run)


def _forget_labs(names: list[str], dry_run: bool) -> list[Action]:
    """Drop the state of labs whose objects are gone (the lock file stays, as a lab's does)."""
    out = []
    for name in names:
        if set(os.listdir(paths.lab_dir(name))) - {jr.LOCK}:
            out.append(Action(f"state of lab {name}", f"rm -r {shlex.quote(paths.lab_dir(name))}", lambda: None, "remove",
                              "lab-state", name, owner=name))
            if not dry_run:
                jr.forget(name, keep_lock=True)
    return out


def _undo_labs(wanted: Wanted, dry_run: bool, done: list[Action], left: list[str], warnings: list[str]) -> set[str]:
    """Undo each wanted lab's journal as `lab down` does; return the labs whose state must stay (not all undone)."""
    kept: set[str] = set()
    for name in filter(wanted, _lab_dirs()):
        if not os.path.exists(os.path.join(paths.lab_dir(name), jr.JOURNAL)):
            continue
        meta = jr.read_meta(name) or {}
        done.append(Action(f"undo lab {name}'s journal ({jr.status_of(meta)})", f"vnetctl lab down {shlex.quote(name)}",
                           lambda: None, "undo", "lab", name, owner=name))
        if dry_run:
            continue
        if meta.get("damaged"):
            warnings.append(f"{meta['damaged']}; going by the journal")
        _, undone_left, damaged = undo_journal(name, warnings)
        warnings += [f"lab {name}: {d}: what it did is unknown; removed what carries the lab's marker" for d in damaged]
        if undone_left:
            kept.add(name)  # never forget the record of something not yet undone
            left += [f"lab {name}: {x}" for x in undone_left]
    return kept
