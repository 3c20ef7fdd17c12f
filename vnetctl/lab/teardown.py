"""Undo what a lab's journal says was done: processes first, then devices, then namespaces.

Steps whose effect dies with something else the lab deletes (an address on a device
that goes, anything inside a namespace that goes) are not undone one by one: deleting
the namespace or device removes them, and a lab of 1000 namespaces comes down in
a fraction of the calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..backend import rtdump
from ..errors import NotFound, NotOurs
from ..ops.link import delete_if_owned
from ..ops.netns import drop_placeholder
from ..ownership import owner_of
from ..steps import Dev, Journal, Session, Step, error_text, signals_deferred, step_record
from . import journal as jr
from .journal import Entry


@dataclass(frozen=True)
class Removed:
    """One change `lab down` undid: the Step's type, the command that had made it, its arguments, the host (across hosts)."""

    step: str
    command: str
    args: dict[str, Any] = field(default_factory=dict)
    host: str | None = None

    @classmethod
    def of(cls, step: Step) -> Removed:
        """The record of an undone Step."""
        return cls(**step_record(step))

    def to_json(self) -> dict[str, Any]:
        """As `lab down --json` prints it (`host` only for a lab across hosts)."""
        out = {"step": self.step, "command": self.command, "args": self.args}
        return out if self.host is None else {**out, "host": self.host}

    def __str__(self) -> str:
        return (f"{self.host}: " if self.host else "") + self.command


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
    made = step.creates()
    return bool(made) and not any(ns in lab_ns for ns, _ in made)


def teardown(entries: list[Entry], s: Session, journal: Journal | None = None,
             warnings: list[str] | None = None) -> list[str]:
    """Undo the journal's Steps in reverse; return what could not be undone.

    What holds a planned name but cannot be proven the lab's is left alone and named in `warnings`.

    Processes and settings first, then the lab's namespaces, then its devices outside them.
    A veth with an end in a lab namespace is not deleted by itself: the kernel removes it
    with the namespace (in one batch, far faster than one deletion per veth), and its ends
    outside are waited for at the end.
    """
    todo = [e for e in entries if not e.undone]
    lab_ns = {ns for e in todo if (ns := e.step.creates_namespace())}
    made = {dev for e in todo for dev in e.step.creates()}
    left: list[str] = []
    awaited: list[tuple[Entry, list[Dev]]] = []
    order = list(reversed(todo))
    inner = [e for e in order if not e.step.creates_namespace() and not _outer_creation(e.step, lab_ns)]
    spaces = [e for e in order if e.step.creates_namespace()]
    outer = [e for e in order if _outer_creation(e.step, lab_ns)]

    def undo(e: Entry) -> None:
        try:
            if not e.done:
                e.step.adopt(s)
            outside = e.step.dies_with(lab_ns) if e.done else None  # unfinished: what holds its names may be another's
            if outside is not None:
                awaited.append((e, outside))
                return
            try:
                e.step.undo(s, e.receipt)
            except NotOurs as exc:  # what holds the name cannot be proven ours: leave it, say so
                if warnings is not None:
                    warnings.append(f"left alone: {exc.message}")
            made_ns = e.step.creates_namespace()
            if made_ns:
                # a crash between unmounting and unlinking leaves the empty mount point
                drop_placeholder(made_ns)
            if journal:
                journal.undone(e.index, e.step)
        except Exception as exc:  # keep going: remove all we can, report the rest
            left.append(f"{e.step.describe()} ({error_text(exc)})")

    with signals_deferred():
        for e in inner + spaces:
            if not e.step.vanishes_with(lab_ns, made):
                undo(e)
        # while the kernel tears the namespaces down in the background
        for e in outer:
            undo(e)
        if awaited:
            _finish_awaited(s, awaited, journal, left)
    return left


def _finish_awaited(s: Session, awaited: list[tuple[Entry, list[Dev]]], journal: Journal | None, left: list[str]) -> None:
    """Wait for the veth ends the kernel removes with the lab's namespaces; then record their Steps undone."""
    owner = getattr(awaited[0][0].step, "owner", "")
    try:
        _await_gone(s, [d for _, devs in awaited for d in devs], owner)
        if journal:
            for e, _ in awaited:
                journal.undone(e.index, e.step)
    except Exception as exc:
        left.append(f"remove veths of the lab's namespaces ({error_text(exc)})")


def undo_journal(name: str, warnings: list[str] | None = None, handles: int = 256) -> tuple[list[Entry], list[str], list[str]]:
    """Undo what lab `name`'s journal says was done (the caller holds its lock).

    Returns the journal's entries, what could not be undone, and the journal records that could not be read.
    """
    damaged: list[str] = []
    entries = jr.replay(name, damaged)
    journal = jr.Journal(name)
    try:
        with Session(handles) as s:
            left = teardown(entries, s, journal, warnings)
    finally:
        journal.close()
    return entries, left, damaged
