"""Devices as Steps: create any kind of the registry (vnetctl.kinds), delete, change."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from typing import Any

from .. import kinds
from ..backend import kernel, tun
from ..backend import netns as nsb
from ..errors import AlreadyExists, Busy, NotFound, NotOurs, Unsupported, UsageError
from ..names import check_ifname
from ..ownership import CLI_OWNER, fresh_ifindex, is_owned, marker, owner_of
from ..steps import Dev, Receipt, Session, Step, View, ip, where, with_fields


def unsupported(kind: str) -> Unsupported:
    """The error for a device type this kernel lacks."""
    return Unsupported(f"kernel lacks {kernel.module_for(kind)}: cannot create {kind} devices",
                       f"this kernel has no {kind} driver; load or build the {kernel.module_for(kind)} module")


def ns_fd(spec: str | None) -> int:
    ref = nsb.resolve(spec)
    return os.open(ref.path if ref else "/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def mark(s: Session, netns: str | None, name: str, owner: str) -> None:
    """Give a device just made its ownership marker (by name: one request) and note it as fresh."""
    s.nl(netns).add_altname(0, name, marker(owner, name))
    s.fresh[(netns or "", name)] = {"up": False, "master": ""}


def mark_or_undo(s: Session, step: Step, owner: str, *ends: tuple[str | None, str]) -> None:
    """Mark each (namespace, name) device `step` just made; if one cannot be marked, undo the step and re-raise."""
    try:
        for netns, name in ends:
            mark(s, netns, name, owner)
    except Exception:
        step.undo(s, None)
        raise


def delete_if_owned(s: Session, netns: str | None, name: str, owner: str) -> None:
    """Delete device `name` if it carries owner's marker; gone already is fine."""
    try:
        nl = s.nl(netns)
    except NotFound:
        return  # its namespace is gone, and the device with it
    link = nl.link(name)
    if link is None:
        return
    if not is_owned(link.altnames, owner):
        raise NotOurs(f"device {name!r}{where(netns)} is not marked as made by {owner!r}", "left alone")
    try:
        nl.del_link(link.index, name)
    except NotFound:
        pass


def adopt_unmarked(s: Session, devs: list[tuple[str | None, str, int]], kind: str, owner: str) -> None:
    """Mark each (namespace, name, requested ifindex) device that is provably the one a crash left unmarked.

    Proof is the ifindex requested at creation and journaled before it; a planned name and kind are not:
    a device made by hand under that name is left alone (its undo names it).
    """
    for ns, name, index in devs:
        try:
            link = s.nl(ns).link(name)
        except NotFound:
            continue
        if link is not None and index and link.index == index and owner_of(link.altnames) is None and link.kind == kind:
            mark(s, ns, name, owner)


def devices_drift(view: View, devs: list[Dev], owner: str) -> str | None:
    """The first of `devs` that is missing or has lost owner's marker, as a sentence."""
    for ns, name in devs:
        link = view.link(ns, name)
        if link is None:
            return f"device {name}{where(ns)} is missing"
        if not is_owned(link.altnames, owner):
            return f"device {name}{where(ns)} has lost its ownership marker"
    return None


@dataclass(frozen=True)
class LinkAdd(Step):
    """Create a device; a veth is created with each end directly in its namespace."""

    name: str
    kind: str
    netns: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    peer: str | None = None
    peer_netns: str | None = None
    lower: str | None = None
    owner: str = CLI_OWNER
    ifindex: int = 0  # requested at creation (0: the kernel picks); see identified()
    peer_ifindex: int = 0

    def __post_init__(self) -> None:
        check_ifname(self.name)
        kind = kinds.get(self.kind)
        if kind is None:  # the kernel says "not supported" for a typo too
            known = sorted(k.name for k in kinds.all_kinds())
            near = difflib.get_close_matches(self.kind, known, n=1)
            raise UsageError(f"unknown device type {self.kind!r}",
                             f"did you mean {near[0]!r}?" if near else f"known: {', '.join(known)}")
        if self.peer is not None:
            check_ifname(self.peer, "peer")
        known = kind.names()
        for key, _ in self.options:
            if key not in known:
                raise UsageError(f"{self.kind} has no option {key!r}", f"known: {', '.join(sorted(known)) or 'none'}")
        for _, problem in kind.problems(dict(self.options)):
            raise UsageError(f"{self.kind} {self.name}: {problem}", "see 'vnetctl " + self.kind + " add --help'")
        if self.lower is not None:
            if kind.lower_attr is None:
                raise UsageError(f"a {self.kind} device has no lower device", f"leave out the lower device {self.lower!r}")
            check_ifname(self.lower, "lower device")
        elif kind.lower_required:
            raise UsageError(f"a {self.kind} device needs a lower device", f"give --{kind.lower_flag} DEV")

    def apply(self, s: Session) -> Receipt:
        nl = s.nl(self.netns)
        data = self._data()
        lower_attr = self._kind().lower_attr
        if self.lower is not None and lower_attr is not None:
            data[lower_attr] = nl.require(self.lower).index
        # The kernel refuses a taken name atomically (EEXIST); only then ask which one it was.
        try:
            if self.kind == "veth":
                self._add_veth(s)
            else:
                nl.add_link(self.name, self.kind, data, index=self.ifindex)
        except Unsupported:
            raise unsupported(self.kind) from None
        except AlreadyExists as taken:
            if nl.link(self.name) is not None:
                raise exists_error(self.name, self.netns) from None
            if self.peer is not None and s.nl(self.peer_netns).link(self.peer) is not None:
                raise exists_error(self.peer, self.peer_netns) from None
            raise _taken(self.kind, taken) from None
        peer = [(self.peer_netns, self.peer)] if self.peer is not None else []
        mark_or_undo(s, self, self.owner, (self.netns, self.name), *peer)
        return None

    def _add_veth(self, s: Session) -> None:
        """Ask from here with IFLA_NET_NS_FD for each end, so each is born in its namespace."""
        fds = [ns_fd(self.netns) if self.netns else None, ns_fd(self.peer_netns) if self.peer_netns else None]
        try:
            s.nl(None).add_link(self.name, "veth", ns_fd=fds[0], peer=self.peer, peer_ns_fd=fds[1],
                                index=self.ifindex, peer_index=self.peer_ifindex)
        finally:
            for fd in fds:
                if fd is not None:
                    os.close(fd)

    def undo(self, s: Session, receipt: Receipt) -> None:
        s.fresh.pop((self.netns or "", self.name), None)
        delete_if_owned(s, self.netns, self.name, self.owner)
        if self.peer is not None:
            s.fresh.pop((self.peer_netns or "", self.peer), None)
            delete_if_owned(s, self.peer_netns, self.peer, self.owner)

    def _kind(self) -> kinds.Kind:
        kind = kinds.get(self.kind)
        assert kind is not None  # checked when the Step was made
        return kind

    def _data(self) -> dict[str, Any]:
        kind = self._kind()
        return dict(kind.option(key).netlink(value) for key, value in self.options)

    def command(self) -> str:
        if self.kind == "veth":
            words = ["link", "add", self.name, *netns_words(self.netns), "type", "veth"]
            if self.peer is not None:
                words += ["peer", "name", self.peer, *netns_words(self.peer_netns)]
            return ip(None, *words) + self._mark_commands()
        kind = self._kind()
        lower = [kind.lower_word, self.lower] if self.lower is not None and kind.lower_word is not None else []
        # `link DEV` is ip link's own argument and goes before `type`; `dev DEV` belongs to the kind's
        generic = lower if kind.lower_word == "link" else []
        words = ["link", "add", self.name, *generic, "type", self.kind]
        for key, value in self.options:
            words += kind.option(key).ip_words(value)
        if not generic:
            words += lower
        return ip(self.netns, *words) + self._mark_commands()

    def _mark_commands(self) -> str:
        lines = ["\n" + ip(self.netns, "link", "property", "add", "dev", self.name, "altname", marker(self.owner, self.name))]
        if self.peer is not None:
            lines.append("\n" + ip(self.peer_netns, "link", "property", "add", "dev", self.peer, "altname",
                                   marker(self.owner, self.peer)))
        return "".join(lines)

    def describe(self) -> str:
        return f"add {self.kind} {self.name}" + (f" (peer {self.peer})" if self.peer else "")

    def namespaces(self) -> list[str]:
        return [ns for ns in (self.netns, self.peer_netns) if ns]

    def creates(self) -> list[Dev]:
        out: list[Dev] = [(self.netns, self.name)]
        if self.peer is not None:
            out.append((self.peer_netns, self.peer))
        return out

    def vanishes_with(self, lab_ns: set[str], made: set[Dev]) -> bool:
        return all(ns in lab_ns for ns, _ in self.creates())

    def dies_with(self, lab_ns: set[str]) -> list[Dev] | None:
        if self.kind == "veth" and self.peer is not None:
            here = self.creates()
            if any(ns in lab_ns for ns, _ in here):
                return [(ns, name) for ns, name in here if ns not in lab_ns]
        return None

    def identified(self) -> LinkAdd:
        if self.ifindex:
            return self
        return with_fields(self, ifindex=fresh_ifindex(), peer_ifindex=fresh_ifindex() if self.peer is not None else 0)

    def adopt(self, s: Session) -> None:
        ends = [(self.netns, self.name, self.ifindex)]
        if self.peer is not None:
            ends.append((self.peer_netns, self.peer, self.peer_ifindex))
        adopt_unmarked(s, ends, self.kind, self.owner)

    def drift(self, view: View, owner: str, receipt: Receipt) -> str | None:
        return devices_drift(view, self.creates(), owner)


def netns_words(spec: str | None) -> list[str]:
    """`netns X` for ip link add: a name or a pid (ip takes either)."""
    if not spec:
        return []
    return ["netns", spec[4:] if spec.startswith("pid:") else spec]


def _deleted_by(kind: str | None) -> str | None:
    """The vnetctl noun whose `del` deletes this kind (None: vnetctl does not make it)."""
    if kind in ("veth", "bridge"):
        return kind
    if kind == "tun":
        return "tuntap"
    declared = kinds.get(kind) if kind else None
    return kind if declared is not None and declared.cli else None


def _wrong_kind(name: str, netns: str | None, kind: str | None, wanted: tuple[str, ...]) -> Exception:
    def word(k: str | None) -> str:
        return "tun/tap" if k == "tun" else (k or "physical")
    where = f" -n {netns}" if netns else ""
    noun = _deleted_by(kind)
    hint = f"delete it with 'vnetctl {noun} del {name}{where}'" if noun else "vnetctl deletes only the kinds of device it makes"
    return UsageError(f"{name!r} is a {word(kind)} device, not a {' or '.join(word(k) for k in wanted)}", hint)


def _taken(kind: str, e: AlreadyExists) -> Exception:
    """EEXIST although the name is free: the kernel's words, and a hint about what else is taken."""
    hint = ("another vxlan device has this VNI on this UDP port: choose another --vni or --dstport, or delete that device"
            if kind == "vxlan" else "another device holds what it asks for; see 'vnetctl link show'")
    return AlreadyExists(e.message, hint)


def exists_error(name: str, netns: str | None) -> Exception:
    from ..errors import AlreadyExists
    where = f" in namespace {netns}" if netns else ""
    return AlreadyExists(f"device {name!r} exists{where}", "pick another name; vnetctl never deletes a device to make room")


@dataclass(frozen=True)
class LinkDel(Step):
    """Delete a device (any kind, or only `kind` when given)."""

    name: str
    netns: str | None = None
    kind: str | None = None
    kinds: tuple[str, ...] = field(default=())
    held_ok: bool = True  # False: a tun/tap a process holds open is refused (its program would lose its device)

    def apply(self, s: Session) -> Receipt:
        nl = s.nl(self.netns)
        link = nl.require(self.name)
        wanted = self.kinds or ((self.kind,) if self.kind else ())
        if wanted and link.kind not in wanted:
            raise _wrong_kind(self.name, self.netns, link.kind, wanted)
        if not self.held_ok and link.kind == "tun":
            ref = s.ns(self.netns)
            held = tun.holders(self.name, ref.inode if ref else nsb.current_inode())
            if held:
                raise Busy(f"{self.name!r} is held by " + ", ".join(f"{c}[{p}] fd {fd}" for p, c, fd in held),
                           "stop them first, or use --force (they then end with their summary)")
        nl.del_link(link.index, self.name)
        return None

    def undo(self, s: Session, receipt: Receipt) -> None:
        raise NotImplementedError("a deleted device cannot be brought back")

    def command(self) -> str:
        return ip(self.netns, "link", "del", self.name)


SET_ATTRS = ("name", "mtu", "master", "netns", "up")


@dataclass(frozen=True)
class LinkSet(Step):
    """Change one attribute of a device: up, mtu, master ('' = none), netns or name."""

    name: str
    attr: str
    value: Any
    netns: str | None = None

    def __post_init__(self) -> None:
        if self.attr not in SET_ATTRS:
            raise UsageError(f"unknown link attribute {self.attr!r}", f"one of {', '.join(SET_ATTRS)}")
        if self.attr == "name":
            check_ifname(self.value)

    def apply(self, s: Session) -> Receipt:
        nl = s.nl(self.netns)
        key = (self.netns or "", self.name)
        born = s.fresh.get(key)
        if born is not None and self.attr in ("up", "master"):
            # made in this session: its old value is known, and the kernel finds it by name
            if self.attr == "up":
                nl.set_link(0, self.name, up=bool(self.value))
            else:
                nl.set_link(0, self.name, master=nl.index_of(self.value) if self.value else 0)
            old = born[self.attr]
            born[self.attr] = bool(self.value) if self.attr == "up" else self.value
            return {"old": old}
        s.fresh.pop(key, None)
        link = nl.require(self.name)
        if self.attr == "up":
            nl.set_link(link.index, self.name, up=bool(self.value))
            return {"old": link.up}
        if self.attr == "mtu":
            nl.set_link(link.index, self.name, mtu=int(self.value))
            return {"old": link.mtu}
        if self.attr == "name":
            nl.set_link(link.index, self.name, new_name=self.value)
            return {"old": self.name}
        if self.attr == "master":
            master = nl.link_by_index(link.master) if link.master else None
            old = master.name if master else ""
            idx = nl.index_of(self.value) if self.value else 0
            nl.set_link(link.index, self.name, master=idx)
            return {"old": old}
        fd = ns_fd(self.value)
        try:
            nl.set_link(link.index, self.name, ns_fd=fd)
        finally:
            os.close(fd)
        return {"old": self.netns}

    def undo(self, s: Session, receipt: Receipt) -> None:
        if receipt is None:
            return
        old = receipt["old"]
        if self.attr == "netns":
            back = LinkSet(self.name, "netns", old, netns=self.value)
            try:
                back.apply(s)
            except NotFound:
                pass
            return
        current = self.value if self.attr == "name" else self.name
        try:
            LinkSet(current, self.attr, old, netns=self.netns).apply(s)
        except NotFound:
            pass

    def namespaces(self) -> list[str]:
        return [ns for ns in (self.netns, self.value if self.attr == "netns" else None) if ns]

    def vanishes_with(self, lab_ns: set[str], made: set[Dev]) -> bool:
        return self.attr in ("up", "mtu", "master") and (self.netns in lab_ns or (self.netns, self.name) in made)

    def drift(self, view: View, owner: str, receipt: Receipt) -> str | None:
        link = view.link(self.netns, self.name)
        if link is None:
            return None  # reported with the device itself
        here = f"device {self.name}{where(self.netns)}"
        if self.attr == "up" and link.up != bool(self.value):
            return f"{here} is {'up' if link.up else 'down'}, the lab set it {'up' if self.value else 'down'}"
        if self.attr == "mtu" and link.mtu != int(self.value):
            return f"{here} has mtu {link.mtu}, the lab set {self.value}"
        if self.attr == "master":
            master = view.link(self.netns, self.value) if self.value else None
            if (master.index if master else None) != link.master:
                return f"{here} is no longer a port of {self.value}"
        return None

    def command(self) -> str:
        if self.attr == "up":
            return ip(self.netns, "link", "set", "dev", self.name, "up" if self.value else "down")
        if self.attr == "master" and not self.value:
            return ip(self.netns, "link", "set", "dev", self.name, "nomaster")
        if self.attr == "netns":
            target = self.value
            if target and target.startswith("pid:"):
                target = target[4:]
            return ip(self.netns, "link", "set", "dev", self.name, "netns", target or "1")
        return ip(self.netns, "link", "set", "dev", self.name, self.attr, str(self.value))
