"""`lab up --replace`: a lab that is up is brought to a new file or --set values, changing only what differs."""

from __future__ import annotations

import json

import pytest
import shapes
from helpers import ip_json, netns_names, ping, vnetctl

pytestmark = pytest.mark.kernel

STAR = "labs/star.yaml"
VETH = "labs/veth-netns.yaml"


def _index(name: str, netns: str | None = None) -> int:
    return ip_json("link", "show", "dev", name, netns=netns)[0]["ifindex"]


def _addrs(dev: str, netns: str) -> set[str]:
    return {f"{a['local']}/{a['prefixlen']}" for a in ip_json("addr", "show", "dev", dev, netns=netns)[0]["addr_info"]
            if a.get("scope") != "link"}


def test_more_and_fewer_hosts_touch_only_what_differs() -> None:
    assert vnetctl("lab", "up", STAR, "--replace", check=True).stderr.startswith("lab star is up")  # not up: a plain up
    kept = {n: _index(n) for n in ("br-star", "vs0", "vs3")}
    grown = vnetctl("lab", "up", STAR, "--set", "hosts=5", "--replace", "--json", check=True)
    out = shapes.check_output("lab up", grown.stdout)[0]  # docs/json.md
    assert out["result"] == "replaced" and out["removed"] == []
    assert [s["command"].splitlines()[0] for s in out["made"]][:2] == ["ip netns add h4",
                                                                        "ip link add vs4 type veth peer name eth0 netns h4"]
    assert "lab star replaced: 0 step(s) undone, 6 applied" in grown.stderr and "+ ip netns add h4" in grown.stderr
    assert netns_names() == {"h0", "h1", "h2", "h3", "h4"} and {n: _index(n) for n in kept} == kept
    assert ping("10.10.0.5", netns="h0")
    status = json.loads(vnetctl("lab", "status", STAR, "--set", "hosts=5", "--json", check=True).stdout)[0]
    assert status["file_drift"] is False and status["drift"] == [] and status["steps"] == 32

    shrunk = vnetctl("lab", "up", STAR, "--set", "hosts=3", "--replace", check=True)
    assert "12 step(s) undone, 0 applied" in shrunk.stderr and "- ip netns add h3" in shrunk.stderr
    assert netns_names() == {"h0", "h1", "h2"} and _index("vs0") == kept["vs0"]
    assert not [d for d in ip_json("link", "show") if d["ifname"] in ("vs3", "vs4")]
    assert ping("10.10.0.3", netns="h0")
    assert vnetctl("lab", "up", STAR, "--set", "hosts=3", "--replace", check=True).stderr.startswith(
        "lab star is already up and identical")
    assert len(json.loads(vnetctl("lab", "down", "star", "--json", check=True).stdout)["removed"]) == 20
    assert netns_names() == set() and not [d for d in ip_json("link", "show") if d["ifname"] != "lo"]


def _moved(tmp_path) -> str:
    text = open(VETH).read().replace("10.1.1.3/24", "10.1.1.9/24").replace("to: 10.1.1.3", "to: 10.1.1.9")
    path = tmp_path / "moved.yaml"
    path.write_text(text)
    return str(path)


def test_a_changed_address_is_moved_and_nothing_else(tmp_path) -> None:
    vnetctl("lab", "up", VETH, check=True)
    before = (_index("vethDemo0", "ns1"), _index("vethDemo1", "ns2"))
    moved = _moved(tmp_path)
    busy = vnetctl("lab", "up", moved)
    assert busy.returncode == 5 and "--replace" in busy.stderr
    got = vnetctl("lab", "up", moved, "--replace", check=True)
    assert got.stderr.splitlines()[:2] == ["- ip -n ns2 addr add 10.1.1.3/24 dev vethDemo1",
                                           "+ ip -n ns2 addr add 10.1.1.9/24 dev vethDemo1"]
    assert _addrs("vethDemo1", "ns2") == {"10.1.1.9/24"} and (_index("vethDemo0", "ns1"), _index("vethDemo1", "ns2")) == before
    assert vnetctl("lab", "check", moved, check=True).returncode == 0


def test_a_failed_replace_puts_the_lab_back(tmp_path) -> None:
    vnetctl("lab", "up", VETH, check=True)
    moved = _moved(tmp_path)
    failed = vnetctl("lab", "up", moved, "--replace", env={"VNETCTL_INJECT_FAULT": "step:0"})
    assert failed.returncode == 1 and "the lab was put back as it was" in failed.stderr
    assert failed.stderr.count("\n") == 1
    assert _addrs("vethDemo1", "ns2") == {"10.1.1.3/24"}
    status = json.loads(vnetctl("lab", "status", VETH, "--json", check=True).stdout)[0]
    assert status["status"] == "up" and status["file_drift"] is False and status["drift"] == []
    assert vnetctl("lab", "check", VETH, check=True).returncode == 0
    vnetctl("lab", "down", "veth-netns", check=True)
    assert netns_names() == set()
