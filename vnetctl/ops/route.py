"""Routes as Steps."""

from __future__ import annotations

import ipaddress
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


@dataclass(frozen=True)
class RouteAdd(Step):
    """Add a route via a gateway and/or out of a device."""

    dest: str
    via: str | None = None
    dev: str | None = None
    netns: str | None = None

    def __post_init__(self) -> None:
        check_dest(self.dest)
        check_gateway(self.via)
        if self.via is None and self.dev is None:
            raise UsageError(f"route {self.dest} needs --via or --dev", "say where the packets go")

    def apply(self, s: Session) -> Receipt:
        nl = s.nl(self.netns)
        oif = nl.require(self.dev).index if self.dev else None
        try:
            nl.add_route(self.dest, self.via, oif)
        except AlreadyExists:
            where = f" -n {self.netns}" if self.netns else ""
            raise AlreadyExists(f"a route to {self.dest} already exists in the main table",
                                f"see 'vnetctl route show{where}'; delete it first to replace it") from None
        return None

    def undo(self, s: Session, receipt: Receipt) -> None:
        try:
            s.nl(self.netns).del_route(self.dest, self.via)
        except NotFound:
            pass

    def command(self) -> str:
        words = ["route", "add", self.dest]
        if self.via:
            words += ["via", self.via]
        if self.dev:
            words += ["dev", self.dev]
        return ip(self.netns, *words)

    def vanishes_with(self, lab_ns: set[str], made: set[Dev]) -> bool:
        return self.netns in lab_ns or (self.dev is not None and (self.netns, self.dev) in made)


@dataclass(frozen=True)
class RouteDel(Step):
    """Delete a route."""

    dest: str
    netns: str | None = None

    def __post_init__(self) -> None:
        check_dest(self.dest)

    def apply(self, s: Session) -> Receipt:
        try:
            s.nl(self.netns).del_route(self.dest)
        except NotFound as e:
            where = f" -n {self.netns}" if self.netns else ""
            raise NotFound(f"no route to {self.dest} in the main table ({e.message.rsplit(': ', 1)[-1]})",
                           f"see 'vnetctl route show{where}'") from None
        return None

    def undo(self, s: Session, receipt: Receipt) -> None:
        raise NotImplementedError("a deleted route is not restored")

    def command(self) -> str:
        return ip(self.netns, "route", "del", self.dest)
