"""The topology of the sandbox as `ip -j` sees it, without MACs, ifindexes and markers: to compare two ways of making a lab."""

from __future__ import annotations

import os
import sys
from typing import Any

from helpers import ip_json, netns_names

VXLAN_KEYS = ("id", "remote", "local", "group", "port", "ttl", "learning")
TUN_KEYS = ("type", "multi_queue")


def _device(d: dict[str, Any], addrs: dict[str, list[str]]) -> tuple[Any, ...]:
    info = d.get("linkinfo", {})
    data = info.get("info_data", {})
    kind = info.get("info_kind", "")
    keys = VXLAN_KEYS if kind == "vxlan" else TUN_KEYS if kind == "tun" else ()
    altnames = tuple(sorted(a for a in d.get("altnames", []) if not a.startswith(("vnet-o-", "vnet-p-"))))
    return (kind, d.get("master"), d.get("mtu"), "UP" in d.get("flags", []), d.get("link"),
            tuple(sorted(addrs.get(d["ifname"], []))), tuple((k, data.get(k)) for k in keys), altnames)


def namespace(netns: str | None) -> dict[str, Any]:
    """One namespace: each device (but lo) with kind, master, mtu, up, peer name, addresses, kind details; its routes."""
    addrs: dict[str, list[str]] = {}
    for a in ip_json("addr", "show", netns=netns):
        addrs[a["ifname"]] = [f"{x['local']}/{x['prefixlen']}" for x in a.get("addr_info", [])
                              if x.get("scope") != "link"]
    devs = {d["ifname"]: _device(d, addrs) for d in ip_json("-d", "link", "show", netns=netns) if d["ifname"] != "lo"}
    lo_up = any(d["ifname"] == "lo" and "UP" in d.get("flags", []) for d in ip_json("link", "show", netns=netns))
    routes = sorted((r.get("dst"), r.get("gateway"), r.get("dev"), r.get("protocol"))
                    for r in ip_json("route", "show", netns=netns))
    return {"devices": devs, "routes": routes, "lo_up": lo_up}


def topology() -> dict[str | None, dict[str, Any]]:
    """Every named namespace and the host namespace."""
    return {ns: namespace(ns) for ns in [None, *sorted(netns_names())]}


def shell_env() -> dict[str, str]:
    """The environment a plan script needs: this vnetctl first on PATH."""
    return dict(os.environ, PATH=os.path.dirname(sys.executable) + ":" + os.environ.get("PATH", ""))
