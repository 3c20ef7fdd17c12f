"""`lab up --replace`: bring a lab that is up to a new file or parameters, changing only what differs.

The running lab's journal and the new plan are compared Step by Step. A Step only in the journal
is undone, a Step only in the plan is applied; a Step in both is kept unless something it stands
on is remade (its device, namespace, bridge, lower device, or for a route any device of its
namespace), in which case it is undone and applied again. Everything is journaled as `lab up` does.
If applying fails, what was applied is undone and what was undone is applied again: the lab is as
it was (exit 1), or what could not be restored is listed (exit 3).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import IncompleteUndo, VnetError
from ..ops.route import RouteAdd
from ..steps import Receipt, Session, Step, error_text, execute, signals_deferred
from . import journal as jr

if TYPE_CHECKING:
    from . import Lab

VOLATILE = ("ifindex", "peer_ifindex")  # the identity a Step is given when it runs: not part of what it does


@dataclass
class Change:
    """What a replace did: the Steps undone and the Steps applied, in the order they ran."""

    removed: list[Step] = field(default_factory=list)
    added: list[Step] = field(default_factory=list)


def key(step: Step) -> str:
    """What a Step does, comparable between the journal and a new plan."""
    rec = {k: v for k, v in step.to_record().items() if k not in VOLATILE}
    return json.dumps(rec, sort_keys=True, default=str)


def _words(step: Step) -> set[str]:
    """Every string a Step's fields hold (device names, a master, argv words...)."""
    out: set[str] = set()
    todo: list[Any] = list(step.to_record().values())
    while todo:
        v = todo.pop()
        if isinstance(v, str):
            out.add(v)
        elif isinstance(v, (list, tuple)):
            todo.extend(v)
    return out


def _stands_on(step: Step, devs: set[tuple[str | None, str]], spaces: set[str]) -> bool:
    """True if the Step's effect needs a device or namespace in the sets (which are being remade)."""
    ns = getattr(step, "netns", None)
    if ns in spaces or getattr(step, "peer_netns", None) in spaces or (step.namespaces() and set(step.namespaces()) & spaces):
        return True
    if isinstance(step, RouteAdd) and any(d_ns == ns for d_ns, _ in devs):
        return True  # the kernel drops a route when the device or address it goes through goes
    return any((ns, w) in devs for w in _words(step))


def diff(live: list[jr.Entry], new: list[Step]) -> tuple[list[jr.Entry], list[Step]]:
    """(journal entries to undo, in journal order; new Steps to apply, in plan order)."""
    new_keys = {key(s) for s in new}
    old_keys = {key(e.step) for e in live}
    drop = {e.index for e in live if key(e.step) not in new_keys}
    add = {i for i, s in enumerate(new) if key(s) not in old_keys}
    while True:
        devs = {d for e in live if e.index in drop for d in e.step.creates()}
        devs |= {d for i in add for d in new[i].creates()}
        spaces = {n for e in live if e.index in drop if (n := e.step.creates_namespace())}
        spaces |= {n for i in add if (n := new[i].creates_namespace())}
        more = {e.index for e in live if e.index not in drop and _stands_on(e.step, devs, spaces)}
        if not more:
            break
        drop |= more
        gone = {key(e.step) for e in live if e.index in more}
        add |= {i for i, s in enumerate(new) if key(s) in gone}
    return [e for e in live if e.index in drop], [s for i, s in enumerate(new) if i in add]


class _Appended:
    """A Journal whose Step indices follow the ones already in the lab's journal."""

    def __init__(self, journal: jr.Journal, base: int) -> None:
        self.journal, self.base = journal, base

    def intent(self, index: int, step: Step) -> None:
        self.journal.intent(self.base + index, step)

    def done(self, index: int, step: Step, receipt: Receipt) -> None:
        self.journal.done(self.base + index, step, receipt)

    def undone(self, index: int, step: Step) -> None:
        self.journal.undone(self.base + index, step)


def replace(lab: Lab, session_handles: int = 256) -> Change:
    """Bring the running lab to `lab`'s plan (the caller holds the lab's lock and checked it is up)."""
    from .plan import digest
    new = lab.plan()
    live = [e for e in jr.replay(lab.name) if e.done and not e.undone]
    drop, add = diff(live, new)
    if not drop and not add:
        return Change()
    journal = jr.Journal(lab.name)
    base = max((e.index for e in jr.replay(lab.name)), default=-1) + 1
    try:
        # a Session per phase: a handle remembers devices by name, and the phases remake them
        with Session(session_handles) as s:
            undone, failed = _undo(drop, s, journal)
        if failed is not None:
            _restore(undone, session_handles, journal, base, failed)
        try:
            with Session(session_handles) as s:
                execute(add, s, _Appended(journal, base))
        except VnetError as exc:
            _restore(undone, session_handles, journal, base + len(add), exc)
    finally:
        journal.close()
    _save(lab, digest(new))
    return Change([e.step for e in undone], list(add))


def _undo(drop: list[jr.Entry], s: Session, journal: jr.Journal) -> tuple[list[jr.Entry], VnetError | None]:
    """Undo the entries in reverse journal order: (those undone, the error that stopped it or None)."""
    done: list[jr.Entry] = []
    with signals_deferred():
        for e in reversed(drop):
            try:
                e.step.undo(s, e.receipt)
            except Exception as exc:  # noqa: BLE001 - what was undone is put back by the caller
                return done, VnetError(f"undoing '{e.step.describe()}': {error_text(exc)}")
            journal.undone(e.index, e.step)
            done.append(e)
    return done, None


def _restore(undone: list[jr.Entry], handles: int, journal: jr.Journal, base: int, cause: VnetError) -> None:
    """Apply again, in journal order, the old Steps that were undone; then raise what made the replace fail."""
    sink = _Appended(journal, base)
    left: list[str] = []
    with signals_deferred(), Session(handles) as s:
        for i, e in enumerate(reversed(undone)):
            step = e.step.identified()
            try:
                sink.intent(i, step)
                sink.done(i, step, step.apply(s))
            except Exception as exc:  # noqa: BLE001 - keep restoring the rest; report what stayed
                left.append(f"{step.describe()} ({error_text(exc)})")
    if left:
        raise IncompleteUndo(f"replace failed: {cause.line()}; putting the lab back left {len(left)} change(s) "
                             "undone: " + "; ".join(left), left)
    raise _unchanged(cause)


def _unchanged(cause: VnetError) -> VnetError:
    cause.changed = "the lab was put back as it was"
    return cause


def _save(lab: Lab, fingerprint: str) -> None:
    """The new file, parameters and digest become the lab's."""
    d = jr.paths.lab_dir(lab.name)
    path = os.path.join(d, jr.COPY)
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(lab.spec.source)
    os.replace(tmp, path)
    jr.write_meta(lab.name, file=lab.spec.path, params=lab.spec.params, digest=fingerprint, steps=len(lab.plan()))

