"""rtnetlink in one namespace (the Netlink handle), with typed calls and error mapping.

Which path does what:
- reading (links, one link, addresses, nsids) goes through backend.rtdump, the one link
  decoder (IFLA_INFO_DATA by backend.ifla's per-kind table), on a raw socket;
- the hot, simple changes (set/delete a link, altnames, addresses, a plain veth or
  bridge) go through backend.rtnl on the same socket;
- pyroute2 earns its place for creating devices with options (vxlan, vlan, macvlan...)
  and for routes; it is imported only then.
Dumps, raw or pyroute2's, share one retry policy (rtnl.retried).
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import AlreadyExists, BackendError, Busy, NotFound, PermissionDenied, Unsupported, VnetError
from ..model import Address, Link, Route
from . import rtdump, rtnl
from .netns import NsRef, call_in
from .rtnl import DUMP_RETRIES, NLM_F_DUMP_INTR

__all__ = ["DUMP_RETRIES", "NLM_F_DUMP_INTR", "Netlink", "dump", "kernel", "kernel_error", "netlink_socket"]


def netlink_errors() -> tuple[type[Exception], ...]:
    """The netlink error types in play: rtnl's always, pyroute2's once it has been loaded.

    pyroute2 is imported only when a request needs it (dumps, device creation with options,
    routes), so commands that never do start without its ~100 ms of imports.
    """
    mod = sys.modules.get("pyroute2.netlink.exceptions")
    return (rtnl.NetlinkError, mod.NetlinkError) if mod is not None else (rtnl.NetlinkError,)


def kernel_error(e: Any, what: str) -> VnetError:
    """Map a netlink error (errno + extack text) to the VnetError an operator should see."""
    code = e.code
    text = ""
    if len(e.args) > 1 and isinstance(e.args[1], str) and e.args[1] != errno.errorcode.get(code):
        text = e.args[1]
    name = errno.errorcode.get(code, str(code))
    detail = f"{what}: {name}" + (f" ({text})" if text and text != os.strerror(code) else "")
    if code == errno.EEXIST:
        return AlreadyExists(detail, "it is already there; see 'vnetctl link show'")
    if code in (errno.ENODEV, errno.ENOENT, errno.ESRCH):
        return NotFound(detail, "check the name with 'vnetctl link show'")
    if code in (errno.EPERM, errno.EACCES):
        return PermissionDenied(detail, "needs CAP_NET_ADMIN (run as root); nothing was changed")
    if code == errno.EOPNOTSUPP and "Unknown device type" in text:
        return Unsupported(detail, "this kernel lacks the driver for that device type")
    if code == errno.EBUSY:
        return Busy(detail, "the device is in use")
    return BackendError(f"{what}: {text}" if text else what, code)


@contextmanager
def kernel(what: str) -> Iterator[None]:
    """Turn a NetlinkError raised inside the block into a VnetError about `what`."""
    try:
        yield
    except netlink_errors() as e:
        raise kernel_error(e, what) from None


def dump(request: Callable[[], Iterable[Any]], what: str) -> list[Any]:
    """Run a pyroute2 dump under rtnl.retried; an error becomes the VnetError about `what`.

    pyroute2 passes NLM_F_DUMP_INTR on without acting on it, or raises
    NetlinkDumpInterrupted, or the kernel fails the dump with EINTR: all three are retried.
    """
    from pyroute2.netlink.exceptions import NetlinkDumpInterrupted, NetlinkError

    def once() -> list[Any]:
        try:
            msgs = list(request())
        except NetlinkDumpInterrupted:
            raise InterruptedError(errno.EINTR, "dump interrupted") from None
        except NetlinkError as e:
            if e.code == errno.EINTR:
                raise InterruptedError(errno.EINTR, "dump interrupted") from None
            raise kernel_error(e, what) from None
        if any(m["header"].get("flags", 0) & NLM_F_DUMP_INTR for m in msgs if "header" in m):
            raise InterruptedError(errno.EINTR, "dump interrupted")
        return msgs

    with dumping(what):
        return rtnl.retried(once)


@contextmanager
def dumping(what: str) -> Iterator[None]:
    """Turn a dump's errors inside the block (interrupted every time, or refused) into the VnetError about `what`."""
    try:
        yield
    except InterruptedError:
        raise BackendError(f"{what}: the dump was interrupted {DUMP_RETRIES} times by concurrent changes",
                           errno.EINTR, "try again when the churn settles") from None
    except rtnl.NetlinkError as e:
        raise kernel_error(e, what) from None


def _attr(msg: Any, name: str) -> Any:
    return msg.get_attr(name) if hasattr(msg, "get_attr") else msg.get(name)


def netlink_socket(ns: NsRef | None) -> socket.socket:
    """A NETLINK_ROUTE socket bound to namespace ns, opened without creating anything (rtnl.open_socket)."""
    return call_in(ns, rtnl.open_socket)


class Netlink:
    """rtnetlink calls inside one namespace."""

    def __init__(self, ns: NsRef | None) -> None:
        self.ns = ns
        self._ipr: Any = None
        self._sock: socket.socket | None = None
        self._index: dict[str, int] = {}

    @property
    def ipr(self) -> Any:
        """pyroute2's IPRoute in this namespace, opened on first use (dumps, device creation, routes)."""
        if self._ipr is None:
            from pyroute2 import IPRoute

            self._ipr = IPRoute(use_socket=netlink_socket(self.ns), ext_ack=True)
        return self._ipr

    @property
    def sock(self) -> socket.socket:
        """A raw rtnetlink socket in this namespace for the simple, frequent requests (backend.rtnl)."""
        if self._sock is None:
            self._sock = call_in(self.ns, rtnl.open_socket)
        return self._sock

    def close(self) -> None:
        """Release the sockets."""
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @property
    def where(self) -> str:
        """The namespace as words for messages."""
        if self.ns is None:
            return ""
        return f" in namespace {self.ns.name or self.ns.path}"

    # links -------------------------------------------------------------
    def links(self) -> list[Link]:
        """Every device in this namespace."""
        with dumping("cannot list devices" + self.where):
            return rtdump.links(self.sock)

    def link(self, name: str) -> Link | None:
        """The device called `name` (or with that altname), or None."""
        try:
            found = rtdump.get_link(self.sock, name=name)
            if found is not None and found.name == name:
                self._index[name] = found.index
            return found
        except rtnl.NetlinkError as e:
            if e.code in (errno.ENODEV, errno.ENOENT, errno.EINVAL):
                return None
            raise kernel_error(e, f"cannot read device {name}{self.where}") from None

    def nsid_of(self, ref: NsRef | None) -> int | None:
        """The nsid this namespace gives namespace `ref` (None: the current one), if it gave one."""
        fd = os.open(ref.path if ref else "/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return rtdump.nsid_of(self.sock, fd)
        finally:
            os.close(fd)

    def link_by_index(self, index: int) -> Link | None:
        """The device with ifindex `index`, or None."""
        try:
            return rtdump.get_link(self.sock, index=index)
        except rtnl.NetlinkError as e:
            if e.code in (errno.ENODEV, errno.ENOENT):
                return None
            raise kernel_error(e, f"cannot read device {index}{self.where}") from None

    def index_of(self, name: str) -> int:
        """The ifindex of device `name`, remembered from earlier answers on this handle (else asked)."""
        index = self._index.get(name)
        return index if index is not None else self.require(name).index

    def require(self, name: str) -> Link:
        """The device called `name`, or NotFound."""
        found = self.link(name)
        if found is None:
            raise NotFound(f"device {name!r} not found{self.where}", "see 'vnetctl link show'")
        return found

    def add_link(self, name: str, kind: str, data: dict[str, Any] | None = None, ns_fd: int | None = None,
                 peer: str | None = None, peer_ns_fd: int | None = None, link: int | None = None,
                 index: int = 0, peer_index: int = 0) -> None:
        """Create a device of `kind` (in ns_fd if given); a veth gets `peer`, optionally in peer_ns_fd.

        A non-zero index (peer_index) asks for that ifindex: the kernel refuses one that is taken.
        """
        spec: dict[str, Any] = {"ifname": name, "kind": kind}
        if index:
            spec["index"] = index
        if ns_fd is not None:
            spec["net_ns_fd"] = ns_fd
        if data:
            spec.update(data)
        if link is not None:
            spec["link"] = link
        if peer is not None:
            p: dict[str, Any] = {"ifname": peer}
            if peer_index:
                p["index"] = peer_index
            if peer_ns_fd is not None:
                p["net_ns_fd"] = peer_ns_fd
            spec["peer"] = p
        with kernel(f"cannot create {kind} {name}{self.where}"):
            if kind in ("veth", "bridge") and not data and link is None:
                rtnl.add_plain(self.sock, name, kind, ns_fd, peer, peer_ns_fd, index, peer_index)
            else:
                self.ipr.link("add", **spec)

    def del_link(self, index: int, name: str) -> None:
        """Delete a device."""
        self._index.pop(name, None)
        with kernel(f"cannot delete device {name}{self.where}"):
            rtnl.del_link(self.sock, index)

    def set_link(self, index: int, name: str, *, up: bool | None = None, mtu: int | None = None,
                 master: int | None = None, ns_fd: int | None = None, new_name: str | None = None,
                 alias: str | None = None, address: str | None = None, txqlen: int | None = None,
                 addrgenmode: str | None = None) -> None:
        """Change a device: state, mtu, master (0 = none), namespace, name, alias, MAC, txqueuelen, IPv6 addrgenmode.

        index 0 means by name.
        """
        if ns_fd is not None or new_name is not None:
            self._index.pop(name, None)
        mac = bytes.fromhex(address.replace(":", "")) if address is not None else None
        with kernel(f"cannot change device {name}{self.where}"):
            rtnl.set_link(self.sock, index, up=up, mtu=mtu, master=master, ns_fd=ns_fd, new_name=new_name, name=name,
                          alias=alias, address=mac, txqlen=txqlen, addrgenmode=addrgenmode)

    def stats(self) -> dict[int, dict[str, int]]:
        """Every device's counters (what `ip -s link` prints), by ifindex."""
        with dumping("cannot read device statistics" + self.where):
            return rtdump.stats(self.sock)

    def add_altname(self, index: int, name: str, altname: str) -> None:
        """Give a device an alternative name (used as the ownership marker)."""
        with kernel(f"cannot add altname {altname} to {name}{self.where}"):
            rtnl.add_altname(self.sock, index, altname, name=name)

    def wait_gone(self, name: str, timeout: float = 5.0) -> bool:
        """Poll until device `name` is gone (netns teardown deletes peers asynchronously)."""
        deadline = time.monotonic() + timeout
        delay = 0.002
        while self.link(name) is not None:
            if time.monotonic() > deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        return True

    # addresses -----------------------------------------------------------
    def addresses(self, index: int | None = None) -> list[Address]:
        """IP addresses, of one device or all."""
        with dumping("cannot list addresses" + self.where):
            found = rtdump.addresses(self.sock)
        return [a for a in found if index is None or a.ifindex == index]

    def add_addr(self, index: int, name: str, cidr: str) -> None:
        """Add address cidr to a device (IPv4 with the subnet's broadcast, like `ip addr add ... brd +`)."""
        with kernel(f"cannot add {cidr} to {name}{self.where}"):
            rtnl.add_addr(self.sock, index, cidr)

    def del_addr(self, index: int, name: str, cidr: str) -> None:
        """Remove address cidr from a device."""
        with kernel(f"cannot remove {cidr} from {name}{self.where}"):
            rtnl.del_addr(self.sock, index, cidr)

    # forwarding database -----------------------------------------------------
    def append_fdb(self, index: int, name: str, mac: str, dst: str) -> None:
        """Append a forwarding entry to a VXLAN device: frames for mac go to dst (`bridge fdb append`)."""
        with kernel(f"cannot add forwarding entry {mac} dst {dst} to {name}{self.where}"):
            self.ipr.fdb("append", ifindex=index, lladdr=mac, dst=dst)

    def del_fdb(self, index: int, name: str, mac: str, dst: str) -> None:
        """Delete one forwarding entry of a device."""
        with kernel(f"cannot delete forwarding entry {mac} dst {dst} of {name}{self.where}"):
            self.ipr.fdb("del", ifindex=index, lladdr=mac, dst=dst)

    # routes ----------------------------------------------------------------
    def routes(self, table: int | None = 254, family: int | None = None) -> list[Route]:
        """Unicast routes of one table (None: every table), IPv4 and IPv6 or one family."""
        names = {link.index: link.name for link in self.links()}
        kw: dict[str, Any] = {} if table is None else {"table": table}
        if family is not None:
            kw["family"] = family
        msgs = dump(lambda: self.ipr.route("dump", **kw), "cannot list routes" + self.where)
        out = [_route(m, names) for m in msgs if m["type"] == 1]  # only unicast routes, as `ip route show`
        return [r for r in out if table is None or r.table == _table_name(table)]

    def route_get(self, dst: str) -> Route:
        """The route the kernel would take to dst (ip route get)."""
        fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
        with kernel(f"cannot get a route to {dst}{self.where}"):
            msgs = self.ipr.route("get", dst=dst, family=fam)
        names = {link.index: link.name for link in self.links()}
        return dataclasses.replace(_route(msgs[0], names), dst=dst)

    def add_route(self, dst: str, gateway: str | None, oif: int | None, table: int = 254, family: int | None = None) -> None:
        """Add a route to dst (a CIDR or 'default') via gateway and/or device."""
        spec = _route_spec(dst, gateway, oif, table, family)
        with kernel(f"cannot add route {dst}{self.where}"):
            self.ipr.route("add", **spec)

    def del_route(self, dst: str, gateway: str | None = None, oif: int | None = None, table: int = 254,
                  family: int | None = None) -> None:
        """Delete the route to dst (the one via gateway / out of oif, when given)."""
        spec = _route_spec(dst, gateway, oif, table, family)
        with kernel(f"cannot delete route {dst}{self.where}"):
            self.ipr.route("del", **spec)


def _route(m: Any, names: dict[int, str]) -> Route:
    dst = _attr(m, "RTA_DST")
    dst_s = f"{dst}/{m['dst_len']}" if dst else ("default" if m["dst_len"] == 0 else "?")
    oif = _attr(m, "RTA_OIF")
    table = _attr(m, "RTA_TABLE") or m["table"]
    return Route(dst_s, _attr(m, "RTA_GATEWAY"), names.get(oif) if oif else None, _proto_name(m["proto"]),
                 _scope_name(m["scope"]), "inet6" if m["family"] == socket.AF_INET6 else "inet", _table_name(table),
                 _attr(m, "RTA_PREFSRC"))


_TABLES = {254: "main", 255: "local", 253: "default"}


def _table_name(t: int) -> str:
    return _TABLES.get(t, str(t))


def _route_spec(dst: str, gateway: str | None, oif: int | None, table: int = 254,
                family: int | None = None) -> dict[str, Any]:
    if dst == "default":
        fam = family or (socket.AF_INET6 if gateway and ":" in gateway else socket.AF_INET)
        spec: dict[str, Any] = {"dst": "0.0.0.0/0" if fam == socket.AF_INET else "::/0", "family": fam}
    else:
        net = ipaddress.ip_network(dst, strict=False)
        spec = {"dst": str(net), "family": socket.AF_INET if net.version == 4 else socket.AF_INET6}
    if gateway:
        spec["gateway"] = gateway
    if oif is not None:
        spec["oif"] = oif
    if table != 254:
        spec["table"] = table
    return spec


_PROTOS = {0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static", 16: "dhcp"}
_SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}


def _proto_name(p: int) -> str:
    return _PROTOS.get(p, str(p))


def _scope_name(s: int) -> str:
    return _SCOPES.get(s, str(s))
