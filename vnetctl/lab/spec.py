"""A validated lab as plain data: what the file declares, before any Step exists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KERNEL_KIND = {"tun": "tun", "tap": "tun"}


@dataclass(frozen=True)
class LabDevice:
    """One device a lab makes (a veth end carries its peer)."""

    name: str
    kind: str
    where: str
    netns: str | None = None
    addresses: tuple[str, ...] = ()
    up: bool = True
    mtu: int | None = None
    master: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    lower: str | None = None
    user: str | None = None
    group: str | None = None
    multi_queue: bool = False
    peer: LabDevice | None = None
    host: str | None = None
    spans: tuple[str, ...] = ()  # a bridge across hosts: every host it is on (one copy per host, each with its host)
    rate: int = 0                # egress limit in bit/s (tc tbf), 0: none
    addrgenmode: str | None = None  # IPv6 address generation mode (ip link set ... addrgenmode), None: the kernel's


@dataclass(frozen=True)
class LabNamespace:
    """A named namespace the lab makes, with its loopback and sysctls."""

    name: str
    where: str
    loopback: bool = False
    sysctls: tuple[tuple[str, str], ...] = ()
    host: str | None = None


@dataclass(frozen=True)
class LabRoute:
    """A route inside a namespace."""

    to: str
    where: str
    netns: str | None = None
    via: str | None = None
    dev: str | None = None
    host: str | None = None


@dataclass(frozen=True)
class Process:
    """A program the lab starts inside a namespace and stops on down."""

    name: str
    argv: tuple[str, ...]
    where: str
    netns: str | None = None
    shell: bool = False
    ready: tuple[tuple[str, Any], ...] = ()
    timeout: float = 10.0
    env: tuple[tuple[str, str], ...] = ()
    host: str | None = None


@dataclass(frozen=True)
class Check:
    """One self-check: its kind (ping, port, dhcp, capture, peer, driver, output, holders) and arguments."""

    kind: str
    name: str
    where: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Host:
    """A machine of a multi-host lab: how to reach it over SSH and its underlay address."""

    name: str
    where: str
    ssh: str
    underlay: str | None = None
    python: str = "python3"
    mtu: int = 1500


@dataclass(frozen=True)
class LabSpec:
    """A whole lab file, validated and expanded."""

    name: str
    path: str
    source: str
    params: dict[str, Any]
    description: str = ""
    namespaces: tuple[LabNamespace, ...] = ()
    devices: tuple[LabDevice, ...] = ()
    routes: tuple[LabRoute, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()
    processes: tuple[Process, ...] = ()
    checks: tuple[Check, ...] = ()
    hosts: tuple[Host, ...] = ()

    def kinds(self) -> list[str]:
        """The kernel device types the lab needs (tun and tap both need the tun driver)."""
        seen: list[str] = []
        for dev in self.devices:
            kind = KERNEL_KIND.get(dev.kind, dev.kind)
            if kind not in seen:
                seen.append(kind)
        return seen
