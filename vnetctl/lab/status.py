"""Drift: the lab file against the lab's state, and the state against the kernel."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..backend import netns as nsb
from ..backend import nsread
from ..backend import process as procb
from ..errors import NotFound, VnetError
from ..model import Link
from ..steps import FDS_PER_HANDLE, Session, fd_budget
from . import journal as jr
from . import plancopy
from .plan import digest
from .process import ProcessStart

if TYPE_CHECKING:
    from . import Lab

Progress = Callable[[int, int], None]


class _View:
    """Each namespace's devices and addresses, read once: all of them up front, a chunk of sockets at a time."""

    def __init__(self, s: Session) -> None:
        self.s = s
        self.cache: dict[str | None, tuple[dict[str, Link], dict[int, set[str]]] | None] = {}
        self.cookies: dict[str | None, int | None] = {}

    def preload(self, names: list[str | None], progress: Progress | None = None) -> None:
        """Read every namespace of `names` up front (one link and one address dump each)."""
        todo: list[str | None] = []
        paths: list[str] = []
        for name in dict.fromkeys(n for n in names if n not in self.cache):
            try:
                ref = nsb.resolve(name)
            except NotFound:
                self.cache[name] = None
                continue
            except VnetError:
                continue  # read through the Session, which says what is wrong
            todo.append(name)
            paths.append(ref.path if ref else "/proc/self/ns/net")
        chunk = max(4, min(512, fd_budget() * FDS_PER_HANDLE // 2))
        if progress:
            progress(0, len(todo))
        for i, got in enumerate(nsread.links_and_addresses(paths, chunk), 1):
            if not isinstance(got, OSError):  # else read again through the Session, which says what is wrong
                addrs: dict[int, set[str]] = {}
                for a in got[1]:
                    addrs.setdefault(a.ifindex, set()).add(a.cidr)
                self.cache[todo[i - 1]] = ({lk.name: lk for lk in got[0]}, addrs)
                self.cookies[todo[i - 1]] = got[2]
            if progress and (i % 256 == 0 or i == len(todo)):
                progress(i, len(todo))

    def ns(self, netns: str | None) -> tuple[dict[str, Link], dict[int, set[str]]] | None:
        if netns not in self.cache:  # not preloaded, or its socket could not be opened: say why through the Session
            try:
                nl = self.s.nl(netns)
                links = {lk.name: lk for lk in nl.links()}
                addrs: dict[int, set[str]] = {}
                for a in nl.addresses():
                    addrs.setdefault(a.ifindex, set()).add(a.cidr)
                self.cache[netns] = (links, addrs)
            except NotFound:
                self.cache[netns] = None
        return self.cache[netns]

    def link(self, netns: str | None, name: str) -> Link | None:
        got = self.ns(netns)
        return got[0].get(name) if got else None

    def addresses(self, netns: str | None, index: int) -> set[str] | None:
        got = self.ns(netns)
        return got[1].get(index, set()) if got else None

    def cookie(self, netns: str | None) -> int | None:
        return self.cookies.get(netns)


def _namespaces(entries: list[jr.Entry]) -> list[str | None]:
    """Every namespace the lab's devices and addresses live in."""
    out: list[str | None] = []
    for e in entries:
        out.extend(ns for ns, _ in e.step.creates())
        out.extend(e.step.namespaces() or [None])
    return out


def lab_status(name: str, lab: Lab | None, progress: Progress | None = None) -> dict[str, Any]:
    """One lab's status: up or not, file drift (when the file is given) and kernel drift.

    progress(done, total) is called as the lab's namespaces are read.
    """
    meta = jr.read_meta(name)
    out: dict[str, Any] = {"name": name, "status": jr.status_of(meta) if meta else "down",
                           "file": meta.get("file") if meta else (lab.spec.path if lab else None),
                           "params": meta.get("params", {}) if meta else {}, "file_drift": None, "drift": [],
                           "plan": plancopy.summary(name)}
    if meta is None:
        return out
    if lab is not None:
        out["file_drift"] = digest(lab.plan()) != meta.get("digest")
    entries = [e for e in jr.replay(name) if e.done and not e.undone]
    out["steps"] = len(entries)
    out["processes"] = [{"name": e.step.name, "pid": (e.receipt or {}).get("pid"),
                         "running": e.receipt is not None and procb.alive(int(e.receipt["pid"]), e.receipt.get("start"))}
                        for e in entries if isinstance(e.step, ProcessStart)]
    with Session(256) as s:
        v = _View(s)
        v.preload(_namespaces(entries), progress)
        for e in entries:
            try:
                problem = e.step.drift(v, name, e.receipt)
            except VnetError as exc:
                problem = f"{e.step.describe()}: {exc.message}"
            if problem:
                out["drift"].append(problem)
    return out
