"""A device's plain properties as Steps: alias, MAC, queue length, IPv6 address generation (ip link set ... alias|address|...)."""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass
from typing import Any

from ..backend.ifla import ADDR_GEN_MODES
from ..errors import BackendError, UsageError
from ..model import Link
from ..steps import Receipt, Session, Step, View, ip, where

PROPS = ("alias", "address", "txqueuelen", "addrgenmode")
# why the kernel refuses an addrgenmode (inet6_validate_link_af), as the operator can fix it
_ADDRGEN_REFUSED = {errno.EINVAL: "stable_secret needs a secret first: the sysctl net.ipv6.conf.default.stable_secret "
                                  "(or .DEV.) of its namespace, e.g. ::1",
                    errno.EAFNOSUPPORT: "the device has no IPv6 state: IPv6 is disabled in its namespace or its MTU is "
                                        "below 1280"}
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


def is_mac(text: str) -> bool:
    """True for six hex pairs separated by colons (any MAC, multicast and all-zero included)."""
    return bool(_MAC.match(text))


def check_mac(mac: str, what: str = "address") -> str:
    """A unicast Ethernet address as aa:bb:cc:dd:ee:ff, lower case; UsageError otherwise."""
    if not is_mac(mac):
        raise UsageError(f"invalid {what} {mac!r}", "give a MAC address as six hex pairs, e.g. 02:00:00:00:00:01")
    if int(mac[:2], 16) & 1:
        raise UsageError(f"invalid {what} {mac!r}: a multicast address", "the first octet must be even, e.g. 02:...")
    if mac == "00:00:00:00:00:00":
        raise UsageError(f"invalid {what} {mac!r}: all zeros", "give a unicast address, e.g. 02:00:00:00:00:01")
    return mac.lower()


def check_prop(attr: str, value: Any) -> None:
    """UsageError when value is not one the kernel takes for attr."""
    if attr not in PROPS:
        raise UsageError(f"unknown link property {attr!r}", f"one of {', '.join(PROPS)}")
    if attr == "address":
        check_mac(value)
    elif attr == "alias":
        if len(value.encode()) > 255 or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise UsageError("invalid alias", "at most 255 bytes of printable text ('' removes it)")
    elif attr == "addrgenmode":
        if value not in ADDR_GEN_MODES:
            raise UsageError(f"invalid addrgenmode {value!r}", f"one of {', '.join(ADDR_GEN_MODES)} (as ip link set takes them)")
    elif type(value) is not int or not 0 <= value < 2**32:
        raise UsageError(f"invalid txqueuelen {value!r}", "give a number of packets from 0 to 4294967295")


def current(link: Link, attr: str) -> Any:
    """The device's value of attr now (what undo restores)."""
    return {"alias": link.alias or "", "address": link.mac, "txqueuelen": link.txqlen, "addrgenmode": link.addrgenmode}[attr]


@dataclass(frozen=True)
class LinkProp(Step):
    """Set a device's alias ('' removes it), MAC address, transmit queue length or IPv6 address generation mode.

    addrgenmode none, set before the device is up, keeps it from making a link-local address: it then sends
    no IPv6 at all (no DAD, MLD or router solicitation), which on one L2 domain of N hosts is N² deliveries.
    """

    name: str
    attr: str
    value: Any
    netns: str | None = None

    def __post_init__(self) -> None:
        check_prop(self.attr, self.value)

    def _set(self, s: Session, value: Any, index: int | None = None) -> None:
        nl = s.nl(self.netns)
        key = "txqlen" if self.attr == "txqueuelen" else self.attr
        try:
            nl.set_link(nl.require(self.name).index if index is None else index, self.name, **{key: value})
        except BackendError as e:
            if self.attr != "addrgenmode" or e.errno not in _ADDRGEN_REFUSED:
                raise
            raise BackendError(f"cannot set addrgenmode {value} on {self.name}{where(self.netns)}", e.errno,
                               _ADDRGEN_REFUSED[e.errno]) from None

    def apply(self, s: Session) -> Receipt:
        if self.attr == "addrgenmode" and (self.netns or "", self.name) in s.fresh:
            # made in this session: no read of the old value (it goes away with the device)
            self._set(s, self.value, index=0)
            return {"old": None}
        old = current(s.nl(self.netns).require(self.name), self.attr)
        self._set(s, self.value)
        return {"old": old}

    def undo(self, s: Session, receipt: Receipt) -> None:
        if receipt is not None and receipt["old"] is not None and s.nl(self.netns).link(self.name) is not None:
            self._set(s, receipt["old"])

    def drift(self, view: View, owner: str, receipt: Receipt) -> str | None:
        link = view.link(self.netns, self.name)
        if link is None or current(link, self.attr) == self.value:
            return None
        return f"device {self.name}{where(self.netns)} has {self.attr} {current(link, self.attr)!r}, the lab set {self.value!r}"

    def vanishes_with(self, lab_ns: set[str], made: set[tuple[str | None, str]]) -> bool:
        return self.netns in lab_ns or (self.netns, self.name) in made

    def command(self) -> str:
        return ip(self.netns, "link", "set", "dev", self.name, self.attr, str(self.value))
