"""Persistent tun/tap devices as Steps."""

from __future__ import annotations

import grp
import pwd
from dataclasses import dataclass

from ..backend import tun
from ..errors import AlreadyExists, NotFound, UsageError
from ..names import check_ifname
from ..ownership import CLI_OWNER, fresh_ifindex, marker
from ..steps import Dev, Receipt, Session, Step, View, ip, with_fields
from .link import adopt_unmarked, delete_if_owned, devices_drift, mark_or_undo


def uid_of(user: str | int | None) -> int | None:
    """A user name or number as a uid."""
    if user is None or isinstance(user, int) or str(user).isdigit():
        return None if user is None else int(user)
    try:
        return pwd.getpwnam(str(user)).pw_uid
    except KeyError:
        raise NotFound(f"user {user!r} not found", "give an existing user name or a numeric uid") from None


def gid_of(group: str | int | None) -> int | None:
    """A group name or number as a gid."""
    if group is None or isinstance(group, int) or str(group).isdigit():
        return None if group is None else int(group)
    try:
        return grp.getgrnam(str(group)).gr_gid
    except KeyError:
        raise NotFound(f"group {group!r} not found", "give an existing group name or a numeric gid") from None


@dataclass(frozen=True)
class TuntapAdd(Step):
    """Create a persistent tun or tap device, like `ip tuntap add`."""

    name: str
    mode: str
    netns: str | None = None
    user: str | None = None
    group: str | None = None
    multi_queue: bool = False
    owner: str = CLI_OWNER
    ifindex: int = 0  # requested at creation (0: the kernel picks); see identified()

    def __post_init__(self) -> None:
        check_ifname(self.name)
        if self.mode not in tun.MODES:
            raise UsageError(f"invalid tuntap mode {self.mode!r}", "use --mode tun or --mode tap")

    def apply(self, s: Session) -> Receipt:
        nl = s.nl(self.netns)
        if nl.link(self.name) is not None:
            where = f" in namespace {self.netns}" if self.netns else ""
            raise AlreadyExists(f"device {self.name!r} exists{where}", "pick another name")
        tun.create(self.name, self.mode, s.ns(self.netns), user=uid_of(self.user), group=gid_of(self.group),
                   multi_queue=self.multi_queue, index=self.ifindex)
        mark_or_undo(s, self, self.owner, (self.netns, self.name))
        return None

    def undo(self, s: Session, receipt: Receipt) -> None:
        delete_if_owned(s, self.netns, self.name, self.owner)

    def command(self) -> str:
        words = ["tuntap", "add", "dev", self.name, "mode", self.mode]
        if self.user is not None:
            words += ["user", str(self.user)]
        if self.group is not None:
            words += ["group", str(self.group)]
        if self.multi_queue:
            words.append("multi_queue")
        mark = ip(self.netns, "link", "property", "add", "dev", self.name, "altname", marker(self.owner, self.name))
        return ip(self.netns, *words) + "\n" + mark

    def describe(self) -> str:
        return f"add {self.mode} {self.name}"

    def creates(self) -> list[Dev]:
        return [(self.netns, self.name)]

    def vanishes_with(self, lab_ns: set[str], made: set[Dev]) -> bool:
        return self.netns in lab_ns

    def identified(self) -> TuntapAdd:
        return self if self.ifindex else with_fields(self, ifindex=fresh_ifindex())

    def adopt(self, s: Session) -> None:
        adopt_unmarked(s, [(self.netns, self.name, self.ifindex)], "tun", self.owner)

    def drift(self, view: View, owner: str, receipt: Receipt) -> str | None:
        return devices_drift(view, self.creates(), owner)

