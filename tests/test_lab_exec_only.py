"""`lab exec LAB NODE -- CMD` and `lab check --only NAME`."""

from __future__ import annotations

import json

import pytest
from helpers import ip_json, vnetctl

from vnetctl import lab as labs
from vnetctl.errors import LabError

LAB = "labs/veth-netns.yaml"


def test_only_keeps_the_named_checks_in_file_order() -> None:
    lab = labs.load(LAB)
    names = [c.name for c in lab.spec.checks]
    assert [c.name for c in lab.only([names[2], names[0]]).spec.checks] == [names[0], names[2]]
    with pytest.raises(LabError) as e:
        lab.only(["ns1 pings ns2", "no such check"])
    assert e.value.exit_code == 65 and "'no such check'" in e.value.line() and all(repr(n) in e.value.line() for n in names)


def test_check_only_unknown_name_is_65_listing_the_names() -> None:
    got = vnetctl("lab", "check", LAB, "--only", "nope")
    assert got.returncode == 65 and got.stderr.count("\n") == 1
    assert "has no check 'nope'" in got.stderr and "'ns1 pings ns2'" in got.stderr


@pytest.mark.kernel
def test_exec_runs_in_the_node_and_passes_the_exit_code_through() -> None:
    assert vnetctl("lab", "exec", "veth-netns", "ns1", "--", "true").returncode == 4  # not up
    vnetctl("lab", "up", LAB, check=True)
    got = vnetctl("lab", "exec", "veth-netns", "ns1", "--", "ip", "-j", "addr", "show", "dev", "vethDemo0")
    assert got.returncode == 0 and json.loads(got.stdout) == ip_json("addr", "show", "dev", "vethDemo0", netns="ns1")
    assert vnetctl("lab", "exec", LAB, "ns2", "--", "sh", "-c", "exit 7").returncode == 7
    assert vnetctl("lab", "exec", "veth-netns", "ns2", "--", "ping", "-c", "1", "-W", "2", "10.1.1.2").returncode == 0
    missing = vnetctl("lab", "exec", "veth-netns", "ns3", "--", "true")
    assert missing.returncode == 4 and "its nodes: ns1, ns2" in missing.stderr
    assert vnetctl("lab", "exec", "veth-netns", "ns1", "--", "no-such-program").returncode == 127


@pytest.mark.kernel
def test_check_only_runs_just_those() -> None:
    vnetctl("lab", "up", LAB, check=True)
    got = vnetctl("lab", "check", LAB, "--only", "ns2 pings ns1", "--only", "ns1 pings ns2", "--json")
    assert got.returncode == 0
    assert [r["name"] for r in json.loads(got.stdout)] == ["ns1 pings ns2", "ns2 pings ns1"]


@pytest.mark.kernel
def test_check_by_the_name_of_a_lab_that_is_up() -> None:
    """`lab check NAME` runs the checks of the file the lab came up from, like status, exec and down take a name."""
    missing = vnetctl("lab", "check", "veth-netns")
    assert missing.returncode == 4 and missing.stderr.count("\n") == 1 and "'vnetctl lab list'" in missing.stderr
    vnetctl("lab", "up", LAB, check=True)
    got = vnetctl("lab", "check", "veth-netns", "--only", "ns1 pings ns2", "--json")
    assert got.returncode == 0, got.stderr
    assert [(r["name"], r["ok"]) for r in json.loads(got.stdout)] == [("ns1 pings ns2", True)]
