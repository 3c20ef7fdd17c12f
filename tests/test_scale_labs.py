"""Scale: a ring and a tree of bridges of a few thousand namespaces come up whole and go down
leaving nothing (@pytest.mark.slow; the 10,000-namespace runs and every figure live in
bench/bench_scale.py, never in assertions on time).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import ip_json, netns_names, ping, vnetctl, wait_for

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

LABS = Path(__file__).resolve().parent.parent / "labs"
HOSTS = 2000


def _nothing_left() -> bool:
    return not netns_names() and [d["ifname"] for d in ip_json("link")] == ["lo"]


def _up_status_down(lab: str, sets: list[str]) -> None:
    path = str(LABS / f"{lab}.yaml")
    up = vnetctl("lab", "up", path, *sets, timeout=600)
    assert up.returncode == 0, up.stderr
    status = json.loads(vnetctl("lab", "status", lab, "--json", check=True, timeout=300).stdout)[0]
    assert status["status"] == "up" and status["drift"] == [], status["drift"][:3]
    check = vnetctl("lab", "check", path, *sets, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr


def _down(lab: str) -> None:
    down = vnetctl("lab", "down", lab, timeout=600)
    assert down.returncode == 0, down.stderr
    # veth ends of deleted namespaces go away asynchronously: wait, bounded
    wait_for(_nothing_left, timeout=120, what="no namespace and no device but lo")


def test_ring_of_two_thousand_namespaces() -> None:
    """Namespace i joined to i+1 (the last to r0): every namespace holds e0 and e1, both ends in lab namespaces."""
    _up_status_down("ring", ["--set", f"hosts={HOSTS}"])
    assert netns_names() == {f"r{i}" for i in range(HOSTS)}
    last = HOSTS - 1
    for ns in ("r0", f"r{last // 2}", f"r{last}"):
        devs = {d["ifname"]: d for d in ip_json("link", netns=ns)}
        assert set(devs) == {"lo", "e0", "e1"}
        assert all("link_netnsid" in devs[e] for e in ("e0", "e1"))  # each peer lives in another namespace
    # the wrap: e1 of the last namespace reaches e0 of r0
    assert ping(f"10.100.{(2 * last + 1) // 256}.{(2 * last + 1) % 256}", netns=f"r{last}")
    _down("ring")


def test_tree_of_bridges_over_two_thousand_namespaces() -> None:
    """Four leaf bridges of 500 ports, each in its own namespace, under one root bridge: the first host
    reaches the last across the root."""
    _up_status_down("tree", ["--set", f"hosts={HOSTS}", "--set", "ports=500"])
    assert netns_names() == {f"t{i}" for i in range(HOSTS)} | {f"tl{b}" for b in range(4)}
    assert {d["ifname"] for d in ip_json("link", "show", "master", "tbr")} == {f"td{b}" for b in range(4)}
    for b in range(4):
        ports = {d["ifname"] for d in ip_json("link", "show", "master", f"tb{b}", netns=f"tl{b}")}
        assert ports == {f"tu{b}"} | {f"tv{i}" for i in range(500 * b, 500 * (b + 1))}
    _down("tree")
