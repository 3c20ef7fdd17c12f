"""Bridge changes as Steps: forwarding database entries, port attributes, VLAN filtering (bridge fdb|link|vlan)."""

from __future__ import annotations

import errno
import ipaddress
from dataclasses import dataclass
from typing import Any

from ..backend import bridge as brb
from ..errors import AlreadyExists, BackendError, NotFound, Unsupported, UsageError
from ..names import check_ifname
from ..steps import Receipt, Session, Step, in_ns, where
from .link_props import is_mac

PORT_STATES = ("disabled", "listening", "learning", "forwarding", "blocking")
# a port attribute vnetctl sets -> (brport_* attribute, `bridge link set` word)
PORT_ATTRS = {"state": ("brport_state", "state"), "learning": ("brport_learning", "learning"),
              "flood": ("brport_unicast_flood", "flood"), "mcast_flood": ("brport_mcast_flood", "mcast_flood"),
              "bcast_flood": ("brport_bcast_flood", "bcast_flood"), "isolated": ("brport_isolated", "isolated"),
              "hairpin": ("brport_mode", "hairpin"), "cost": ("brport_cost", "cost"),
              "priority": ("brport_priority", "priority")}


def bridge_cmd(netns: str | None, *words: str) -> str:
    """A `bridge` command line, in namespace netns (bridge -n NS for a named one)."""
    if netns and "/" not in netns and not netns.startswith("pid:"):
        return in_ns(None, "bridge", "-n", netns, *words)
    return in_ns(netns, "bridge", *words)


def require_vlan_filtering() -> None:
    """Unsupported (69) unless this kernel's bridges filter VLANs (probed on a throwaway bridge, not guessed)."""
    if brb.has_vlan_filtering() is False:
        raise Unsupported("kernel lacks bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING): cannot set vlan_filtering "
                          "or per-port VLANs", "this kernel's bridge module was built without it; use a kernel that has "
                          "it, or a vlan device per VLAN where 8021q exists; nothing was changed")


@dataclass(frozen=True)
class FdbEntry(Step):
    """Add (or append, or delete: `delete`) one forwarding database entry: a MAC on a device, for a VXLAN a destination."""

    mac: str
    dev: str
    netns: str | None = None
    dst: str | None = None
    vni: int | None = None
    port: int | None = None
    master: bool = False        # the bridge's table (a port's static MAC), not the device's own (a VXLAN's)
    permanent: bool = False
    append: bool = False
    delete: bool = False

    def __post_init__(self) -> None:
        check_ifname(self.dev)
        if not is_mac(self.mac):
            raise UsageError(f"invalid MAC {self.mac!r}", "six hex pairs, e.g. 02:00:00:00:00:01 or 00:00:00:00:00:00")
        if self.dst is not None:
            try:
                ipaddress.ip_address(self.dst)
            except ValueError:
                raise UsageError(f"invalid dst {self.dst!r}", "give the remote VTEP's IP address, e.g. 10.0.0.2") from None
        if self.master and (self.dst or self.vni is not None or self.port is not None):
            raise UsageError("--dst, --vni and --port belong to a VXLAN's own table, not a bridge's",
                             "leave out --master for a VXLAN endpoint")

    def _io(self, s: Session, delete: bool) -> None:
        nl = s.nl(self.netns)
        index = nl.require(self.dev).index
        args = (nl, index, self.dev, self.mac.lower(), self.dst, self.vni, self.port, self.master)
        try:
            if delete:
                brb.delete(*args)
            else:
                brb.add(*args, permanent=self.permanent, append=self.append)
        except AlreadyExists as e:
            more = "" if self.master else "give another --dst with 'vnetctl bridge fdb append', or "
            raise AlreadyExists(e.message, f"the entry is there already: {more}see 'vnetctl bridge fdb show {self.dev}'") from None
        except NotFound as e:
            raise NotFound(e.message, f"see 'vnetctl bridge fdb show {self.dev}'") from None

    def apply(self, s: Session) -> Receipt:
        if self.delete and not self._present(s):  # a VXLAN answers 0 to deleting a destination it does not have
            what = f"{self.mac}" + (f" dst {self.dst}" if self.dst else "")
            raise NotFound(f"no forwarding entry {what} on {self.dev}{where(self.netns)}",
                           f"see 'vnetctl bridge fdb show {self.dev}'")
        self._io(s, self.delete)
        return None

    def _present(self, s: Session) -> bool:
        nl = s.nl(self.netns)
        nl.require(self.dev)
        names = {lk.index: lk.name for lk in nl.links()}
        return any(e["mac"] == self.mac.lower() and (self.dst is None or e["dst"] == self.dst)
                   and (e["master"] is not None) == self.master
                   for e in brb.entries(nl, names) if e["dev"] == self.dev)

    def undo(self, s: Session, receipt: Receipt) -> None:
        if s.nl(self.netns).link(self.dev) is None:
            return
        try:
            self._io(s, not self.delete)
        except NotFound:
            pass

    def vanishes_with(self, lab_ns: set[str], made: set[tuple[str | None, str]]) -> bool:
        return self.netns in lab_ns or (self.netns, self.dev) in made

    def command(self) -> str:
        verb = "del" if self.delete else "append" if self.append else "add"
        words = ["fdb", verb, self.mac.lower(), "dev", self.dev]
        for key, value in (("dst", self.dst), ("vni", self.vni), ("port", self.port)):
            if value is not None:
                words += [key, str(value)]
        words.append("master" if self.master else "self")
        if not self.delete:
            words.append("permanent" if self.permanent else "static")
        return bridge_cmd(self.netns, *words)


@dataclass(frozen=True)
class PortSet(Step):
    """Change one attribute of a bridge port: state, learning, flood, isolated, hairpin, cost, priority."""

    dev: str
    attr: str
    value: Any
    netns: str | None = None

    def __post_init__(self) -> None:
        if self.attr not in PORT_ATTRS:
            raise UsageError(f"unknown port attribute {self.attr!r}", f"one of {', '.join(PORT_ATTRS)}")
        if self.attr == "state" and self.value not in PORT_STATES:
            raise UsageError(f"invalid port state {self.value!r}", f"one of {', '.join(PORT_STATES)}")

    def _number(self, value: Any) -> int:
        return PORT_STATES.index(value) if self.attr == "state" else int(value)

    def apply(self, s: Session) -> Receipt:
        nl = s.nl(self.netns)
        link = nl.require(self.dev)
        if not link.port:
            raise NotFound(f"{self.dev!r} is not a bridge port{where(self.netns)}",
                           f"make it one first: vnetctl bridge addif BRIDGE {self.dev}")
        old = dict(link.port).get(PORT_ATTRS[self.attr][0])
        try:
            brb.set_port(nl, link.index, self.dev, {PORT_ATTRS[self.attr][0]: self._number(self.value)})
        except BackendError as e:
            if e.errno == errno.ENETDOWN:
                e.hint = f"a port takes an STP state only while it is up with a carrier: bring {self.dev} and its peer up"
            elif e.errno == errno.EBUSY:
                e.hint = "the bridge runs STP, which owns the port states: turn STP off to set them by hand"
            raise
        return {"old": old}

    def undo(self, s: Session, receipt: Receipt) -> None:
        link = s.nl(self.netns).link(self.dev)
        if receipt is None or receipt["old"] is None or link is None or not link.port:
            return
        brb.set_port(s.nl(self.netns), link.index, self.dev, {PORT_ATTRS[self.attr][0]: int(receipt["old"])})

    def vanishes_with(self, lab_ns: set[str], made: set[tuple[str | None, str]]) -> bool:
        return self.netns in lab_ns or (self.netns, self.dev) in made

    def command(self) -> str:
        value = self.value if self.attr != "state" else str(PORT_STATES.index(self.value))
        if isinstance(self.value, bool):
            value = "on" if self.value else "off"
        return bridge_cmd(self.netns, "link", "set", "dev", self.dev, PORT_ATTRS[self.attr][1], str(value))


@dataclass(frozen=True)
class VlanFiltering(Step):
    """Turn a bridge's VLAN filtering on or off."""

    bridge: str
    on: bool
    netns: str | None = None

    def apply(self, s: Session) -> Receipt:
        require_vlan_filtering()
        nl = s.nl(self.netns)
        link = nl.require(self.bridge)
        brb.set_vlan_filtering(nl, link.index, self.bridge, self.on)
        return {"old": bool(link.detail("br_vlan_filtering", 0))}

    def undo(self, s: Session, receipt: Receipt) -> None:
        link = s.nl(self.netns).link(self.bridge)
        if receipt is not None and link is not None:
            brb.set_vlan_filtering(s.nl(self.netns), link.index, self.bridge, bool(receipt["old"]))

    def command(self) -> str:
        from ..steps import ip
        return ip(self.netns, "link", "set", "dev", self.bridge, "type", "bridge", "vlan_filtering", str(int(self.on)))


@dataclass(frozen=True)
class PortVlan(Step):
    """Add (or, with delete, remove) a VLAN on a bridge port: bridge vlan add vid VID dev DEV [pvid] [untagged]."""

    dev: str
    vid: int
    netns: str | None = None
    pvid: bool = False
    untagged: bool = False
    delete: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.vid <= 4094:
            raise UsageError(f"invalid VLAN id {self.vid}", "give 1 to 4094")

    def _io(self, s: Session, delete: bool) -> None:
        require_vlan_filtering()
        nl = s.nl(self.netns)
        brb.vlan(nl, "del" if delete else "add", nl.require(self.dev).index, self.dev, self.vid, self.pvid, self.untagged)

    def apply(self, s: Session) -> Receipt:
        self._io(s, self.delete)
        return None

    def undo(self, s: Session, receipt: Receipt) -> None:
        if s.nl(self.netns).link(self.dev) is not None:
            self._io(s, not self.delete)

    def command(self) -> str:
        flags = (["pvid"] if self.pvid else []) + (["untagged"] if self.untagged else [])
        return bridge_cmd(self.netns, "vlan", "del" if self.delete else "add", "vid", str(self.vid), "dev", self.dev, *flags)
