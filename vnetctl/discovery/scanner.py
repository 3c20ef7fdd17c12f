"""The Scanner: one reading of the host's namespaces, devices, veth peers, drivers and tun holders.

Namespaces come from five places (the current one, named ones, /proc/PID/ns/net, nsfs
bind mounts in mountinfo, and nsfs fds processes hold), deduplicated by inode. Each is
read through one NETLINK_ROUTE socket opened inside it (no process-wide setns): one link
dump, one address dump, and ethtool ioctls on the same socket. A veth whose peer is
elsewhere is asked about once per pair, from inside the reporting namespace (RTM_GETLINK
with IFLA_TARGET_NETNSID): the answer's MAC and ifindex single out the peer among the ends
read (match()); only a MAC seen twice costs RTM_GETNSID per candidate. Never index arithmetic.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass, field

from ..backend import ethtool, nsfind, nsocket, procfs, rtdump, rtnl
from ..backend import netns as nsb
from ..errors import PermissionDenied, VnetError
from ..model import Holder, Link, Peer
from ..owners import Resolver

LOWER_KINDS = ("macvlan", "macvtap", "vlan", "ipvlan", "ipvtap", "vxlan")  # devices stacked on a lower device


@dataclass(eq=False)
class Ns(nsfind.Found):
    """A namespace being read: what discovery found (where to open it, who holds it), and what was read inside."""

    sock: socket.socket | None = None
    links: list[Link] | None = None
    addrs: dict[int, list[str]] = field(default_factory=dict)
    types: dict[int, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    drv: dict[int, ethtool.DrvInfo | None] = field(default_factory=dict)
    peer_stat: dict[int, int | None] = field(default_factory=dict)
    nsids: dict[int, int | None] = field(default_factory=dict)
    asked: dict[int, rtdump.LinkId] = field(default_factory=dict)
    failed: bool = False

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
        self.spaces: dict[int, Ns] = {f.inode: Ns(f.inode, f.name, f.paths, f.pids, f.current, held=f.held, holder=f.holder)
                                       for f in self.found.spaces.values()}
        self.warnings.extend(self.found.warnings)
        self.peer_reader = ethtool.PeerIndexReader()
        self.peers: dict[tuple[int, int], tuple[str | None, Peer]] = {}
        # (peer's MAC, peer's ifindex, asker's ifindex) -> the veth ends that asked about that peer
        self.answers: dict[tuple[str | None, int, int], list[tuple[Ns, Link]]] = {}

    # discovery -----------------------------------------------------------------
    def _add(self, inode: int, path: str, name: str | None = None, current: bool = False) -> Ns:
        ns = self.spaces.get(inode)
        if ns is None:
            ns = self.spaces[inode] = Ns(inode)
        if name and not ns.name:
            ns.name = name
        if path not in ns.paths:
            ns.paths.append(path)
        ns.current = ns.current or current
        return ns

    def ordered(self) -> list[Ns]:
        """Namespaces in display order: current, named (by name), unnamed (by inode)."""
        return sorted(self.spaces.values(), key=lambda n: (not n.current, n.name is None, n.name or "", n.inode))

    def find(self, spec: str | None) -> Ns:
        """The namespace `-n spec` names (resolved like every -n), added if discovery missed it."""
        ref = nsb.resolve(spec)
        if ref is None:
            return self.spaces[nsb.current_inode()]
        ns = self.spaces.get(ref.inode) or self._add(ref.inode, ref.path, ref.name)
        if ref.name and ns.name != ref.name:
            ns.name = ref.name
        return ns

    # reading one namespace -------------------------------------------------------
    def socket_of(self, ns: Ns) -> socket.socket | None:
        """A NETLINK_ROUTE socket inside ns (opened once), or None with a warning."""
        if ns.sock is not None or ns.failed:
            return ns.sock
        errors: list[str] = []
        for path in ns.paths:
            try:
                ref = None if ns.current else nsb.NsRef(ns.name, path, ns.inode)
                ns.sock = nsb.call_in(ref, rtnl.open_socket)
                return ns.sock
            except (OSError, VnetError) as e:
                errors.append(_why(e))
        ns.failed = True
        self.warnings.append(f"cannot enter {ns.label} (inode {ns.inode}): {errors[-1] if errors else 'no path'}; "
                             "its devices are not shown")
        return None

    def open_all(self, spaces: list[Ns]) -> None:
        """Open a socket in every namespace of `spaces` at once (failures retried one by one later)."""
        todo = [ns for ns in spaces if ns.sock is None and not ns.failed and not ns.current and ns.paths]
        if len(todo) < 2:
            return
        got = nsocket.sockets_in([ns.paths[0] for ns in todo], rtnl.open_socket)
        for ns, sock in zip(todo, got, strict=True):
            if isinstance(sock, socket.socket):
                ns.sock = sock

    def read(self, ns: Ns) -> None:
        """Dump ns's devices and addresses and ask ethtool about each device."""
        if ns.links is not None:
            return
        sock = self.socket_of(ns)
        ns.links = []
        if sock is None:
            return
        try:
            typed = rtdump.links_typed(sock, ports=False)  # inspect shows no bridge-port attributes
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
                if link.kind == "veth" and info is not None and not link.link:
                    # ethtool's peer_ifindex, only where the kernel gives no IFLA_LINK (ioctls cost at scale)
                    ns.peer_stat[link.index] = self.peer_reader.read(fd, link.name, info)
            except OSError as e:
                if e.errno != errno.ENODEV:  # ENODEV: it vanished since the dump
                    self.warnings.append(f"ethtool on {link.name} in {ns.label}: {_why(e)}")
        self._ask_peers(ns, sock)

    # veth peers ---------------------------------------------------------------------
    def _ask_peers(self, ns: Ns, sock: socket.socket) -> None:
        """Ask ns about the far end of each veth whose peer lives elsewhere (one RTM_GETLINK with
        IFLA_TARGET_NETNSID each), unless that end already asked about this one."""
        for link in ns.links or ():
            if link.kind != "veth" or not link.link or link.link_netnsid is None or link.link_netnsid < 0:
                continue
            if (link.mac, link.index, link.link) in self.answers:
                continue  # a pair is symmetric: the other end's question answered this one too
            try:
                other = rtdump.link_id(sock, link.link, link.link_netnsid)
            except OSError:
                continue
            if other is not None:
                ns.asked[link.index] = other
                self.answers.setdefault((other.mac, other.ifindex, link.index), []).append((ns, link))

    def match(self, spaces: list[Ns], complete: bool) -> None:
        """Pair the veth ends of `spaces` by what the asking end learnt: its peer's MAC and ifindex.

        A MAC and ifindex seen twice (set by hand) are told apart by the asker's nsid for each
        candidate; with `complete` (every namespace of the host read), an end whose peer is in
        none of them is in a namespace nobody can see.
        """
        ends: dict[tuple[str | None, int, int | None], list[tuple[Ns, Link]]] = {}
        for ns in spaces:
            for lk in ns.links or ():
                if lk.kind == "veth":
                    ends.setdefault((lk.mac, lk.index, lk.link), []).append((ns, lk))
        for key, askers in self.answers.items():
            for ns, link in askers:
                cands = [(x, p) for x, p in ends.get(key, ()) if x is not ns]
                if len(cands) > 1:
                    cands = [(x, p) for x, p in cands if self.nsid(ns, x) == link.link_netnsid]
                if len(cands) == 1:
                    x, p = cands[0]
                    self.peers[(ns.inode, link.index)] = (link.name, _peer(p.name, p.index, x))
                    self.peers[(x.inode, p.index)] = (p.name, _peer(link.name, link.index, ns))
                elif not cands and complete:
                    other = ns.asked[link.index]
                    self.peers[(ns.inode, link.index)] = (link.name, Peer(other.name, other.ifindex, None, None))
                    self.warnings.append(_unseen(link, ns))

    def nsid(self, reporter: Ns, other: Ns) -> int | None:
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

    def peer(self, ns: Ns, link: Link, index: dict[tuple[int, int | None], list[tuple[Ns, Link]]] | None = None
             ) -> Peer | None:
        """The other end of veth `link` in ns: its name, ifindex and namespace."""
        stat = ns.peer_stat.get(link.index)
        if stat is not None and link.link and stat != link.link:
            self.warnings.append(f"{link.name} in {ns.label}: ethtool peer_ifindex {stat} disagrees with "
                                 f"IFLA_LINK {link.link}; using IFLA_LINK")
        known = self.peers.get((ns.inode, link.index))
        if known is not None and known[0] == link.name:
            return known[1]
        found = self._peer(ns, link, index)
        if found is not None and found.netns_inode is not None:
            # A veth pair is symmetric: the other end's peer is this one.
            self.peers[(found.netns_inode, found.ifindex)] = (found.name, _peer(link.name, link.index, ns))
        return found

    def _peer(self, ns: Ns, link: Link, index: dict[tuple[int, int | None], list[tuple[Ns, Link]]] | None) -> Peer | None:
        stat = ns.peer_stat.get(link.index)
        peer_index = link.link or stat
        if not peer_index:
            return None
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
        self.warnings.append(_unseen(link, ns))
        return Peer(other.name if other else None, peer_index, None, None)

    def lower(self, ns: Ns, link: Link) -> Peer | None:
        """The lower device of a macvlan/vlan/vxlan... and its namespace (IFLA_LINK or IFLA_VXLAN_LINK + IFLA_LINK_NETNSID)."""
        index = link.detail("vxlan_link") if link.kind == "vxlan" else link.link
        if not isinstance(index, int) or index <= 0:
            return None
        return self._peer(ns, Link(link.name, link.index, link.kind, link.mtu, link.state, link.up, link.mac,
                                   link=index, link_netnsid=link.link_netnsid), None)

    def name_in(self, ns: Ns, index: int) -> str | None:
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

    def release(self, ns: Ns) -> None:
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


def _peer(name: str | None, index: int, ns: Ns) -> Peer:
    return Peer(name, index, ns.inode, ns.name, ns.ref, ns.current)


def _unseen(link: Link, ns: Ns) -> str:
    return (f"the peer of {link.name} in {ns.label} is in a namespace not found on this host "
            f"(nsid {link.link_netnsid}; held by a process or mount we cannot see)")


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
