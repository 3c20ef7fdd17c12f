"""Routes as Steps."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from ..errors import AlreadyExists, NotFound, UsageError
from ..steps import Dev, Receipt, Session, Step, ip


def check_dest(dest: str) -> str:
    """Return dest if it is 'default' or a network in CIDR form."""
    if dest == "default":
        return dest
    try:
        ipaddress.ip_network(dest, strict=False)
    except ValueError as e:
        raise UsageError(f"invalid route destination {dest!r}: {e}", "use 'default' or a network such as 10.0.0.0/24") from None
    return dest


def check_gateway(gw: str | None) -> str | None:
    """Return gw if it is an IP address."""
    if gw is None:
        return None
    try:
        ipaddress.ip_address(gw)
    except ValueError:
        raise UsageError(f"invalid gateway {gw!r}", "give an IP address, e.g. --via 10.0.0.1") from None
    return gw


FAMILIES = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}


def check_table(table: str | int) -> int:
    """A routing table as its number: main, local, default or 1..2**32-1."""
    named = {"main": 254, "local": 255, "default": 253}
    if str(table) in named:
        return named[str(table)]
    if str(table).isdigit() and 0 < int(table) < 2**32:
        return int(table)
    raise UsageError(f"invalid routing table {table!r}", "give main, local, default or a number from 1 to 4294967295")


def family_of(dest: str, via: str | None, family: str | None) -> str | None:
    """The address family a route is in: from its destination or gateway, else as given (-4/-6)."""
    if dest != "default":
        found = "inet6" if ipaddress.ip_network(dest, strict=False).version == 6 else "inet"
    elif via:
        found = "inet6" if ":" in via else "inet"
    else:
        return family
    if family and family != found:
        raise UsageError(f"route {dest}{' via ' + via if via else ''} is {found}, not {family}", "leave out -4/-6")
    return found


def _words(verb: str, dest: str, via: str | None, dev: str | None, table: int, family: str | None) -> list[str]:
    words = ([{"inet": "-4", "inet6": "-6"}[family]] if family and dest == "default" and not via else [])
    words += ["route", verb, dest]
    words += ["via", via] if via else []
    words += ["dev", dev] if dev else []
    words += ["table", str(table)] if table != 254 else []
    return words


@dataclass(frozen=True)
class RouteStep(Step):
    """What adding and deleting a route share: destination, gateway, device, namespace, table, family (checked)."""

    dest: str
    via: str | None = None
    dev: str | None = None
    netns: str | None = None
    table: int = 254
    family: str | None = None

    def __post_init__(self) -> None:
        check_dest(self.dest)
        check_gateway(self.via)
        family_of(self.dest, self.via, self.family)


@dataclass(frozen=True)
class RouteAdd(RouteStep):
    """Add a route via a gateway and/or out of a device."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.via is None and self.dev is None:
            raise UsageError(f"route {self.dest} needs --via or --dev", "say where the packets go")

    def apply(self, s: Session) -> Receipt:
        nl = s.nl(self.netns)
        oif = nl.require(self.dev).index if self.dev else None
        fam = family_of(self.dest, self.via, self.family)
        try:
            nl.add_route(self.dest, self.via, oif, self.table, FAMILIES.get(fam or ""))
        except AlreadyExists:
            where = f" -n {self.netns}" if self.netns else ""
            raise AlreadyExists(f"a route to {self.dest} already exists in table {_name(self.table)}",
                                f"see 'vnetctl route show{where}'; delete it first to replace it") from None
        return None

    def undo(self, s: Session, receipt: Receipt) -> None:
        try:
            nl = s.nl(self.netns)
            nl.del_route(self.dest, self.via, None, self.table, FAMILIES.get(family_of(self.dest, self.via, self.family) or ""))
        except NotFound:
            pass

    def command(self) -> str:
        # vnetctl's routes are proto static (netlink's default here); ip's would be proto boot
        return ip(self.netns, *_words("add", self.dest, self.via, self.dev, self.table, self.family), "proto", "static")


    def vanishes_with(self, lab_ns: set[str], made: set[Dev]) -> bool:
        return self.netns in lab_ns or (self.dev is not None and (self.netns, self.dev) in made)


def _name(table: int) -> str:
    return {254: "main", 255: "local", 253: "default"}.get(table, str(table))


@dataclass(frozen=True)
class RouteDel(RouteStep):
    """Delete a route (the one via a gateway / out of a device, in a table and family, when given)."""

    def apply(self, s: Session) -> Receipt:
        nl = s.nl(self.netns)
        where = f" -n {self.netns}" if self.netns else ""
        oif = nl.require(self.dev).index if self.dev else None
        fam = family_of(self.dest, self.via, self.family)
        if fam is None:  # `default` alone: whichever family has one, as long as only one does
            have = {r.family for r in nl.routes(self.table) if r.dst == "default" and (not self.dev or r.dev == self.dev)}
            if len(have) > 1:
                raise UsageError(f"there is an IPv4 and an IPv6 default route in table {_name(self.table)}",
                                 "give -4 or -6 to say which to delete")
            fam = next(iter(have), "inet")
        try:
            nl.del_route(self.dest, self.via, oif, self.table, FAMILIES[fam])
        except NotFound as e:
            raise NotFound(f"no route to {self.dest} in table {_name(self.table)} ({e.message.rsplit(': ', 1)[-1]})",
                           f"see 'vnetctl route show{where}'") from None
        return None

    def undo(self, s: Session, receipt: Receipt) -> None:
        raise NotImplementedError("a deleted route is not restored")

    def command(self) -> str:
        return ip(self.netns, *_words("del", self.dest, self.via, self.dev, self.table, self.family))
