"""Undo what a lab's journal says was done: processes first, then devices, then namespaces.

Steps whose effect dies with something else the lab deletes (an address on a device
that goes, anything inside a namespace that goes) are not undone one by one: deleting
the namespace or device removes them, and a lab of 1000 namespaces comes down in
a fraction of the calls.
"""

from __future__ import annotations

import os
import stat
import time

from ..backend import netns as nsb
from ..backend import rtdump
from ..errors import Busy, NotFound
from ..ops.addr import AddrAdd
from ..ops.link import LinkAdd, LinkSet, _mark, delete_if_owned
from ..ops.netns import NetnsAdd
from ..ops.route import RouteAdd
from ..ops.sysctl import SysctlSet
from ..ops.tuntap import TuntapAdd
from ..ownership import owner_of
from ..steps import Journal, Session, Step, _signals_deferred, _text
from .journal import Entry

Dev = tuple[str | None, str]


def ends(step: Step) -> list[Dev]:
    """The (namespace, name) of each device a creating Step makes."""
    if isinstance(step, LinkAdd):
        out = [(step.netns, step.name)]
        if step.peer is not None:
            out.append((step.peer_netns, step.peer))
        return out
    if isinstance(step, TuntapAdd):
        return [(step.netns, step.name)]
    return []


def _vanishes(step: Step, lab_ns: set[str], made: set[Dev]) -> bool:
    """True if deleting the lab's namespaces and devices takes this Step's effect with it."""
    netns = getattr(step, "netns", None)
    if isinstance(step, (LinkAdd, TuntapAdd)):
        return all(ns in lab_ns for ns, _ in ends(step))
    if isinstance(step, LinkSet) and step.attr in ("up", "mtu", "master"):
        return netns in lab_ns or (netns, step.name) in made
    if isinstance(step, AddrAdd):
        return netns in lab_ns or (netns, step.dev) in made
    if isinstance(step, RouteAdd):
        return netns in lab_ns or (step.dev is not None and (netns, step.dev) in made)
    if isinstance(step, SysctlSet):
        return netns in lab_ns
    return False


def adopt(step: Step, s: Session) -> None:
    """Finish marking what a Step created just before a crash, so its undo can remove it.

    A creating Step checks that the name is free, creates, then marks. A crash between
    the last two leaves an unmarked device (or an unrecorded namespace) that the journal's
    intent says is ours; only a device of the planned kind (and, for a veth, with the planned
    peer) carrying no marker at all is adopted.
    """
    if isinstance(step, (LinkAdd, TuntapAdd)):
        for ns, name in ends(step):
            try:
                link = s.nl(ns).link(name)
            except NotFound:
                continue
            want = "tun" if isinstance(step, TuntapAdd) else step.kind
            if link is not None and owner_of(link.altnames) is None and link.kind == want:
                _mark(s, ns, name, step.owner)
    elif isinstance(step, NetnsAdd):
        from .. import state
        try:
            ref = nsb.resolve(step.name)
        except NotFound:
            _drop_placeholder(nsb.path_of(step.name))
            return
        if ref is not None and not state.owned_netns().get(step.name):
            state.record_netns(step.name, ref.inode, step.owner)


def _drop_placeholder(path: str) -> None:
    """Remove the empty file a namespace creation makes before its bind mount, if a crash left only that."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode) and st.st_size == 0 and not nsb.is_nsfs(path):
        os.unlink(path)


def _dies_with_namespace(step: Step, lab_ns: set[str]) -> list[Dev] | None:
    """For a veth with an end in a lab namespace: its ends elsewhere, which vanish when that namespace goes."""
    if isinstance(step, LinkAdd) and step.kind == "veth" and step.peer is not None:
        here = ends(step)
        if any(ns in lab_ns for ns, _ in here):
            return [(ns, name) for ns, name in here if ns not in lab_ns]
    return None


def _await_gone(s: Session, devs: list[Dev], owner: str, timeout: float = 30.0) -> None:
    """Wait (bounded) until devices that die asynchronously with a namespace are gone; delete stragglers."""
    by_ns: dict[str | None, set[str]] = {}
    for ns, name in devs:
        by_ns.setdefault(ns, set()).add(name)
    deadline = time.monotonic() + timeout
    for ns, names in by_ns.items():
        delay = 0.005
        while names:
            try:
                present = {lk.name for lk in rtdump.links(s.nl(ns).sock)
                           if lk.name in names and owner_of(lk.altnames) == owner}
            except NotFound:
                break
            names &= present
            if not names or time.monotonic() > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        for name in sorted(names):
            delete_if_owned(s, ns, name, owner)


def _outer_creation(step: Step, lab_ns: set[str]) -> bool:
    """A device the lab made outside its own namespaces (a bridge, a veth pair or tun on the host)."""
    return isinstance(step, (LinkAdd, TuntapAdd)) and not any(ns in lab_ns for ns, _ in ends(step))


def teardown(entries: list[Entry], s: Session, journal: Journal | None = None) -> list[str]:
    """Undo the journal's Steps in reverse; return what could not be undone.

    Processes and settings first, then the lab's namespaces, then its devices outside them.
    A veth with an end in a lab namespace is not deleted by itself: the kernel removes it
    with the namespace (in one batch, far faster than one deletion per veth), and its ends
    outside are waited for at the end.
    """
    todo = [e for e in entries if not e.undone]
    lab_ns = {e.step.name for e in todo if isinstance(e.step, NetnsAdd)}
    made = {dev for e in todo for dev in ends(e.step)}
    left: list[str] = []
    awaited: list[tuple[Entry, list[Dev]]] = []
    order = list(reversed(todo))
    inner = [e for e in order if not isinstance(e.step, NetnsAdd) and not _outer_creation(e.step, lab_ns)]
    spaces = [e for e in order if isinstance(e.step, NetnsAdd)]
    outer = [e for e in order if _outer_creation(e.step, lab_ns)]

    def undo(e: Entry) -> None:
        try:
            if not e.done:
                adopt(e.step, s)
            outside = _dies_with_namespace(e.step, lab_ns)
            if outside is not None:
                awaited.append((e, outside))
                return
            try:
                e.step.undo(s, e.receipt)
            except Busy:
                if e.done:
                    raise
                # never finished, and what holds the name is not ours: nothing of ours to undo
            if isinstance(e.step, NetnsAdd):
                # a crash between unmounting and unlinking leaves the empty mount point
                _drop_placeholder(nsb.path_of(e.step.name))
            if journal:
                journal.undone(e.index, e.step)
        except Exception as exc:  # keep going: remove all we can, report the rest
            left.append(f"{e.step.describe()} ({_text(exc)})")

    with _signals_deferred():
        for e in inner + spaces:
            if not _vanishes(e.step, lab_ns, made):
                undo(e)
        # while the kernel tears the namespaces down in the background
        for e in outer:
            undo(e)
        if awaited:
            owner = getattr(awaited[0][0].step, "owner", "")
            try:
                _await_gone(s, [d for _, devs in awaited for d in devs], owner)
                if journal:
                    for e, _ in awaited:
                        journal.undone(e.index, e.step)
            except Exception as exc:
                left.append(f"remove veths of the lab's namespaces ({_text(exc)})")
    return left
