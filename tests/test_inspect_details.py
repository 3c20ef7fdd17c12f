"""inspect's details of stacked devices, against `ip -j -d link`: the lower device with its namespace
(macvlan, vxlan), and a vxlan's VNI, remote or group, local address and port."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import link, sh, vnetctl

pytestmark = pytest.mark.kernel


def devices(*args: str) -> dict[tuple[str | None, str], dict[str, Any]]:
    data = json.loads(vnetctl("inspect", *args, "--json", check=True).stdout)
    return {(ns["name"], d["name"]): d for ns in data["namespaces"] for d in ns["devices"]}


def test_lower_devices_and_vxlan() -> None:
    sh("ip", "netns", "add", "x")
    sh("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
    sh("ip", "link", "add", "mv0", "link", "v0", "type", "macvlan")
    sh("ip", "link", "set", "mv0", "netns", "x")
    sh("ip", "link", "add", "vx0", "type", "vxlan", "id", "42", "dev", "v0", "remote", "10.1.1.1", "local", "10.0.0.1",
       "dstport", "4789")
    sh("ip", "link", "add", "vx1", "type", "vxlan", "id", "7", "dev", "v0", "group", "239.1.1.1", "dstport", "4789")
    sh("ip", "link", "set", "vx1", "netns", "x")
    v0, mv0, vx0 = link("v0"), link("mv0", "x"), link("vx0")
    assert v0 and mv0 and vx0 and mv0["link_index"] == v0["ifindex"] and "link_netnsid" in mv0
    got = devices()
    here = json.loads(vnetctl("inspect", "-n", "/proc/1/ns/net", "--json", check=True).stdout)["namespaces"][0]["inode"]
    lower = got[("x", "mv0")]["lower"]
    assert (lower["name"], lower["ifindex"], lower["netns_inode"]) == ("v0", v0["ifindex"], here)
    data = vx0["linkinfo"]["info_data"]
    assert got[(None, "vx0")]["vxlan"] == {"vni": data["id"], "remote": data["remote"], "group": None,
                                           "local": data["local"], "port": data["port"]}
    assert got[(None, "vx0")]["lower"]["name"] == "v0"
    vx1 = link("vx1", "x")
    assert vx1 and got[("x", "vx1")]["vxlan"]["group"] == vx1["linkinfo"]["info_data"]["group"] == "239.1.1.1"
    assert got[("x", "vx1")]["lower"]["netns_inode"] == here
    tree = vnetctl("inspect", check=True).stdout
    assert "mv0 #" in tree and f"on v0 #{v0['ifindex']} in (host)" in tree
    assert "vni 42 remote 10.1.1.1 local 10.0.0.1 port 4789" in tree


def test_state_is_admin_state_and_carrier() -> None:
    sh("ip", "tuntap", "add", "mode", "tun", "tun2")
    sh("ip", "link", "set", "tun2", "up")  # up, but nobody holds it: no carrier
    sh("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
    tun2, d0, lo = link("tun2"), link("d0"), link("lo")
    assert tun2 and d0 and lo
    assert "UP" in tun2["flags"] and "NO-CARRIER" in tun2["flags"] and "UP" not in d0["flags"]
    assert "LOWER_UP" in lo["flags"]
    got = devices()
    assert got[(None, "tun2")]["link_state"] == "UP,NO-CARRIER" and got[(None, "tun2")]["state"] == tun2["operstate"]
    assert got[(None, "d0")]["link_state"] == "DOWN" and got[(None, "lo")]["link_state"] == "UP"
    tree = vnetctl("inspect", check=True).stdout
    assert any(ln.startswith("├── tun2 #") and "  tun  UP,NO-CARRIER  mtu" in ln or
               ln.startswith("└── tun2 #") and "  tun  UP,NO-CARRIER  mtu" in ln for ln in tree.splitlines())
