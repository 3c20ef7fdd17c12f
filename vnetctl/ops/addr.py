"""IP addresses as Steps."""

from __future__ import annotations

import errno
import functools
import ipaddress
from dataclasses import dataclass

from ..errors import AlreadyExists, BackendError, NotFound, UsageError
from ..steps import Dev, Receipt, Session, Step, View, ip, where


@functools.lru_cache(maxsize=1 << 16)
def interface(cidr: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """ipaddress.ip_interface(cidr), remembered: a lab file's every address is checked, claimed and added (ValueError if bad)."""
    return ipaddress.ip_interface(cidr)


def check_cidr(cidr: str) -> str:
    """Return cidr if it is ADDRESS/PREFIX (IPv4 or IPv6)."""
    if "/" not in str(cidr):
        raise UsageError(f"invalid address {cidr!r}: no prefix length", "write it as ADDRESS/PREFIX, e.g. 10.1.1.2/24")
    try:
        interface(cidr)
    except ValueError as e:
        raise UsageError(f"invalid address {cidr!r}: {e}", "write it as ADDRESS/PREFIX, e.g. 10.1.1.2/24") from None
    return cidr


@dataclass(frozen=True)
class AddrStep(Step):
    """What adding and removing an address share: the address (checked), its device and namespace."""

    cidr: str
    dev: str
    netns: str | None = None

    def __post_init__(self) -> None:
        check_cidr(self.cidr)


@dataclass(frozen=True)
class AddrAdd(AddrStep):
    """Add an address to a device."""

    def apply(self, s: Session) -> Receipt:
        nl = s.nl(self.netns)
        try:
            nl.add_addr(nl.index_of(self.dev), self.dev, self.cidr)
        except AlreadyExists:
            where = f" -n {self.netns}" if self.netns else ""
            raise AlreadyExists(f"{self.dev} already has address {self.cidr}",
                                f"nothing to add; see 'vnetctl addr show {self.dev}{where}'") from None
        return None

    def undo(self, s: Session, receipt: Receipt) -> None:
        try:
            nl = s.nl(self.netns)
            link = nl.link(self.dev)
            if link is not None:
                nl.del_addr(link.index, self.dev, self.cidr)
        except NotFound:
            pass
        except BackendError as e:  # already gone: the kernel drops IPv6 addresses when a device goes down
            if e.errno != errno.EADDRNOTAVAIL:
                raise

    def command(self) -> str:
        return ip(self.netns, "addr", "add", self.cidr, "dev", self.dev)

    def vanishes_with(self, lab_ns: set[str], made: set[Dev]) -> bool:
        return self.netns in lab_ns or (self.netns, self.dev) in made

    def drift(self, view: View, owner: str, receipt: Receipt) -> str | None:
        link = view.link(self.netns, self.dev)
        got = view.addresses(self.netns, link.index) if link is not None else None
        if got is not None and self.cidr not in got:
            return f"address {self.cidr} is missing from {self.dev}{where(self.netns)}"
        return None


@dataclass(frozen=True)
class AddrDel(AddrStep):
    """Remove an address from a device."""

    def apply(self, s: Session) -> Receipt:
        nl = s.nl(self.netns)
        try:
            nl.del_addr(nl.require(self.dev).index, self.dev, self.cidr)
        except BackendError as e:
            if e.errno != errno.EADDRNOTAVAIL:
                raise
            raise NotFound(f"address {self.cidr} is not on {self.dev}{where(self.netns)}",
                           f"see 'vnetctl addr show {self.dev}'") from None
        return None

    def undo(self, s: Session, receipt: Receipt) -> None:
        AddrAdd(self.cidr, self.dev, self.netns).apply(s)

    def command(self) -> str:
        return ip(self.netns, "addr", "del", self.cidr, "dev", self.dev)
