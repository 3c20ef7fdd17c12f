"""Checks of what inspect finds: a veth's peer, a device's driver."""

from __future__ import annotations

import shlex
from typing import Any

from ...backend import netns as nsb
from ..schema import F
from ..spec import LabSpec
from ..yamlload import Pos
from . import CheckContext, CheckKind, register
from .tools import in_ns, inspect_device


@register
class Peer(CheckKind):
    """inspect finds the veth's peer by name and namespace."""

    name = "peer"
    schema = {"netns": F("netns"), "dev": F("ifname", True),
              "expect": F("obj", True, sub={"name": F("ifname", True), "netns": F("netns")})}

    def validate(self, args: dict[str, Any], ctx: CheckContext, at: Pos) -> bool:
        """The device is the lab's, and so is the namespace the peer is expected in."""
        ok = super().validate(args, ctx, at)
        if args["expect"]:
            ctx.known_ns(args["expect"]["netns"], at, "peer check")
        return ok

    def run(self, a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
        dev = inspect_device(a["dev"], a["netns"])
        peer = dev.peer
        if peer is None:
            return False, f"{a['dev']} has no peer according to inspect"
        want = a["expect"]
        want_ns = nsb.resolve(want["netns"]).inode if want["netns"] else nsb.current_inode()  # type: ignore[union-attr]
        where = peer.netns_name or ("the host namespace" if peer.netns_inode == nsb.current_inode() else
                                    (f"namespace inode {peer.netns_inode}" if peer.netns_inode else "an unknown namespace"))
        ok = peer.name == want["name"] and peer.netns_inode == want_ns
        return ok, f"peer of {a['dev']} is {peer.name} (ifindex {peer.ifindex}) in {where}; expected {want['name']} in " \
            + (want["netns"] or "the host namespace")

    def command(self, a: dict[str, Any]) -> str:
        return shlex.join(in_ns(a["netns"], ["ethtool", "-S", a["dev"]])) + f"  # peer: {a['expect']['name']}"


@register
class Driver(CheckKind):
    """The device's driver and bus-info (ETHTOOL_GDRVINFO, as `ethtool -i`) are the expected ones."""

    name = "driver"
    schema = {"netns": F("netns"), "dev": F("ifname", True), "driver": F("str"), "bus_info": F("str")}

    def run(self, a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
        dev = inspect_device(a["dev"], a["netns"])
        got = {"driver": dev.driver, "bus_info": dev.bus_info}
        bad = [f"{k} {got[k]!r} (expected {a[k]!r})" for k in ("driver", "bus_info") if a[k] is not None and got[k] != a[k]]
        return not bad, "; ".join(bad) if bad else f"driver {dev.driver}, bus-info {dev.bus_info}"

    def command(self, a: dict[str, Any]) -> str:
        return shlex.join(in_ns(a["netns"], ["ethtool", "-i", a["dev"]]))
