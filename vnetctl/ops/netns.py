"""Named network namespaces as Steps."""

from __future__ import annotations

import os
import shlex
import stat
from dataclasses import dataclass
from typing import Any, ClassVar

from .. import state
from ..backend import netns as nsb
from ..backend.procfs import netns_pids
from ..errors import Busy, NotFound, NotOurs
from ..ownership import CLI_OWNER
from ..steps import Receipt, Session, Step, View

NETNS_CAPS = frozenset({"CAP_SYS_ADMIN"})


def pids_inside(inode: int) -> list[int]:
    """Processes whose network namespace is `inode`."""
    return netns_pids().get(inode, [])


def drop_placeholder(name: str) -> None:
    """Remove the empty file a namespace creation makes before its bind mount, if a crash left only that."""
    path = nsb.path_of(name)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode) and st.st_size == 0 and not nsb.is_nsfs(path):
        os.unlink(path)


def is_ours(ref: nsb.NsRef, rec: dict[str, Any] | None, cookie: int | None = None) -> bool:
    """Proof that the namespace at ref is the one a record describes: its netns cookie (never reused within a boot).

    `cookie`: ref's cookie when already read (`lab status` reads it with the devices), else it is asked.
    Only a record without a cookie (an older vnetctl) or a kernel without SO_NETNS_COOKIE falls back
    to the nsfs inode, which the kernel does reuse.
    """
    if not rec:
        return False
    want = rec.get("cookie")
    if want is not None:
        got = cookie if cookie is not None else nsb.cookie_of(ref)
        if got is not None:
            return bool(got == want)
    return bool(rec.get("inode")) and rec.get("inode") == ref.inode


@dataclass(frozen=True)
class NetnsAdd(Step):
    """Create a named namespace and record it as vnetctl's."""

    name: str
    owner: str = CLI_OWNER
    caps: ClassVar[frozenset[str]] = NETNS_CAPS

    def apply(self, s: Session) -> Receipt:
        cookie: list[int | None] = []

        def record(c: int | None) -> None:  # before the namespace has its name: a crash can never outrun the record
            cookie.append(c)
            state.record_netns(self.name, 0, self.owner, c)

        ref = nsb.create(self.name, record)
        try:
            state.record_netns(self.name, ref.inode, self.owner, cookie[0])
        except BaseException:
            nsb.delete(self.name)  # unrecorded, it would be no one's to clean up
            state.forget_netns(self.name)
            raise
        return {"inode": ref.inode, "cookie": cookie[0]}

    def undo(self, s: Session, receipt: Receipt) -> None:
        s.forget(self.name)
        try:
            ref = nsb.resolve(self.name)
        except NotFound:
            state.forget_netns(self.name)
            return
        rec = state.netns_record(self.name)
        mine = rec if rec and rec.get("owner") == self.owner and (
            not receipt or receipt.get("cookie") is None or rec.get("cookie") == receipt.get("cookie")) else None
        if ref is None or not is_ours(ref, receipt or mine):
            if mine:
                state.forget_netns(self.name)  # ours is gone: the record describes nothing any more
            raise NotOurs(f"namespace {self.name!r} is not the one vnetctl made for {self.owner!r}", "left alone")
        nsb.delete(self.name)
        state.forget_netns(self.name)

    def command(self) -> str:
        return shlex.join(["ip", "netns", "add", self.name])

    def namespaces(self) -> list[str]:
        return []  # made, not required

    def creates_namespace(self) -> str | None:
        return self.name

    def adopt(self, s: Session) -> None:
        try:
            ref = nsb.resolve(self.name)
        except NotFound:
            drop_placeholder(self.name)
            return
        rec = state.netns_record(self.name)
        if ref is not None and rec and rec.get("owner") == self.owner and not rec.get("inode") and is_ours(ref, rec):
            state.record_netns(self.name, ref.inode, self.owner, rec.get("cookie"))  # named, but not yet recorded so

    def drift(self, view: View, owner: str, receipt: Receipt) -> str | None:
        try:
            ref = nsb.resolve(self.name)
        except NotFound:
            return f"namespace {self.name} is missing"
        if receipt and ref is not None and not is_ours(ref, receipt, view.cookie(self.name)):
            return f"namespace {self.name} was replaced (inode {ref.inode}, made {receipt.get('inode')})"
        return None


@dataclass(frozen=True)
class NetnsDel(Step):
    """Delete a named namespace; refuse while processes live in it unless forced."""

    name: str
    force: bool = False
    caps: ClassVar[frozenset[str]] = NETNS_CAPS

    def apply(self, s: Session) -> Receipt:
        ref = nsb.resolve(self.name)
        assert ref is not None
        pids = pids_inside(ref.inode)
        if pids and not self.force:
            raise Busy(f"namespace {self.name!r} still has processes: pids {', '.join(map(str, pids[:10]))}",
                       "stop them first, or use --force to unmount it anyway (it lives on while they run)")
        outside = [] if pids else outside_peers(s, self.name)  # with processes inside it lives on
        s.forget(self.name)
        nsb.delete(self.name)
        state.forget_netns(self.name)
        for spec, name in outside:  # the kernel removes them later, from a work queue
            if not s.nl(spec).wait_gone(name):
                raise Busy(f"veth {name!r}, whose peer was in namespace {self.name!r}, is still there after 5 s",
                           "the namespace is gone; check for processes that still hold it")
        return None

    def undo(self, s: Session, receipt: Receipt) -> None:
        raise NotImplementedError("a deleted namespace cannot be brought back")

    def command(self) -> str:
        return shlex.join(["ip", "netns", "del", self.name])


def outside_peers(s: Session, name: str) -> list[tuple[str | None, str]]:
    """(namespace, device) of each veth peer outside named namespace `name`: they die with it, but later."""
    inside = [lk for lk in s.nl(name).links() if lk.kind == "veth" and lk.link_netnsid is not None and lk.link]
    out: list[tuple[str | None, str]] = []
    for spec in [None, *(r.name for r in nsb.list_named() if r.name != name)]:
        if len(out) == len(inside):
            break
        nsid = s.nl(name).nsid_of(nsb.resolve(spec))
        for lk in inside:
            if nsid is not None and lk.link_netnsid == nsid and lk.link is not None:
                peer = s.nl(spec).link_by_index(lk.link)
                if peer is not None:
                    out.append((spec, peer.name))
    return out
