"""vnetctl cleanup removes what vnetctl owns (by marker and state) and nothing else."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.helpers import VNETCTL, link, names, netns_names, snapshot, vnetctl, wait_for
from tests.test_lab_faults import journal_lines, live_processes
from vnetctl import lab as labs

pytestmark = pytest.mark.kernel


def _foreign() -> None:
    """Things vnetctl did not make: an unmarked bridge, an unrecorded namespace with a veth."""
    for cmd in ("ip link add keepbr type bridge", "ip netns add keepns",
                "ip link add keep0 type veth peer name keep1 netns keepns"):
        subprocess.run(cmd.split(), check=True)


def test_cleanup_dry_run_changes_nothing_then_cleanup_removes_only_ours() -> None:
    procs = live_processes()
    _foreign()
    before = snapshot()
    assert vnetctl("lab", "up", "labs/veth-netns.yaml").returncode == 0
    assert vnetctl("lab", "up", "labs/openstack-dhcp.yaml").returncode == 0
    assert vnetctl("veth", "add", "cli0", "cli1").returncode == 0
    assert vnetctl("netns", "add", "clins").returncode == 0
    during = snapshot()
    dry = vnetctl("cleanup", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    for line in ("ip netns del ns1", "ip netns del qdhcp-ba48a3fc-e9e8-4ce0-8691-3d35b6cca80a",
                 "ip link del brqba48a3fc-e9", "vnetctl lab down veth-netns", "vnetctl lab down openstack-dhcp"):
        assert any(out.startswith(line + "  #") for out in dry.stdout.splitlines()), line
    assert "keep" not in dry.stdout
    # what plain commands made is not a lab's leftover: named as left, touched only with --all / --owner cli
    assert "cli0" not in dry.stdout and "clins" not in dry.stdout
    assert "warning: left (made by plain vnetctl commands" in dry.stderr
    assert "namespace clins (owner cli)" in dry.stderr and "device cli0 (owner cli)" in dry.stderr
    assert any(out.startswith("kill ") and "dnsmasq" in out for out in dry.stdout.splitlines())
    cli_only = vnetctl("cleanup", "--dry-run", "--owner", "cli")
    assert "ip netns del clins  #" in cli_only.stdout and "ip link del cli0  #" in cli_only.stdout
    assert "ns1" not in cli_only.stdout and "lab down" not in cli_only.stdout
    assert snapshot() == during
    real = vnetctl("cleanup")
    assert real.returncode == 0, real.stderr
    assert link("cli0") is not None and "clins" in netns_names()
    assert live_processes() <= procs
    assert labs.labs() == []
    everything = vnetctl("cleanup", "--all")
    assert everything.returncode == 0, everything.stderr
    assert snapshot() == before
    assert link("keepbr") is not None and link("keep1", "keepns") is not None
    assert not os.listdir("/run/vnetctl/netns")
    again = vnetctl("cleanup", "--all")
    assert again.returncode == 0 and again.stdout == ""


def test_cleanup_after_kill_9_during_up() -> None:
    _foreign()
    before = snapshot()
    up = subprocess.Popen(VNETCTL + ["lab", "up", "labs/star.yaml", "--set", "hosts=30"], stderr=subprocess.DEVNULL)
    wait_for(lambda: journal_lines("star") >= 60 or up.poll() is not None, what="60 journal lines")
    up.kill()
    up.wait()
    assert vnetctl("cleanup").returncode == 0
    wait_for(lambda: names() == before[1][""], what="root veth ends to vanish")
    assert snapshot() == before


def test_a_replaced_namespace_is_not_deleted() -> None:
    assert vnetctl("netns", "add", "twin").returncode == 0
    subprocess.run(["ip", "netns", "del", "twin"], check=True)
    subprocess.run(["ip", "netns", "add", "twin"], check=True)  # often with the inode of the one deleted
    out = vnetctl("cleanup", "--all")
    assert out.returncode == 0
    assert "forget namespace record twin" in out.stdout
    assert netns_names() == {"twin"}
