"""inspect stays linear for any topology: netlink requests counted per namespace and veth at two sizes.

Requests are counted where every one is sent (backend.rtnl.REQUESTS). A quadratic path,
such as confirming a ring's peers by asking each namespace for the nsid of every other,
shows as a per-namespace count that grows with the host; here it must stay flat. Every
veth end's peer is checked against the topology that was built (names and namespaces).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests import topologies
from vnetctl import discovery
from vnetctl.backend import rtnl

pytestmark = pytest.mark.kernel

SIZES = {"ring": (10, 40), "star": (10, 40), "mesh": (12, 40), "tree": (10, 40), "router": (10, 40)}


@pytest.fixture
def host() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes holding unnamed namespaces; everything built is removed afterwards."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    topologies.reset(procs)


def _inspect_counted(kind: str, n: int, procs: list[subprocess.Popen[bytes]]) -> tuple[int, int, int]:
    """Build `kind` of size n (two namespaces made unnamed), inspect it, check every peer; (requests, namespaces, pairs)."""
    topologies.reset(procs)
    lines, pairs = topologies.KINDS[kind](n)
    topologies.build(lines)
    named = sorted({ns for pair in pairs for ns, _ in pair if ns})
    inode: dict[str | None, int] = {name: os.stat(f"/run/netns/{name}").st_ino for name in named}
    inode[None] = os.stat("/proc/self/ns/net").st_ino
    procs += topologies.unname(named[1:2], "process")
    topologies.unname(named[2:3], "mount")
    rtnl.REQUESTS.clear()
    view = discovery.host()
    requests = sum(rtnl.REQUESTS.values())
    devices = {(ns.inode, d.name): d for ns in view.namespaces for d in ns.devices}
    for a, b in pairs:
        for (ns1, dev1), (ns2, dev2) in ((a, b), (b, a)):
            peer = devices[(inode[ns1], dev1)].peer
            assert peer is not None, f"{dev1} in {ns1}: no peer"
            assert (peer.netns_inode, peer.name) == (inode[ns2], dev2), f"{dev1} in {ns1}: wrong peer {peer}"
            assert devices[(inode[ns2], dev2)].ifindex == peer.ifindex
    assert not view.warnings
    return requests, len(view.namespaces), len(pairs)


@pytest.mark.parametrize("kind", sorted(SIZES))
def test_requests_per_namespace_stay_constant(host: list[subprocess.Popen[bytes]], kind: str) -> None:
    """Requests per namespace (and per veth pair) are the same at both sizes: one link dump,
    one address dump per namespace, at most one link request per veth pair."""
    small, large = SIZES[kind]
    r1, n1, p1 = _inspect_counted(kind, small, host)
    r2, n2, p2 = _inspect_counted(kind, large, host)
    assert r1 <= 2 * n1 + p1 and r2 <= 2 * n2 + p2, (r1, n1, p1, r2, n2, p2)
    assert r2 / (n2 + p2) <= r1 / (n1 + p1) * 1.05, f"{r1} requests for {n1} namespaces, {r2} for {n2}"
    if kind != "mesh":  # a mesh's veths per namespace grow with it; the others' stay put
        assert r2 / n2 <= r1 / n1 * 1.05
