"""The public operations, one function per CLI command; the CLI only parses and renders.

Mutating functions build Steps and run them (or, with dry_run, only return them);
read functions return plain data from vnetctl.model.
"""

from __future__ import annotations

import inspect
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import discovery, kinds
from .backend import netns as nsb
from .backend import nsfind
from .backend import tun as tunb
from .backend.procfs import comm
from .errors import AlreadyExists, NotFound, UsageError, VnetError
from .model import Address, Link, Route
from .names import check_ifname, check_netns
from .ops.addr import AddrAdd, AddrDel
from .ops.link import LinkAdd, LinkDel, LinkSet
from .ops.link_props import LinkProp
from .ops.netns import NetnsAdd, NetnsDel
from .ops.qdisc import Shape, require_netem
from .ops.route import FAMILIES, RouteAdd, RouteDel, check_table
from .ops.tuntap import TuntapAdd
from .steps import Session, Step, execute


def run(steps: list[Step], dry_run: bool = False) -> list[Step]:
    """Execute Steps transactionally (or not at all with dry_run); return them.

    Every namespace the Steps name must exist before anything changes: opening one
    never creates it.
    """
    if not dry_run:
        for step in steps:
            for spec in step.namespaces():
                nsb.resolve(spec)
        execute(steps)
    return steps


# namespaces ----------------------------------------------------------------
def netns_add(name: str, dry_run: bool = False) -> list[Step]:
    """Create a named namespace."""
    return run([NetnsAdd(check_netns(name))], dry_run)


def netns_del(name: str, force: bool = False, dry_run: bool = False) -> list[Step]:
    """Delete a named namespace (refused while processes are inside unless force)."""
    check_netns(name)
    if not dry_run:
        nsb.resolve(name)
    return run([NetnsDel(name, force)], dry_run)


def netns_list(all_: bool = False, warnings: list[str] | None = None) -> list[dict[str, Any]]:
    """Named namespaces, and with all_ every other one the host holds (by a process, thread, fd, socket or mount).

    What could not be seen (processes whose namespace is unreadable) is added to `warnings`.
    """
    found = nsfind.discover(fds=all_, sockets=all_)
    found.close()
    if found.proc.hidden_ns and warnings is not None:
        warnings.append(f"cannot see the network namespace of {len(found.proc.hidden_ns)} process(es) (needs CAP_SYS_PTRACE "
                        "or root): " + ("namespaces only they hold are missing and " if all_ else "")
                        + "the PIDS column may be incomplete")
    if all_ and warnings is not None:
        warnings.extend(w for w in found.warnings if "open files" in w)
    named: dict[int, list[str]] = {}
    for ref in nsb.list_named():
        named.setdefault(ref.inode, []).append(ref.name or "")
    out = []
    for f in found.spaces.values():
        if f.inode not in named and not all_:
            continue
        names = named.get(f.inode, [])
        out.append({"name": names[0] if names else None, "inode": f.inode, "names": names, "pids": f.pids,
                    "current": f.current, "held": None if f.pids else f.held,
                    "commands": sorted({comm(p) for p in f.pids[:50]} - {""})})
    return sorted(out, key=lambda e: (e["name"] is None, e["name"] or "", e["inode"]))


def netns_identify(pid: int) -> list[str]:
    """The names of the namespace process pid is in (ip netns identify); empty when it has none."""
    inode = nsb.resolve(f"pid:{pid}")
    assert inode is not None
    return [ref.name for ref in nsb.list_named() if ref.inode == inode.inode and ref.name]


# devices ---------------------------------------------------------------------
def veth_add(name: str, peer: str, netns: str | None = None, peer_netns: str | None = None,
             addr: str | None = None, peer_addr: str | None = None, up: bool = False,
             dry_run: bool = False) -> list[Step]:
    """Create a veth pair with each end directly in its namespace, optionally addressed and up."""
    steps: list[Step] = [LinkAdd(name, "veth", netns=netns, peer=peer, peer_netns=peer_netns)]
    if addr:
        steps.append(AddrAdd(addr, name, netns))
    if peer_addr:
        steps.append(AddrAdd(peer_addr, peer, peer_netns))
    if up or addr or peer_addr:
        steps += [LinkSet(name, "up", True, netns), LinkSet(peer, "up", True, peer_netns)]
    return run(steps, dry_run)


def link_del(name: str, netns: str | None = None, kinds: tuple[str, ...] = (), dry_run: bool = False,
             force: bool = True) -> list[Step]:
    """Delete a device (only of `kinds`, when given); without force a tun/tap a process holds is refused."""
    check_ifname(name)
    with located(name, netns):
        return run([LinkDel(name, netns, kinds=kinds, held_ok=force)], dry_run)


@contextmanager
def located(dev: str, netns: str | None) -> Iterator[None]:
    """A device that is not found here but exists in another namespace: say where, and the -n that reaches it."""
    try:
        yield
    except NotFound as e:
        if f"{dev!r}" not in e.message:
            raise
        where = _namespaces_with(dev, netns)
        if where:
            e.hint = "it is in " + " and ".join(f"namespace {w}: add -n {w}" if w else "this namespace: leave out -n"
                                              for w in where[:3])
        raise


def bridge_add(name: str, netns: str | None = None, stp: bool = False, up: bool = True,
               dry_run: bool = False) -> list[Step]:
    """Create a bridge (up by default, as a bridge is useless down)."""
    steps: list[Step] = [LinkAdd(name, "bridge", netns=netns, options=(("stp", True),) if stp else ())]
    if up:
        steps.append(LinkSet(name, "up", True, netns))
    return run(steps, dry_run)


def bridge_addif(bridge: str, dev: str, netns: str | None = None, dry_run: bool = False) -> list[Step]:
    """Enslave a device to a bridge (brctl addif) and bring it up."""
    if not dry_run:
        _require_kind(bridge, netns, "bridge")
        with Session() as s:
            nl = s.nl(netns)
            if nl.require(dev).master == nl.require(bridge).index:  # adding what is there is a conflict, as for addresses
                raise AlreadyExists(f"{dev!r} is already a port of bridge {bridge!r}", f"see 'vnetctl bridge show {bridge}'")
    return run([LinkSet(dev, "master", check_ifname(bridge), netns), LinkSet(dev, "up", True, netns)], dry_run)


def bridge_delif(bridge: str, dev: str, netns: str | None = None, dry_run: bool = False) -> list[Step]:
    """Release a device from its bridge (brctl delif)."""
    if not dry_run:
        _require_kind(bridge, netns, "bridge")
        with Session() as s:
            nl = s.nl(netns)
            link, br = nl.require(dev), nl.require(bridge)
            if link.master != br.index:
                raise NotFound(f"{dev!r} is not a port of bridge {bridge!r}", f"see 'vnetctl bridge show {bridge}'")
    return run([LinkSet(dev, "master", "", netns)], dry_run)


def bridges(netns: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
    """Bridges in a namespace, each with its ports (like `brctl show`)."""
    links_ = links(netns)
    by_index = {link.index: link for link in links_}
    out = []
    for br in links_:
        if br.kind != "bridge" or (name and br.name != name):
            continue
        ports = sorted(link.name for link in links_ if link.master == br.index)
        out.append({"name": br.name, "ifindex": br.index, "state": br.state, "mac": br.mac,
                     "stp": bool(br.detail("br_stp_state", 0)), "ports": ports, "link_state": br.link_state})
    if name and not out:
        found = next((lk for lk in by_index.values() if lk.name == name), None)
        raise NotFound(f"bridge {name!r} not found" + (f" ({name} is a {found.kind or 'physical'} device)" if found else ""),
                       "see 'vnetctl bridge show'")
    return out


def tuntap_add(name: str, mode: str, netns: str | None = None, user: str | None = None,
               group: str | None = None, multi_queue: bool = False, dry_run: bool = False) -> list[Step]:
    """Create a persistent tun/tap device (like `ip tuntap add`)."""
    return run([TuntapAdd(name, mode, netns, user, group, multi_queue)], dry_run)


def tuntaps(netns: str | None = None, warnings: list[str] | None = None) -> list[dict[str, Any]]:
    """tun/tap devices in a namespace with their mode, flags, owner and holders (what could not be seen: `warnings`)."""
    out: list[dict[str, Any]] = []
    for link in links(netns):
        if link.kind != "tun":
            continue
        out.append({"name": link.name, "ifindex": link.index, "mode": "tap" if link.detail("tun_type") == 2 else "tun",
                    "state": link.state, "persist": bool(link.detail("tun_persist", 0)),
                    "multi_queue": bool(link.detail("tun_multi_queue", 0)), "owner": link.detail("tun_owner"),
                    "group": link.detail("tun_group"), "vnet_hdr": bool(link.detail("tun_vnet_hdr", 0)),
                    "link_state": link.link_state})
    if out:
        held = discovery.tun_holders(netns, warnings)
        for entry in out:
            entry["holders"] = [{"pid": h.pid, "comm": h.comm, "fd": h.fd} for h in held.get(str(entry["name"]), [])]
    return out


def veths(netns: str | None = None, all_namespaces: bool = False,
          warnings: list[str] | None = None) -> list[dict[str, Any]]:
    """veths in a namespace (or on the whole host) with their peer's name, ifindex and namespace."""
    return discovery.veths(netns, all_namespaces, warnings)


def link_add(name: str, kind: str, lower: str | None = None, netns: str | None = None, dry_run: bool = False,
             **options: Any) -> list[Step]:
    """Create a device of any registered kind (vnetctl.kinds) with its options, e.g. vni=42 for vxlan."""
    declared = kinds.get(kind)
    values = declared.step_options(options) if declared else tuple(options.items())
    unknown = set(options) - set(declared.names()) if declared else set()
    return run([LinkAdd(name, kind, netns=netns, options=values + tuple((k, options[k]) for k in sorted(unknown)),
                        lower=lower)], dry_run)


def tunnel_add(name: str, kind: str, options: list[tuple[str, Any]], lower: str | None = None,
               netns: str | None = None, dry_run: bool = False) -> list[Step]:
    """Create a device of `kind` from (option, value) pairs (the older spelling of link_add)."""
    return link_add(name, kind, lower=lower, netns=netns, dry_run=dry_run, **dict(options))


def kind_devices(kind: str, netns: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
    """Devices of a registered kind with their options read back from the kernel (one, or all)."""
    declared = kinds.get(kind)
    if declared is None:
        raise UsageError(f"unknown device type {kind!r}", "see 'vnetctl --help'")
    all_links = links(netns)
    names = {lk.index: lk.name for lk in all_links}
    out = []
    for lk in all_links:
        if lk.kind != kind or (name and lk.name != name):
            continue
        details = dict(lk.details)
        entry: dict[str, Any] = {"name": lk.name, "ifindex": lk.index, "state": lk.state}
        if declared.lower_attr:
            lower = details.get(declared.lower_attr) if declared.lower_attr != "link" else lk.link
            entry[declared.lower_flag] = names.get(lower) if isinstance(lower, int) and lower else None
        entry.update(declared.read(details))
        out.append(entry)
    if name and not out:
        raise NotFound(f"{kind} device {name!r} not found", f"see 'vnetctl {kind} show'")
    return out


def _kind_adder(kind: str) -> Any:
    """The API function KIND_add(name, *, OPTION=..., LOWER=..., netns, dry_run) of a registered kind."""
    declared = kinds.get(kind)
    assert declared is not None
    flag = declared.lower_flag if declared.lower_attr else None

    def add(name: str, netns: str | None = None, dry_run: bool = False, **options: Any) -> list[Step]:
        lower = options.pop(flag, None) if flag else None
        return link_add(name, kind, lower=lower, netns=netns, dry_run=dry_run, **options)

    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str)]
    params += [inspect.Parameter(o.name, keyword, default=o.default) for o in declared.options]
    params += [inspect.Parameter(flag, keyword, default=None)] if flag else []
    params += [inspect.Parameter("netns", keyword, default=None), inspect.Parameter("dry_run", keyword, default=False)]
    add.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    add.__name__ = add.__qualname__ = f"{kind}_add"
    add.__doc__ = f"Create a {kind} device, e.g. {kind}_add(NAME, {', '.join(f'{o}=...' for o in declared.names())})."
    return add


vxlan_add = _kind_adder("vxlan")
vlan_add = _kind_adder("vlan")
gretap_add = _kind_adder("gretap")
macvlan_add = _kind_adder("macvlan")
macvtap_add = _kind_adder("macvtap")


def link_set(name: str, netns: str | None = None, up: bool | None = None, mtu: int | None = None,
             master: str | None = None, nomaster: bool = False, to_netns: str | None = None,
             new_name: str | None = None, dry_run: bool = False, alias: str | None = None, address: str | None = None,
             txqueuelen: int | None = None, shape: dict[str, Any] | None = None, addrgenmode: str | None = None) -> list[Step]:
    """Change a device: name, mtu, alias, MAC, txqueuelen, addrgenmode, shaping, master, namespace, then state (in its new place).

    shape: Shape's fields (rate in bit/s, 0 removes the limit; burst; delay_ms, jitter_ms, loss_pct).
    """
    check_ifname(name)
    if master is not None and nomaster:
        raise UsageError("--master and --nomaster contradict each other", "give one of them")
    steps: list[Step] = []
    current, where = name, netns
    if new_name is not None:
        steps.append(LinkSet(current, "name", new_name, where))
        current = new_name
    if mtu is not None:
        steps.append(LinkSet(current, "mtu", mtu, where))
    steps += [LinkProp(current, attr, value, where) for attr, value in (("alias", alias), ("address", address),
              ("txqueuelen", txqueuelen), ("addrgenmode", addrgenmode)) if value is not None]
    if shape is not None:
        step = Shape(current, where, **shape)
        if step.netem:
            require_netem()
        steps.append(step)
    if master is not None or nomaster:
        steps.append(LinkSet(current, "master", check_ifname(master) if master else "", where))
    if to_netns is not None:
        target = None if to_netns in ("", "1", "host") else to_netns
        steps.append(LinkSet(current, "netns", target, where))
        where = target
    if up is not None:
        steps.append(LinkSet(current, "up", up, where))
    if not steps:
        raise UsageError(f"nothing to change on {name!r}", "give --up, --down, --mtu, --master, --nomaster, --to-netns, "
                         "--name, --alias, --address, --txqueuelen, --addrgenmode or --rate")
    with located(name, netns):
        return run(steps, dry_run)


def link_stats(netns: str | None = None) -> dict[int, dict[str, int]]:
    """Every device's counters (rx/tx bytes, packets, errors, dropped...), by ifindex, as `ip -s link` reads them."""
    with Session() as s:
        return s.nl(netns).stats()


def root_qdiscs(netns: str | None = None) -> dict[int, dict[str, Any]]:
    """Every device's root qdisc (kind, handle; rate in bit/s and burst in bytes for tbf), by ifindex."""
    from .backend import tc
    with Session() as s:
        return tc.root_qdiscs(s.nl(netns))


def links(netns: str | None = None) -> list[Link]:
    """Every device in a namespace."""
    with Session() as s:
        return s.nl(netns).links()


def link(name: str, netns: str | None = None) -> Link:
    """One device, or NotFound."""
    with located(name, netns), Session() as s:
        return s.nl(netns).require(check_ifname(name))


# addresses and routes --------------------------------------------------------------
def addr_add(cidr: str, dev: str, netns: str | None = None, dry_run: bool = False) -> list[Step]:
    """Add an address to a device."""
    with located(dev, netns):
        return run([AddrAdd(cidr, check_ifname(dev), netns)], dry_run)


def addr_del(cidr: str, dev: str, netns: str | None = None, dry_run: bool = False) -> list[Step]:
    """Remove an address from a device."""
    with located(dev, netns):
        return run([AddrDel(cidr, check_ifname(dev), netns)], dry_run)


def addr_flush(dev: str, netns: str | None = None, family: str | None = None, dry_run: bool = False) -> list[Step]:
    """Remove every address (of one family, 'inet'/'inet6', when given) from a device, transactionally."""
    want = {"inet": 2, "inet6": 10}.get(family or "")
    with located(dev, netns):
        found = addresses(dev, netns)[0][1]
        return run([AddrDel(a.cidr, dev, netns) for a in found if want is None or a.family == want], dry_run)


def addresses(dev: str | None = None, netns: str | None = None) -> list[tuple[Link, list[Address]]]:
    """Devices (one, or all) with their addresses."""
    with Session() as s:
        nl = s.nl(netns)
        all_links = [nl.require(check_ifname(dev))] if dev else nl.links()
        addrs = nl.addresses()
    return [(lk, [a for a in addrs if a.ifindex == lk.index]) for lk in all_links]


def route_add(dest: str, via: str | None = None, dev: str | None = None, netns: str | None = None,
              dry_run: bool = False, table: str | int = "main", family: str | None = None) -> list[Step]:
    """Add a route (family 'inet'/'inet6' only matters for a default route without a gateway)."""
    return run([RouteAdd(dest, via, dev and check_ifname(dev), netns, check_table(table), family)], dry_run)


def route_del(dest: str, netns: str | None = None, dry_run: bool = False, via: str | None = None,
              dev: str | None = None, table: str | int = "main", family: str | None = None) -> list[Step]:
    """Delete a route; a default route of the one family that has one, unless family says which."""
    return run([RouteDel(dest, via, dev and check_ifname(dev), netns, check_table(table), family)], dry_run)


def routes(netns: str | None = None, table: str | int | None = "main", family: str | None = None) -> list[Route]:
    """Unicast routes of a table (None or 'all': every table), of both families or one ('inet', 'inet6')."""
    number = None if table is None or table == "all" else check_table(table)
    with Session() as s:
        return s.nl(netns).routes(number, FAMILIES[family] if family else None)


def route_get(addr: str, netns: str | None = None) -> Route:
    """The route the kernel takes to addr, as `ip route get` says."""
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise UsageError(f"invalid address {addr!r}", "give one IPv4 or IPv6 address, e.g. 10.0.0.1") from None
    with Session() as s:
        return s.nl(netns).route_get(addr)


# helpers -------------------------------------------------------------------------
def _namespaces_with(dev: str, besides: str | None) -> list[str | None]:
    """The named namespaces (and the current one, None) that have a device called dev, other than `besides`."""
    found: list[str | None] = []
    with Session() as s:
        for spec in [None] + [r.name for r in nsb.list_named()]:
            if spec == besides:
                continue
            try:
                if s.nl(spec).link(dev) is not None:
                    found.append(spec)
            except VnetError:
                continue
    return found


def _require_kind(name: str, netns: str | None, kind: str) -> Link:
    found = link(name, netns)
    if found.kind != kind:
        raise UsageError(f"{name!r} is a {found.kind or 'physical'} device, not a {kind}", "give the name of a " + kind)
    return found


def tun_modes() -> tuple[str, ...]:
    """The modes tuntap accepts."""
    return tuple(tunb.MODES)
