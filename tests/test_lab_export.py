"""`vnetctl lab export`: up a shipped lab, export it, down, up the export: the same topology (ip -j and inspect)."""

from __future__ import annotations

import glob
import json
import os
import subprocess
from typing import Any

import pytest
from helpers import netns_names, vnetctl
from labtopo import topology

pytestmark = pytest.mark.kernel

HERE = os.path.dirname(__file__)
LABS = sorted(glob.glob(os.path.join(HERE, "..", "labs", "*.yaml")))
VOLATILE = {"mac", "inode", "ifindex", "netns_inode", "pids", "commands", "holders", "altnames", "owners", "owner",
            "version", "warnings", "peer_ifindex", "held", "paths", "state", "carrier", "link_state"}


def _inspect() -> Any:
    """`vnetctl inspect --json` without MACs, inodes, ifindexes, pids, markers, holders and carrier.

    Carrier (state, link_state) and IPv6 link-local addresses follow `up` asynchronously, and a
    tap has carrier only while a program holds it (programs are not exported): the topology is
    what is compared, admin state (admin_up) included.
    """
    def clean(v: Any) -> Any:
        if isinstance(v, dict) and "addresses" in v:
            v = {**v, "addresses": [a for a in v["addresses"] if not str(a).startswith("fe80::")]}
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if k not in VOLATILE and "ifindex" not in k}
        if isinstance(v, list):
            items = [clean(x) for x in v]
            return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
        return v
    return clean(json.loads(vnetctl("inspect", "--json", "--no-owners", check=True).stdout))


@pytest.mark.parametrize("path", LABS, ids=os.path.basename)
def test_export_round_trip(path: str, tmp_path) -> None:
    vnetctl("lab", "up", path, check=True)
    seen, before = _inspect(), topology()
    got = vnetctl("lab", "export", "--name", "copy", check=True)
    exported = tmp_path / "copy.yaml"
    exported.write_text(got.stdout)
    vnetctl("lab", "down", path, check=True)
    assert netns_names() == set()
    up = vnetctl("lab", "up", str(exported))
    assert up.returncode == 0, up.stderr + got.stdout
    assert topology() == before
    assert _inspect() == seen
    vnetctl("lab", "down", "copy", check=True)
    assert netns_names() == set()


def test_export_of_some_namespaces_names_what_it_leaves_out(tmp_path) -> None:
    path = os.path.join(HERE, "..", "labs", "openstack-dhcp.yaml")
    vnetctl("lab", "up", path, check=True)
    try:
        got = vnetctl("lab", "export", "-n", "client", "--json", check=True)
        doc = json.loads(got.stdout)
        assert [n["name"] for n in doc["lab"]["namespaces"]] == ["client"] and "veths" not in doc["lab"]
        assert any("eth0 in client: its peer" in n for n in doc["left_out"]) and "note: veth eth0 in client" in got.stderr
        whole = vnetctl("lab", "export", check=True)
        assert "# note: tapfa163e00-01 is held by" in whole.stdout
        assert vnetctl("lab", "export", "-n", "nope").returncode == 4
        assert vnetctl("lab", "export", "-n", "pid:1").returncode == 2
    finally:
        vnetctl("lab", "down", path, check=True)  # its dnsmasq and guest stop with it


def test_names_a_lab_file_cannot_hold_are_left_out_and_named() -> None:
    subprocess.run(["ip", "netns", "add", "b{x}"], check=True)
    subprocess.run(["ip", "netns", "add", "plain"], check=True)
    subprocess.run(["ip", "-n", "plain", "link", "add", "d{0}", "type", "bridge"], check=True)
    subprocess.run(["ip", "-n", "plain", "link", "add", "br0", "type", "bridge"], check=True)
    got = vnetctl("lab", "export", "--json", check=True)
    doc = json.loads(got.stdout)
    assert [n["name"] for n in doc["lab"]["namespaces"]] == ["plain"]
    assert doc["lab"]["bridges"] == [{"name": "br0", "netns": "plain", "up": False}]
    assert any("b{x}" in n for n in doc["left_out"]) and any("d{0}" in n for n in doc["left_out"])
