"""Plain data shared by every layer: what the kernel reports, what inspect finds."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

R = TypeVar("R")


def _filled_at_once(cls: type[R]) -> type[R]:
    """cls (a frozen dataclass) with an __init__ of the same signature that fills the instance's dict directly.

    A frozen dataclass's own __init__ sets each field through object.__setattr__: building the
    thousands of links and devices of a big host that way was ~8% of `inspect`. Instances stay
    frozen (__setattr__ still refuses), equal and hashed alike; for records without default
    factories or __post_init__.
    """
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__")
    params, lines, defaults = [], [], {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.default_factory is not MISSING:
            raise TypeError(f"{cls.__name__}.{f.name} has a default factory")
        if f.default is MISSING:
            params.append(f.name)
        else:
            params.append(f"{f.name}=_default_{f.name}")
            defaults[f"_default_{f.name}"] = f.default
        lines.append(f"    _values[{f.name!r}] = {f.name}")
    source = f"def __init__(self, {', '.join(params)}):\n    _values = self.__dict__\n" + "\n".join(lines) + "\n"
    made: dict[str, Any] = {}
    exec(source, defaults, made)  # the way dataclasses builds its own __init__, from the class's field names
    made["__init__"].__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", made["__init__"])  # noqa: B010 - mypy refuses assigning a method
    return cls


def iso_time(t: float | None = None) -> str:
    """A timestamp as every JSON output writes it: ISO 8601 in UTC, to the millisecond (now, or epoch seconds t)."""
    when = datetime.now(UTC) if t is None else datetime.fromtimestamp(t, UTC)
    return when.isoformat(timespec="milliseconds")


def flags_state(up: bool | None, carrier: bool | None, operstate: str) -> str:
    """Admin state and carrier as `ip`'s flags say them: UP, UP,NO-CARRIER or DOWN (operstate when unknown)."""
    if up is None:
        return operstate
    if not up:
        return "DOWN"
    return "UP" if carrier is not False else "UP,NO-CARRIER"


@_filled_at_once
@dataclass(frozen=True)
class Link:
    """One network device as netlink reports it, inside one namespace."""

    name: str
    index: int
    kind: str | None
    mtu: int
    state: str
    up: bool
    mac: str | None
    master: int | None = None
    link: int | None = None
    link_netnsid: int | None = None
    altnames: tuple[str, ...] = ()
    alias: str | None = None
    details: tuple[tuple[str, object], ...] = ()
    carrier: bool | None = None
    txqlen: int | None = None
    port: tuple[tuple[str, object], ...] = ()   # a bridge port's attributes (IFLA_INFO_SLAVE_DATA, brport_*)
    addrgenmode: str | None = None  # IPv6 address generation mode (eui64, none, ...); None: no IPv6 on it

    @property
    def link_state(self) -> str:
        """UP, UP,NO-CARRIER or DOWN, as `ip`'s flags say it."""
        return flags_state(self.up, self.carrier, self.state)

    def detail(self, key: str, default: object = None) -> object:
        """One kind-specific attribute (IFLA_INFO_DATA), e.g. 'tun_type' or 'vxlan_id'."""
        return dict(self.details).get(key, default)


@dataclass(frozen=True)
class Address:
    """An IP address on a device."""

    ifindex: int
    cidr: str
    family: int


@dataclass(frozen=True)
class Route:
    """A route in a routing table (the main one unless `table` says otherwise)."""

    dst: str
    gateway: str | None
    dev: str | None
    protocol: str
    scope: str
    family: str = "inet"  # inet | inet6, as ip -j says
    table: str = "main"
    prefsrc: str | None = None


@dataclass(frozen=True)
class Owner:
    """Who a namespace or process belongs to: a container, pod, VM, service or plain process."""

    kind: str
    runtime: str | None = None
    id: str | None = None
    name: str | None = None
    pod: str | None = None
    pod_namespace: str | None = None
    image: str | None = None


# `-n FORM:NAME` names a namespace by its owner (docker:web, pod:kube-system/coredns-x ...)
OWNER_FORMS = ("docker", "podman", "pod", "container")


def is_owner_form(spec: str) -> bool:
    """True if `-n spec` names a namespace by its owner rather than by name, pid or path."""
    prefix, sep, rest = spec.partition(":")
    return bool(sep) and prefix in OWNER_FORMS and bool(rest)


@dataclass(frozen=True)
class Holder:
    """A process holding a tun/tap device open through an fd on /dev/net/tun."""

    pid: int
    comm: str
    fd: int
    cmdline: tuple[str, ...] = ()
    owner: Owner | None = None


@_filled_at_once
@dataclass(frozen=True)
class Peer:
    """The other end of a veth: its name, ifindex and namespace."""

    name: str | None
    ifindex: int
    netns_inode: int | None
    netns_name: str | None = None
    netns_ref: str | None = None
    netns_current: bool = False


@_filled_at_once
@dataclass(frozen=True)
class Device:
    """A device as inspect reports it."""

    name: str
    ifindex: int
    kind: str | None
    driver: str | None
    bus_info: str | None
    state: str
    mtu: int
    mac: str | None
    master: str | None
    addresses: tuple[str, ...] = ()
    peer: Peer | None = None
    holders: tuple[Holder, ...] = ()
    ports: tuple[str, ...] = ()
    tun_mode: str | None = None
    altnames: tuple[str, ...] = ()
    driver_version: str | None = None
    netns_inode: int | None = None
    link_type: str | None = None
    lower: Peer | None = None
    vxlan: tuple[tuple[str, object], ...] = ()
    admin_up: bool | None = None
    carrier: bool | None = None
    details: tuple[tuple[str, object], ...] = ()  # its kind's IFLA_INFO_DATA, decoded (Link.details)
    addrgenmode: str | None = None  # IPv6 address generation mode (Link.addrgenmode)


@_filled_at_once
@dataclass(frozen=True)
class Namespace:
    """A network namespace: its name (None if unnamed), nsfs inode and what is inside."""

    name: str | None
    inode: int
    pids: tuple[int, ...] = ()
    commands: tuple[str, ...] = ()
    devices: tuple[Device, ...] = ()
    paths: tuple[str, ...] = ()
    current: bool = False
    ref: str | None = None
    owners: tuple[Owner, ...] = ()
    held: str | None = None


@dataclass(frozen=True)
class Who:
    """`inspect who`: a device, the namespace it is in and its owners, and the owners at its peer's end."""

    device: Device
    netns_ref: str | None
    netns_inode: int
    owners: tuple[Owner, ...] = ()
    peer_owners: tuple[Owner, ...] = ()


@dataclass(frozen=True)
class HostView:
    """The whole host as inspect found it, with what it could not see."""

    namespaces: tuple[Namespace, ...]
    warnings: tuple[str, ...] = field(default=())
