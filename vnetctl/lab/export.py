"""`vnetctl lab export`: what runs on this host (namespaces, devices, addresses, routes, sysctls) as a lab file.

The state is read through the discovery layer (the one `inspect` uses) and each device's options
through the device-kind registry (`Kind.read`), so a kind a lab can declare is exported by its
declaration. What a lab cannot make (a physical NIC, a device whose peer or lower device is not
exported) is left out and named in the notes.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from .. import kinds
from ..backend import netns as nsb
from ..errors import NotFound, UsageError
from ..model import Device, Namespace
from ..ops.sysctl import proc_path
from ..tcunits import rate_word

# net.* sysctls a lab commonly changes, with their value in a new namespace: others are not exported
SYSCTL_DEFAULTS = {"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0", "net.ipv4.conf.all.proxy_arp": "0",
                   "net.ipv4.ip_nonlocal_bind": "0", "net.ipv6.conf.all.disable_ipv6": "0"}
ROUTE_PROTOCOLS = ("static", "boot")  # what `ip route add` and `lab up` make; kernel, ra, dhcp... come back by themselves
MTU = 1500
ADDR_GEN_MODE = "eui64"  # a new namespace's net.ipv6.conf.default.addr_gen_mode (0)


class Exporter:
    """Builds the lab document from the discovered namespaces, noting what it leaves out."""

    def __init__(self, spaces: list[Namespace], rates: dict[tuple[str | None, int], int] | None = None) -> None:
        self.rates = rates or {}
        self.notes: list[str] = []
        self.spaces = []
        for ns in spaces:
            if ns.name and not _plain(ns.name):
                self.notes.append(f"namespace {ns.name}: a lab file cannot name it ('{{' or '}}' in the name); left out")
            else:
                self.spaces.append(ns)
        self.names = {ns.name for ns in spaces if ns.name}
        self.exported: set[tuple[str | None, str]] = set()
        self.doc: dict[str, Any] = {}

    def key(self, ns: Namespace) -> str | None:
        """The lab's `netns` for a namespace (None: the one vnetctl runs in)."""
        return None if ns.current else ns.name

    def build(self, name: str) -> dict[str, Any]:
        """The whole document."""
        self.doc = {"name": name, "description": f"exported by 'vnetctl lab export' from {socket.gethostname()} "
                    f"at {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"}
        self.doc["namespaces"] = [self.namespace(ns) for ns in self.spaces if not ns.current]
        host = next((ns for ns in self.spaces if ns.current), None)
        if host is not None:
            self.doc["sysctls"] = sysctls(None)
        for section in ("bridges", "tuntaps", "veths", *(k.section for k in kinds.in_labs() if k.section)):
            self.doc.setdefault(section, [])
        devices = [(ns, d) for ns in self.spaces for d in sorted(ns.devices, key=lambda d: d.name)]
        wanted = [(ns, d) for ns, d in devices if self.exportable(ns, d)]
        self.exported = {(self.key(ns), d.name) for ns, d in wanted}
        seen: set[tuple[int | None, int]] = set()
        for ns, d in wanted:
            if (ns.inode, d.ifindex) in seen:
                continue
            entry = self.device(ns, d, seen)
            if entry is not None:
                section, item = entry
                self.doc.setdefault(section, []).append(item)
        self.doc["routes"] = [r for ns in self.spaces for r in self.routes(ns)]
        return {k: v for k, v in self.doc.items() if v not in ([], {})}

    def namespace(self, ns: Namespace) -> dict[str, Any]:
        """One namespace: its name, loopback up or not, sysctls that differ from a new namespace's."""
        item: dict[str, Any] = {"name": ns.name}
        if any(d.name == "lo" and d.admin_up for d in ns.devices):
            item["loopback"] = True
        values = sysctls(ns.name)
        if values:
            item["sysctls"] = values
        return item

    def exportable(self, ns: Namespace, d: Device) -> bool:
        """True for a device a lab can make; a note for the others (lo aside)."""
        if d.name == "lo":
            return False
        if not _plain(d.name):
            self.notes.append(f"{d.name}{_in(ns)}: a lab file cannot name it ('{{' or '}}' in the name); left out")
            return False
        kind = kinds.get(d.kind or "")
        if d.kind != "tun" and (kind is None or not kind.section):
            where = f" in {ns.name}" if ns.name else ""
            self.notes.append(f"{d.name}{where} (kind {d.kind or 'physical'}): not something a lab makes; left out")
            return False
        return True

    def device(self, ns: Namespace, d: Device, seen: set[tuple[int | None, int]]) -> tuple[str, dict[str, Any]] | None:
        """(section, item) for one device (a veth with its peer), or None with a note."""
        seen.add((ns.inode, d.ifindex))
        item = self.common(ns, d)
        if d.kind == "tun":
            return "tuntaps", self.tuntap(d, item)
        kind = kinds.get(d.kind or "")
        assert kind is not None and kind.section is not None
        if kind.pair:
            peer = self.peer(ns, d)
            if peer is None:
                return None
            seen.add((peer[0].inode, peer[1].ifindex))
            item["peer"] = self.common(*peer)
        values = kind.read(dict(d.details))
        for o in kind.options:
            value = values.get(o.name)
            if value is not None and value != o.default and value != o.implicit:
                item[o.name] = value
        if kind.lower_attr:
            if d.lower is None or d.lower.name is None or (self.key(ns), d.lower.name) not in self.exported:
                if kind.lower_required or d.lower is not None:
                    self.notes.append(f"{d.name}{_in(ns)}: its lower device is not exported; left out")
                    return None
            else:
                item["dev"] = d.lower.name
        return kind.section, item

    def common(self, ns: Namespace, d: Device) -> dict[str, Any]:
        """What every device has: name, netns, addresses, mtu, addrgenmode, master, up."""
        item: dict[str, Any] = {"name": d.name}
        if self.key(ns) is not None:
            item["netns"] = self.key(ns)
        addrs = [a for a in d.addresses if not a.lower().startswith("fe80:")]
        if addrs:
            item["addresses"] = addrs
        if d.mtu != MTU:
            item["mtu"] = d.mtu
        if d.addrgenmode not in (None, ADDR_GEN_MODE):
            item["addrgenmode"] = d.addrgenmode
        if d.master is not None:
            item["master"] = d.master
        if not d.admin_up:
            item["up"] = False
        rate = self.rates.get((None if ns.current else ns.name, d.ifindex))
        if rate:
            item["rate"] = rate_word(rate)
        return item

    def tuntap(self, d: Device, item: dict[str, Any]) -> dict[str, Any]:
        """A tun/tap: its mode, owner, group and queues."""
        details = dict(d.details)
        out: dict[str, Any] = {"name": item.pop("name"), "mode": d.tun_mode or "tun", **item}
        for key, detail in (("user", "tun_owner"), ("group", "tun_group")):
            value = details.get(detail)
            if isinstance(value, int) and value != 2**32 - 1:
                out[key] = str(value)
        if details.get("tun_multi_queue"):
            out["multi_queue"] = True
        if d.holders:
            self.notes.append(f"{d.name} is held by " + ", ".join(f"{h.comm} (pid {h.pid})" for h in d.holders)
                              + ": exported as a device; add the program under 'processes' to start it")
        return out

    def peer(self, ns: Namespace, d: Device) -> tuple[Namespace, Device] | None:
        """The exported namespace and device at the other end of a veth, or None with a note."""
        p = d.peer
        other = None
        if p is not None:
            other = next((o for o in self.spaces if o.inode == p.netns_inode), None)
        dev = next((x for x in other.devices if x.ifindex == p.ifindex), None) if other is not None and p else None
        if other is None or dev is None:
            where = f" (in {'this namespace' if p.netns_current else p.netns_ref or p.netns_inode})" if p else ""
            self.notes.append(f"veth {d.name}{_in(ns)}: its peer{where} is not in an exported namespace; left out")
            return None
        return other, dev

    def routes(self, ns: Namespace) -> list[dict[str, Any]]:
        """The static routes of the main table whose device is exported."""
        from ..api import routes
        out = []
        for r in routes(self.key(ns) if not ns.current else None):
            if r.protocol not in ROUTE_PROTOCOLS or (r.dev is not None and (self.key(ns), r.dev) not in self.exported):
                continue
            item: dict[str, Any] = {"to": r.dst}
            if self.key(ns) is not None:
                item = {"netns": self.key(ns), **item}
            if r.gateway:
                item["via"] = r.gateway
            if r.dev and not r.gateway:
                item["dev"] = r.dev
            out.append(item)
        return out


def _plain(name: str) -> bool:
    """True for a name the lab loader takes as it is (a brace would be read as templating)."""
    return "{" not in name and "}" not in name


def _in(ns: Namespace) -> str:
    return f" in {ns.name}" if ns.name else ""


def sysctls(netns: str | None) -> dict[str, int | str]:
    """The sysctls of SYSCTL_DEFAULTS whose value in the namespace differs from a new namespace's."""
    def read() -> dict[str, str]:
        out = {}
        for key in SYSCTL_DEFAULTS:
            try:
                with open(proc_path(key)) as f:
                    out[key] = f.read().strip()
            except OSError:
                continue
        return out
    values = nsb.call_in(nsb.resolve(netns), read)
    return {k: int(v) if v.isdigit() else v for k, v in values.items() if v != SYSCTL_DEFAULTS[k]}


def export(netns: list[str] | None = None, name: str = "exported") -> tuple[dict[str, Any], list[str]]:
    """This host (or the named namespaces only) as a lab document, and notes on what was left out."""
    from ..discovery import namespaces as read_namespaces
    if netns:
        bad = [n for n in netns if "/" in n or n.startswith("pid:")]
        if bad:
            raise UsageError(f"lab export -n {bad[0]}: not a named namespace", "give names from 'vnetctl netns list'")
        for n in netns:
            if nsb.resolve(n) is None:
                raise NotFound(f"namespace {n!r} not found", "see 'vnetctl netns list'")
        specs: list[str | None] = list(dict.fromkeys(netns))
    else:
        specs = [None, *sorted(r.name for r in nsb.list_named() if r.name)]
    view = read_namespaces(specs)
    ex = Exporter(list(view.namespaces), _rates(specs))
    doc = ex.build(name)
    return doc, ex.notes + list(view.warnings)


def _rates(names: list[str | None]) -> dict[tuple[str | None, int], int]:
    """The rate of each token-bucket root qdisc (a lab's `rate:`), by (namespace name, ifindex)."""
    from ..backend import tc
    from ..steps import Session
    with Session() as s:
        return {(name, index): q["rate"] for name in names
                for index, q in tc.root_qdiscs(s.nl(name)).items() if q.get("kind") == "tbf" and q.get("rate")}


def to_yaml(doc: dict[str, Any], notes: list[str]) -> str:
    """The document as a lab file; `{` and `}` doubled so the loader's templating gives them back as they are."""
    import yaml
    text = yaml.safe_dump(_escaped(doc), sort_keys=False, default_flow_style=None, width=120, allow_unicode=True)
    head = "# vnetctl lab file written by 'vnetctl lab export'; bring it up with 'vnetctl lab up FILE'\n"
    tail = "".join(f"# note: {n}\n" for n in notes)
    return head + text + tail


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("{", "{{").replace("}", "}}")
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    return value

