"""inspect renderers (pure): JSON shape, plain tree, table, DOT and Mermaid, on a hand-built host."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from vnetctl.model import Device, Holder, HostView, Namespace, Owner, Peer
from vnetctl.render import graph
from vnetctl.render import inspect_text as text

HOST, NS_A, NS_U = 4026531840, 4026532001, 4026532002
QEMU = Owner("vm", "qemu", None, "web-vm")
WEB = Owner("container", "podman", "f" * 64, "web", image="docker.io/library/busybox")


def sample() -> HostView:
    """A host: a bridge with a veth port to namespace a, a held tap, an unnamed namespace, a lost peer."""
    host = Namespace(None, HOST, pids=(1, 7), commands=("qemu", "sh"), current=True, devices=(
        Device("lo", 1, None, None, None, "UNKNOWN", 65536, "00:00:00:00:00:00", None, ("127.0.0.1/8",),
               link_type="loopback"),
        Device("br0", 2, "bridge", "bridge", "N/A", "UP", 1500, "aa:bb:cc:00:00:02", None, ports=("tapA", "tap0")),
        Device("tapA", 3, "veth", "veth", "", "UP", 1500, "aa:bb:cc:00:00:03", "br0",
               peer=Peer("eth0", 2, NS_A, "a", "a")),
        Device("tap0", 4, "tun", "tun", "tap", "UNKNOWN", 1500, "aa:bb:cc:00:00:04", "br0",
               holders=(Holder(7, "qemu", 26, ("qemu-system-x86_64", "-name", "guest=web-vm"), QEMU),), tun_mode="tap"),
        Device("x0", 5, "veth", "veth", "", "DOWN", 1500, "aa:bb:cc:00:00:05", None,
               peer=Peer("y0", 2, NS_U, None, "pid:99")),
        Device("lost", 6, "veth", "veth", "", "DOWN", 1500, "aa:bb:cc:00:00:06", None, peer=Peer("far", 9, None)),
    ))
    a = Namespace("a", NS_A, ref="a", devices=(
        Device("eth0", 2, "veth", "veth", "", "UP", 1500, "aa:bb:cc:00:01:02", None, ("10.0.0.2/24",),
               peer=Peer("tapA", 3, HOST, None, None, True)),
    ))
    u = Namespace(None, NS_U, pids=(99,), commands=("sleep",), ref="pid:99", owners=(WEB,), devices=(
        Device("y0", 2, "veth", "veth", "", "DOWN", 1500, "aa:bb:cc:00:02:02", None, peer=Peer("x0", 5, HOST, None, None, True)),
    ))
    return HostView((host, a, u), ("cannot enter namespace 'z': permission denied (needs CAP_SYS_ADMIN)",))


def test_json_has_the_documented_shape() -> None:
    data = json.loads(json.dumps(text.host_json(sample())))
    assert set(data) >= {"namespaces", "warnings"}
    ns = data["namespaces"][1]
    assert {k: ns[k] for k in ("name", "inode", "pids")} == {"name": "a", "inode": NS_A, "pids": []}
    eth0 = ns["devices"][0]
    for key in ("name", "ifindex", "kind", "driver", "bus_info", "state", "mtu", "mac", "master", "addresses", "peer",
                "holders"):
        assert key in eth0
    assert eth0["addresses"] == ["10.0.0.2/24"]
    assert {k: eth0["peer"][k] for k in ("name", "ifindex", "netns_inode")} == {"name": "tapA", "ifindex": 3,
                                                                               "netns_inode": HOST}
    tap0 = data["namespaces"][0]["devices"][3]
    qemu = {"kind": "vm", "runtime": "qemu", "id": None, "name": "web-vm", "pod": None, "pod_namespace": None, "image": None}
    assert tap0["holders"] == [{"pid": 7, "comm": "qemu", "fd": 26, "cmdline": ["qemu-system-x86_64", "-name", "guest=web-vm"],
                                "owner": qemu}] and tap0["peer"] is None
    assert data["namespaces"][1]["owners"] == []
    assert data["namespaces"][2]["owners"] == [{"kind": "container", "runtime": "podman", "id": "f" * 64, "name": "web",
                                                "pod": None, "pod_namespace": None, "image": "docker.io/library/busybox"}]


def test_driver_json() -> None:
    tap0 = sample().namespaces[0].devices[3]
    assert text.driver_json(tap0) == {"driver": "tun", "version": None, "bus_info": "tap", "kind": "tun"}


def test_plain_tree_is_stable_text() -> None:
    assert text.tree_lines(sample()) == [
        "(host)  inode 4026531840  pids 1,7  [qemu,sh]",
        "├── lo #1  loopback  UNKNOWN  mtu 65536  127.0.0.1/8",
        "├── br0 #2  bridge  UP  mtu 1500  aa:bb:cc:00:00:02  ports tapA,tap0",
        "├── tapA #3  veth  UP  mtu 1500  aa:bb:cc:00:00:03  ⊂ br0  ⇄ eth0 #2 in a",
        "├── tap0 #4  tap  UNKNOWN  mtu 1500  aa:bb:cc:00:00:04  ⊂ br0  held by qemu[7] fd 26 (vm web-vm (qemu))",
        "├── x0 #5  veth  DOWN  mtu 1500  aa:bb:cc:00:00:05  ⇄ y0 #2 in (pid:99)",
        "└── lost #6  veth  DOWN  mtu 1500  aa:bb:cc:00:00:06  ⇄ far #9 in an unknown namespace",
        "a  inode 4026532001",
        "└── eth0 #2  veth  UP  mtu 1500  aa:bb:cc:00:01:02  ⇄ tapA #3 in (host)  10.0.0.2/24",
        "(pid:99)  inode 4026532002  web (podman)  pids 99  [sleep]",
        "└── y0 #2  veth  DOWN  mtu 1500  aa:bb:cc:00:02:02  ⇄ x0 #5 in (host)",
    ]


def test_peer_outside_the_view_is_named_from_the_peer() -> None:
    only_a = HostView((sample().namespaces[1],))
    assert text.tree_lines(only_a)[1].endswith("⇄ tapA #3 in (host)  10.0.0.2/24")
    lines = text.device_text(sample().namespaces[0].devices[4])
    assert lines[-1] == f"peer: y0 #2 in (pid:99) (inode {NS_U})"


def test_table_rows() -> None:
    rows = text.table_rows(sample())
    assert len(rows) == 8 and all(len(r) == len(text.TABLE_COLUMNS) for r in rows)
    assert rows[2] == ["(host)", 3, "tapA", "veth", "veth", "", "UP", 1500, "br0", "eth0#2@a", [], "", ""]
    assert rows[3][-2:] == ["qemu[7] fd 26 (vm web-vm (qemu))", ""]
    assert rows[-1][-1] == "web (podman)"


def test_mermaid_draws_clusters_pairs_and_ports() -> None:
    out = graph.mermaid(sample())
    lines = out.splitlines()
    assert lines[0] == "flowchart LR"
    assert sum(ln.strip().startswith("subgraph ") for ln in lines) == 3
    assert f"  d{HOST}_3 <-->|veth| d{NS_A}_2" in lines
    assert f"  d{HOST}_5 <-->|veth| d{NS_U}_2" in lines
    assert out.count("<-->|veth|") == 3  # each pair once, plus the one to a stub
    assert f"  d{HOST}_3 -.-|port| d{HOST}_2" in lines and f"  d{HOST}_4 -.-|port| d{HOST}_2" in lines
    assert any(ln.startswith(f"  u{HOST}_6_9[") and "far #9" in ln for ln in lines)
    assert f'  subgraph ns2["(pid:99) (inode {NS_U})<br/>web (podman)"]' in lines


def test_dot_is_valid_graphviz() -> None:
    out = graph.dot(sample())
    assert out.count("subgraph cluster_") == 3 and out.count('[label="veth"]') == 3
    assert out.count('[style=dashed, label="port"]') == 2
    if shutil.which("dot") is None:
        pytest.skip("graphviz not installed")
    proc = subprocess.run(["dot", "-Tsvg"], input=out, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "tapA #3" in proc.stdout


def test_labels_escape_quotes() -> None:
    odd = HostView((Namespace('we"ird', 1, devices=(Device('a"b', 1, None, None, None, "UP", 1, None, None),)),))
    assert 'we\\"ird' in graph.dot(odd) and "we#quot;ird" in graph.mermaid(odd)
