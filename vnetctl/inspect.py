"""Discovery: every network namespace on the host, its devices, veth peers, drivers and tun holders.

Namespaces come from five places (the current one, named ones, /proc/PID/ns/net, nsfs
bind mounts in mountinfo, and nsfs fds processes hold), deduplicated by inode. Each is
read through one NETLINK_ROUTE socket opened inside it (no process-wide setns): one link
dump, one address dump, and ethtool ioctls on the same socket. A veth's peer namespace is
the one whose fd the reporting namespace maps to the veth's IFLA_LINK_NETNSID
(RTM_GETNSID asked from a socket in the reporting namespace): never index arithmetic.
"""

from __future__ import annotations

import errno
import os
import resource
import socket
from dataclasses import dataclass, field
from typing import Any

from .backend import ethtool, nsfind, nsocket, procfs, rtdump
from .backend import netns as nsb
from .errors import NotFound, PermissionDenied, UsageError, VnetError
from .model import Device, Holder, HostView, Link, Namespace, Peer, Who
from .owners import Resolver

NETLINK_ROUTE = 0
LOWER_KINDS = ("macvlan", "macvtap", "vlan", "ipvlan", "ipvtap", "vxlan")  # devices stacked on a lower device
CHUNK = 256  # namespaces whose sockets are open at once on a big host


@dataclass(eq=False)
class _Ns:
    """A namespace being read: where to open it, and what was found inside."""

    inode: int
    name: str | None = None
    paths: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    current: bool = False
    sock: socket.socket | None = None
    links: list[Link] | None = None
    addrs: dict[int, list[str]] = field(default_factory=dict)
    types: dict[int, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    drv: dict[int, ethtool.DrvInfo | None] = field(default_factory=dict)
    peer_stat: dict[int, int | None] = field(default_factory=dict)
    nsids: dict[int, int | None] = field(default_factory=dict)
    failed: bool = False
    held: str | None = None

    @property
    def label(self) -> str:
        """The namespace as words for messages."""
        if self.name:
            return f"namespace {self.name!r}"
        return "the current namespace" if self.current else f"namespace {self.ref or self.inode}"

    @property
    def ref(self) -> str | None:
        """What `-n` accepts for this namespace: its name, pid:PID or an nsfs path (None: current)."""
        if self.current:
            return None
        if self.name:
            return self.name
        if self.pids:
            return f"pid:{self.pids[0]}"
        return self.paths[0] if self.paths else None


class Scanner:
    """One inspection of the host: discovery, per-namespace reads, peers and holders."""

    def __init__(self, fds: bool = True, owners: bool = True) -> None:
        self.warnings: list[str] = []
        self.owners = Resolver() if owners else None
        self.found = nsfind.discover(fds=fds)
        self.proc = self.found.proc
        self.spaces: dict[int, _Ns] = {f.inode: _Ns(f.inode, f.name, f.paths, f.pids, f.current, held=f.held)
                                       for f in self.found.spaces.values()}
        self.warnings.extend(self.found.warnings)
        self.peer_reader = ethtool.PeerIndexReader()
        self.peers: dict[tuple[int, int], tuple[str | None, Peer]] = {}

    # discovery -----------------------------------------------------------------
    def _add(self, inode: int, path: str, name: str | None = None, current: bool = False) -> _Ns:
        ns = self.spaces.get(inode)
        if ns is None:
            ns = self.spaces[inode] = _Ns(inode)
        if name and not ns.name:
            ns.name = name
        if path not in ns.paths:
            ns.paths.append(path)
        ns.current = ns.current or current
        return ns

    def ordered(self) -> list[_Ns]:
        """Namespaces in display order: current, named (by name), unnamed (by inode)."""
        return sorted(self.spaces.values(), key=lambda n: (not n.current, n.name is None, n.name or "", n.inode))

    def find(self, spec: str | None) -> _Ns:
        """The namespace `-n spec` names (resolved like every -n), added if discovery missed it."""
        ref = nsb.resolve(spec)
        if ref is None:
            return self.spaces[nsb.current_inode()]
        ns = self.spaces.get(ref.inode) or self._add(ref.inode, ref.path, ref.name)
        if ref.name and ns.name != ref.name:
            ns.name = ref.name
        return ns

    # reading one namespace -------------------------------------------------------
    def socket_of(self, ns: _Ns) -> socket.socket | None:
        """A NETLINK_ROUTE socket inside ns (opened once), or None with a warning."""
        if ns.sock is not None or ns.failed:
            return ns.sock
        errors: list[str] = []
        for path in ns.paths:
            try:
                ref = None if ns.current else nsb.NsRef(ns.name, path, ns.inode)
                ns.sock = nsb.call_in(ref, _netlink_socket)
                return ns.sock
            except (OSError, VnetError) as e:
                errors.append(_why(e))
        ns.failed = True
        self.warnings.append(f"cannot enter {ns.label} (inode {ns.inode}): {errors[-1] if errors else 'no path'}; "
                             "its devices are not shown")
        return None

    def open_all(self, spaces: list[_Ns]) -> None:
        """Open a socket in every namespace of `spaces` at once (failures retried one by one later)."""
        todo = [ns for ns in spaces if ns.sock is None and not ns.failed and not ns.current and ns.paths]
        if len(todo) < 2:
            return
        got = nsocket.sockets_in([ns.paths[0] for ns in todo], socket.AF_NETLINK,
                                 socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        for ns, sock in zip(todo, got, strict=True):
            if isinstance(sock, socket.socket):
                ns.sock = sock

    def read(self, ns: _Ns) -> None:
        """Dump ns's devices and addresses and ask ethtool about each device."""
        if ns.links is not None:
            return
        sock = self.socket_of(ns)
        ns.links = []
        if sock is None:
            return
        try:
            typed = rtdump.links_typed(sock)
            ns.links = [lk for lk, _ in typed]
            ns.types = {lk.index: t for lk, t in typed}
            ns.names = {lk.index: lk.name for lk in ns.links}
            for a in rtdump.addresses(sock):
                ns.addrs.setdefault(a.ifindex, []).append(a.cidr)
        except OSError as e:
            self.warnings.append(f"cannot list devices in {ns.label}: {_why(e)}")
            return
        fd = sock.fileno()
        for link in ns.links:
            try:
                info = ns.drv[link.index] = ethtool.drvinfo(fd, link.name)
                if link.kind == "veth" and info is not None:
                    ns.peer_stat[link.index] = self.peer_reader.read(fd, link.name, info)
            except OSError as e:
                if e.errno != errno.ENODEV:  # ENODEV: it vanished since the dump
                    self.warnings.append(f"ethtool on {link.name} in {ns.label}: {_why(e)}")

    # veth peers ---------------------------------------------------------------------
    def nsid(self, reporter: _Ns, other: _Ns) -> int | None:
        """The nsid `reporter` gives to `other` (RTM_GETNSID with other's fd, asked inside reporter)."""
        if other.inode in reporter.nsids:
            return reporter.nsids[other.inode]
        sock = self.socket_of(reporter)
        found = None
        if sock is not None:
            for path in other.paths:
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    found = rtdump.nsid_of(sock, fd)
                    break
                except OSError:
                    continue
                finally:
                    os.close(fd)
        reporter.nsids[other.inode] = found
        return found

    def peer(self, ns: _Ns, link: Link, index: dict[tuple[int, int | None], list[tuple[_Ns, Link]]] | None = None
             ) -> Peer | None:
        """The other end of veth `link` in ns: its name, ifindex and namespace."""
        known = self.peers.get((ns.inode, link.index))
        if known is not None and known[0] == link.name:
            return known[1]
        found = self._peer(ns, link, index)
        if found is not None and found.netns_inode is not None:
            # A veth pair is symmetric: the other end's peer is this one.
            self.peers[(found.netns_inode, found.ifindex)] = (found.name, _peer(link.name, link.index, ns))
        return found

    def _peer(self, ns: _Ns, link: Link, index: dict[tuple[int, int | None], list[tuple[_Ns, Link]]] | None) -> Peer | None:
        stat = ns.peer_stat.get(link.index)
        peer_index = link.link or stat
        if not peer_index:
            return None
        if stat is not None and link.link and stat != link.link:
            self.warnings.append(f"{link.name} in {ns.label}: ethtool peer_ifindex {stat} disagrees with "
                                 f"IFLA_LINK {link.link}; using IFLA_LINK")
        if link.link_netnsid is None or link.link_netnsid < 0:
            return _peer(ns.names.get(peer_index), peer_index, ns)
        nsid = link.link_netnsid
        tried: set[int] = {ns.inode}
        # Likely namespaces first: those with a veth of that ifindex pointing back at us.
        for cand, clink in (index or {}).get((peer_index, link.index), []):
            if cand.inode in tried:
                continue
            tried.add(cand.inode)
            if self.nsid(ns, cand) == nsid:
                return _peer(clink.name, peer_index, cand)
        for cand in self.ordered():
            if cand.inode in tried:
                continue
            if self.nsid(ns, cand) == nsid:
                return _peer(self.name_in(cand, peer_index), peer_index, cand)
        # Its namespace is nowhere we can open; the kernel still names the device by nsid.
        sock = self.socket_of(ns)
        other = None
        if sock is not None:
            try:
                other = rtdump.link_by_index(sock, peer_index, target_nsid=nsid)
            except OSError:
                other = None
        self.warnings.append(f"the peer of {link.name} in {ns.label} is in a namespace not found on this host "
                             f"(nsid {nsid}; held by a process or mount we cannot see)")
        return Peer(other.name if other else None, peer_index, None, None)

    def lower(self, ns: _Ns, link: Link) -> Peer | None:
        """The lower device of a macvlan/vlan/vxlan... and its namespace (IFLA_LINK or IFLA_VXLAN_LINK + IFLA_LINK_NETNSID)."""
        index = link.detail("vxlan_link") if link.kind == "vxlan" else link.link
        if not isinstance(index, int) or index <= 0:
            return None
        return self._peer(ns, Link(link.name, link.index, link.kind, link.mtu, link.state, link.up, link.mac,
                                   link=index, link_netnsid=link.link_netnsid), None)

    def name_in(self, ns: _Ns, index: int) -> str | None:
        """The name of device `index` in ns, from its dump or one netlink request."""
        if ns.links is not None:
            return ns.names.get(index)
        sock = self.socket_of(ns)
        if sock is None:
            return None
        try:
            found = rtdump.link_by_index(sock, index)
        except OSError:
            return None
        return found.name if found else None

    # tun/tap holders --------------------------------------------------------------
    def holders(self) -> dict[tuple[int, str], list[Holder]]:
        """Processes holding tun/tap devices, keyed by (namespace inode, device name)."""
        out: dict[tuple[int, str], list[Holder]] = {}
        comms: dict[int, str] = {}
        for pid, fd in self.proc.tun_fds:
            iff = procfs.tun_iff(pid, fd)
            if not iff:
                continue  # open but not attached to any device
            inode = procfs.tun_device_netns(pid, fd)
            if inode is None:
                inode = self._guess_tun_netns(pid, iff)
            if inode is None:
                continue
            if pid not in comms:
                comms[pid] = procfs.comm(pid)
            owner = self.owners.of_pid(pid) if self.owners else None
            out.setdefault((inode, iff), []).append(Holder(pid, comms[pid], fd, procfs.cmdline(pid), owner))
        for pid, fd in self.proc.tap_fds:  # a macvtap: no fdinfo iff, no TUNGETDEVNETNS; its namespace by name
            iff = procfs.tap_iff(pid, fd)
            inode = self._guess_tun_netns(pid, iff, "macvtap") if iff else None
            if iff and inode is not None:
                owner = self.owners.of_pid(pid) if self.owners else None
                comm = comms.setdefault(pid, procfs.comm(pid))
                out.setdefault((inode, iff), []).append(Holder(pid, comm, fd, procfs.cmdline(pid), owner))
        return out

    def _guess_tun_netns(self, pid: int, iff: str, kind: str = "tun") -> int | None:
        # Without TUNGETDEVNETNS (old kernel, no privilege; never for macvtap): the namespaces that
        # have a device of that name and kind; the holder's own namespace when several do.
        cands = [ns for ns in self.spaces.values() if ns.links and any(lk.name == iff and lk.kind == kind for lk in ns.links)]
        chosen = cands[0] if len(cands) == 1 else next((ns for ns in cands if pid in ns.pids), None)
        if kind == "macvtap" and len(cands) == 1:
            return chosen.inode if chosen else None
        self.warnings.append(f"cannot ask the kernel which namespace tun/tap {iff!r} held by pid {pid} is in; "
                             + (f"assuming {chosen.label}" if chosen else "holder left out"))
        return chosen.inode if chosen else None

    def release(self, ns: _Ns) -> None:
        """Close ns's socket (it is opened again if needed)."""
        if ns.sock is not None:
            ns.sock.close()
            ns.sock = None

    def close(self) -> None:
        """Close every socket (and the namespace fds discovery kept)."""
        self.found.close()
        for ns in self.spaces.values():
            if ns.sock is not None:
                ns.sock.close()
                ns.sock = None


def _netlink_socket() -> socket.socket:
    return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_ROUTE)


def _peer(name: str | None, index: int, ns: _Ns) -> Peer:
    return Peer(name, index, ns.inode, ns.name, ns.ref, ns.current)


def _why(e: BaseException) -> str:
    if isinstance(e, PermissionDenied):
        return "permission denied (needs CAP_SYS_ADMIN)"
    if isinstance(e, VnetError):
        return e.message
    if isinstance(e, OSError) and e.errno in (errno.EPERM, errno.EACCES):
        return "permission denied (needs CAP_SYS_ADMIN)"
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    return str(e)


def _device(sc: Scanner, ns: _Ns, link: Link, holders: dict[tuple[int, str], list[Holder]],
            index: dict[tuple[int, int | None], list[tuple[_Ns, Link]]] | None) -> Device:
    info = ns.drv.get(link.index)
    ports = tuple(sorted(lk.name for lk in ns.links or () if lk.master == link.index)) if link.kind == "bridge" else ()
    tun_mode = None
    held = tuple(sorted(holders.get((ns.inode, link.name), ()), key=lambda h: (h.pid, h.fd)))
    if link.kind == "tun" and link.detail("tun_persist") == 0 and not held:
        sc.warnings.append(f"tun/tap {link.name} in {ns.label} is not persistent, so a process holds it, but none was found "
                           "(its holder's files are unreadable or it is in another pid namespace)")
    if link.kind == "tun":
        tun_type = link.detail("tun_type")
        tun_mode = {1: "tun", 2: "tap"}.get(tun_type if isinstance(tun_type, int) else 0, info.bus_info if info else None)
    return Device(
        name=link.name, ifindex=link.index, kind=link.kind,
        driver=info.driver if info else None, bus_info=info.bus_info if info else None,
        state=link.state, mtu=link.mtu, mac=link.mac,
        master=ns.names.get(link.master) if link.master else None,
        addresses=tuple(ns.addrs.get(link.index, ())),
        peer=sc.peer(ns, link, index) if link.kind == "veth" else None,
        holders=held,
        ports=ports, tun_mode=tun_mode, altnames=link.altnames,
        driver_version=info.version if info else None, netns_inode=ns.inode, link_type=ns.types.get(link.index),
        lower=sc.lower(ns, link) if link.kind in LOWER_KINDS else None, admin_up=link.up, carrier=link.carrier,
        vxlan=tuple((k, v) for k, v in link.details if k.startswith("vxlan_")) if link.kind == "vxlan" else (),
    )


def _namespace(sc: Scanner, ns: _Ns, devices: tuple[Device, ...]) -> Namespace:
    commands = tuple(sorted({procfs.comm(p) for p in ns.pids[:50]} - {""}))
    owners = sc.owners.of_pids(ns.pids) if sc.owners and not ns.current else ()
    return Namespace(name=ns.name, inode=ns.inode, pids=tuple(ns.pids), commands=commands, devices=devices,
                     paths=tuple(ns.paths), current=ns.current, ref=ns.ref, owners=owners, held=ns.held)


def host(netns: str | None = None, owners: bool = True) -> HostView:
    """The whole host (or the one namespace `netns` names), as inspect sees it (owners resolved unless told not to)."""
    return _view([netns] if netns else None, owners)


def _chunk() -> int:
    """CHUNK, or fewer when RLIMIT_NOFILE leaves less room (each open namespace costs a socket)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return CHUNK if soft == resource.RLIM_INFINITY else max(4, min(CHUNK, (soft - 48) // 2))


def _view(specs: list[str | None] | None, owners: bool = True) -> HostView:
    """Read the namespaces `specs` name (None: all of them); peers are resolved against the whole host."""
    sc = Scanner(owners=owners)
    try:
        chosen = list(dict.fromkeys(sc.find(spec) for spec in specs)) if specs is not None else sc.ordered()
        chunk = _chunk()
        many = len(chosen) > chunk
        for start in range(0, len(chosen), chunk):
            part = chosen[start:start + chunk]
            sc.open_all(part)
            for ns in part:
                sc.read(ns)
                if many and not ns.current:
                    sc.release(ns)  # bounded fds; reopened later only if a peer lookup needs it
        index: dict[tuple[int, int | None], list[tuple[_Ns, Link]]] = {}
        for ns in chosen:
            for lk in ns.links or ():
                if lk.kind == "veth":
                    index.setdefault((lk.index, lk.link), []).append((ns, lk))
        holders = sc.holders()
        spaces = tuple(_namespace(sc, ns, tuple(_device(sc, ns, lk, holders, index) for lk in ns.links or ()))
                       for ns in chosen)
        return HostView(spaces, tuple(dict.fromkeys(sc.warnings)))
    finally:
        sc.close()


def veths(netns: str | None = None, all_namespaces: bool = False,
          warnings: list[str] | None = None) -> list[dict[str, Any]]:
    """Every veth in one namespace (or, with all_namespaces, on the host) with its peer.

    What could not be seen (namespaces it could not enter) is added to `warnings`.
    """
    view = _view(None if all_namespaces else [netns])
    if warnings is not None:
        warnings.extend(view.warnings)
    out = []
    for ns in view.namespaces:
        for d in ns.devices:
            if d.kind != "veth":
                continue
            p = d.peer
            peer = {"name": p.name if p else None, "ifindex": p.ifindex if p else None,
                    "netns": p.netns_ref if p else None, "netns_inode": p.netns_inode if p else None}
            out.append({"netns": ns.ref, "netns_inode": ns.inode, "name": d.name, "ifindex": d.ifindex,
                        "state": d.state, "peer": peer})
    return out


def tun_holders(netns: str | None = None, warnings: list[str] | None = None) -> dict[str, list[Holder]]:
    """Processes holding each tun/tap device of one namespace, by device name.

    What could not be seen (processes whose open files are unreadable) is added to `warnings`.
    """
    sc = Scanner()
    try:
        ns = sc.find(netns)
        if warnings is not None and sc.proc.hidden_fds:
            warnings.append(f"cannot read the open files of {len(sc.proc.hidden_fds)} process(es) (needs root): "
                            "the HOLDERS column may be incomplete")
        if not sc.proc.tun_fds and not sc.proc.tap_fds:
            return {}
        sc.read(ns)
        return {name: sorted(hs, key=lambda h: (h.pid, h.fd)) for (inode, name), hs in sc.holders().items()
                if inode == ns.inode}
    finally:
        sc.close()


def device(dev: str, netns: str | None = None) -> Device:
    """One device with its peer (and the peer's namespace name), driver, bus-info and holders."""
    return lookup(dev, netns)[0]


def lookup(dev: str, netns: str | None = None, kind: str | tuple[str, ...] | None = None) -> tuple[Device, list[str]]:
    """device() (of link kind `kind`, or one of them, when given), with the warnings about what could not be seen."""
    sc = Scanner()
    try:
        ns, link = _find_link(sc, dev, netns, kind)
        holders = sc.holders() if link.kind in ("tun", "macvtap") else {}
        found = _device(sc, ns, link, holders, None)
        return found, list(dict.fromkeys(sc.warnings))
    finally:
        sc.close()


def _find_link(sc: Scanner, dev: str, netns: str | None, kind: str | tuple[str, ...] | None = None) -> tuple[_Ns, Link]:
    ns = sc.find(netns)
    sc.read(ns)
    if sc.socket_of(ns) is None:
        raise PermissionDenied(f"cannot enter {ns.label}", "needs CAP_SYS_ADMIN (run as root)")
    link = next((lk for lk in ns.links or () if lk.name == dev or dev in lk.altnames), None)
    if link is None:
        raise NotFound(f"device {dev!r} not found in {ns.label}", "see 'vnetctl inspect" + (f" -n {netns}'" if netns else "'"))
    wanted = (kind,) if isinstance(kind, str) else kind
    if wanted is not None and link.kind not in wanted:
        what = " or ".join({"tun": "tun/tap"}.get(k, k) for k in wanted)
        raise UsageError(f"{dev!r} is a {link.kind or 'physical'} device, not a {what}", f"give the name of a {what} device")
    return ns, link


def who(dev: str, netns: str | None = None) -> tuple[Who, list[str]]:
    """Device `dev`, its namespace's owners and, for a veth, the owners of the namespace at the other end."""
    sc = Scanner()
    try:
        ns, link = _find_link(sc, dev, netns)
        found = _device(sc, ns, link, sc.holders() if link.kind in ("tun", "macvtap") else {}, None)
        assert sc.owners is not None
        other = sc.spaces.get(found.peer.netns_inode) if found.peer and found.peer.netns_inode else None
        here = () if ns.current else sc.owners.of_pids(ns.pids)
        there = sc.owners.of_pids(other.pids) if other is not None and not other.current else ()
        return Who(found, ns.ref, ns.inode, here, there), list(dict.fromkeys(sc.warnings))
    finally:
        sc.close()


def tun_anywhere(dev: str) -> tuple[list[tuple[Namespace, Device]], list[str]]:
    """Every tun/tap named `dev` in every namespace, with its holders; NotFound/UsageError when there is none."""
    view = _view(None)
    found = [(ns, d) for ns in view.namespaces for d in ns.devices if d.name == dev or dev in d.altnames]
    taps = [(ns, d) for ns, d in found if d.kind in ("tun", "macvtap")]
    if not found:
        raise NotFound(f"device {dev!r} not found in any namespace", "see 'vnetctl inspect'")
    if not taps:
        raise UsageError(f"{dev!r} is a {found[0][1].kind or 'physical'} device, not a tun/tap or macvtap",
                         "give the name of a tun/tap or macvtap device")
    return taps, list(view.warnings)
