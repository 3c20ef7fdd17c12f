"""trace follows a VXLAN without `remote`, driven only by FDB entries (`bridge fdb append`), as flannel does."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.helpers import sh
from tests.test_trace import trace

pytestmark = pytest.mark.kernel

MAC1, MAC2 = "02:00:00:0f:00:01", "02:00:00:0f:00:02"


def _ip(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


UNDER = {4: ("192.168.60.1", "192.168.60.2", "24"), 6: ("fd00:60::1", "fd00:60::2", "64")}


@pytest.fixture(params=["per-mac", "all-zeros", "all-zeros-ipv6-underlay"])
def overlay(request):
    """n1 and n2 joined by a veth underlay (192.168.60.0/24, or fd00:60::/64) and VXLAN 8 (10.60.0.0/24), FDB only."""
    for ns in ("n1", "n2"):
        _ip("ip", "netns", "add", ns)
    _ip("ip", "-n", "n1", "link", "add", "ul", "type", "veth", "peer", "name", "ul", "netns", "n2")
    a1, a2, plen = UNDER[6 if "ipv6" in request.param else 4]
    for ns, me, other, mac, other_mac, n in (("n1", a1, a2, MAC1, MAC2, 1), ("n2", a2, a1, MAC2, MAC1, 2)):
        _ip("ip", "-n", ns, "addr", "add", f"{me}/{plen}", "dev", "ul", "nodad")
        _ip("ip", "-n", ns, "link", "set", "ul", "up")
        _ip("ip", "-n", ns, "link", "add", "vxf", "address", mac, "type", "vxlan", "id", "8", "dev", "ul", "local", me,
            "dstport", "8472", "nolearning")
        _ip("ip", "-n", ns, "addr", "add", f"10.60.0.{n}/24", "dev", "vxf")
        _ip("ip", "-n", ns, "link", "set", "vxf", "up")
        if request.param == "per-mac":  # flannel: a static neighbour and an FDB entry per remote MAC
            _ip("ip", "-n", ns, "neigh", "replace", f"10.60.0.{3 - n}", "lladdr", other_mac, "dev", "vxf", "nud", "permanent")
            _ip("bridge", "-n", ns, "fdb", "append", other_mac, "dst", other, "dev", "vxf")
        else:  # head-end replication: every unknown frame to each all-zeros destination
            _ip("bridge", "-n", ns, "fdb", "append", "00:00:00:00:00:00", "dst", other, "dev", "vxf")
    yield request.param
    for ns in ("n1", "n2"):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_fdb_driven_vxlan_is_followed_to_its_remote(overlay):
    remote = UNDER[6 if "ipv6" in overlay else 4][1]
    fdb = json.loads(sh("bridge", "-n", "n1", "-j", "fdb", "show", "dev", "vxf").stdout)
    assert all("remote" not in (d.get("info_data") or {}) for d in json.loads(sh("ip", "-n", "n1", "-j", "-d", "link", "show",
                                                                                "vxf").stdout))
    assert any(e.get("dst") == remote for e in fdb), fdb
    assert sh("ping", "-c", "1", "-W", "2", "10.60.0.2", netns="n1", check=False).returncode == 0
    code, r = trace("-n", "n1", "10.60.0.2")
    assert code == 0 and r["replied"] and all(h["seen"] for h in r["hops"]), r
    fwd = [(h["netns"], h["device"], h["direction"]) for h in r["hops"] if h["leg"] == "forward"]
    assert fwd == [("n1", "vxf", "out"), ("n1", "ul", "out"), ("n2", "ul", "in"), ("n2", "vxf", "in")], fwd
    assert f"dst {remote}" in r["hops"][0]["note"], r["hops"][0]


def test_vxlan_without_remote_or_fdb_entry_is_a_verdict_at_it(overlay):
    mac = MAC2 if overlay == "per-mac" else "00:00:00:00:00:00"
    _ip("bridge", "-n", "n1", "fdb", "del", mac, "dst", UNDER[6 if "ipv6" in overlay else 4][1], "dev", "vxf")
    code, r = trace("-n", "n1", "10.60.0.2", "--timeout", "1")
    v = r["verdict"]
    assert code == 1 and (v["netns"], v["device"], v["reason"]) == ("n1", "vxf", "no-route"), v
    assert "no FDB entry" in v["detail"], v
