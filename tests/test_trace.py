"""vnetctl trace on a routed lab: the healthy paths reach, each injected fault gets its verdict at its hop."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.helpers import sh, vnetctl, wait_for

pytestmark = pytest.mark.kernel

LAB = "labs/trace-routed.yaml"
TRACEFS = "/sys/kernel/tracing"


@pytest.fixture
def lab():
    """The routed lab up (tracefs mounted in the sandbox's private mount namespace), down afterwards."""
    if not os.path.ismount(TRACEFS):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=False)
    vnetctl("lab", "up", LAB, check=True)
    yield
    vnetctl("lab", "down", LAB)


def trace(*args: str) -> tuple[int, dict]:
    """Run `vnetctl trace --json ARGS`; (exit code, parsed JSON)."""
    proc = vnetctl("trace", "--json", *args)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def kill_guest() -> None:
    """Stop the lab's tap guest (found by its argv, inside the sandbox only) and wait until tap0 has no holder."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if b"tuntap" in argv and b"guest" in argv:
                os.kill(int(entry), signal.SIGKILL)
    wait_for(lambda: "NO-CARRIER" in sh("ip", "-n", "rt", "link", "show", "tap0").stdout, what="tap0 without holder")


@pytest.mark.parametrize("dst", ["10.0.2.2", "10.0.3.2", "10.0.4.5", "hb:eth0"])
def test_healthy_paths_reach(lab, dst):
    code, r = trace("-n", "ha", dst)
    assert code == 0 and r["reached"] and r["replied"] and r["verdict"] is None, r
    assert r["hops"] and all(h["seen"] for h in r["hops"]), r["hops"]
    assert {h["leg"] for h in r["hops"]} == {"forward", "reply"}


def test_vxlan_leg_is_predicted_through_the_underlay(lab):
    _, r = trace("-n", "ha", "10.0.3.2")
    fwd = [(h["netns"], h["device"], h["direction"]) for h in r["hops"] if h["leg"] == "forward"]
    assert fwd[-4:] == [("rt", "vxl7", "out"), ("rt", "ul0", "out"), ("vx", "ul0", "in"), ("vx", "vxl7", "in")]


FAULTS = [
    ("admin-down-port", [["ip", "-n", "sw", "link", "set", "rt2-p", "down"]], [], ("rt", "eth2", "link-down")),
    ("source-down", [["ip", "-n", "ha", "link", "set", "eth0", "down"]], [], ("ha", "eth0", "link-down")),
    ("vxlan-down", [["ip", "-n", "vx", "link", "set", "vxl7", "down"]], ["10.0.3.2"], ("vx", "vxl7", "link-down")),
    ("no-route", [["ip", "-n", "rt", "route", "del", "10.0.2.0/24"]], [], ("rt", "eth1", "no-route")),
    ("unreachable", [["ip", "-n", "rt", "route", "add", "unreachable", "10.0.2.2/32"]], [], ("rt", "eth1", "unreachable-route")),
    ("prohibit", [["ip", "-n", "ha", "route", "add", "prohibit", "10.0.2.0/24"]], [], ("ha", "-", "unreachable-route")),
    ("neighbour", [["ip", "-n", "ha", "route", "replace", "default", "via", "10.0.1.99"]], [], (None, None, "neighbour-failed")),
    ("forwarding", [["ip", "netns", "exec", "rt", "sysctl", "-qw", "net.ipv4.ip_forward=0"]], [], ("rt", "eth1", "forwarding-off")),
    ("rp-filter", [["ip", "netns", "exec", "rt", "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"],
                   ["ip", "-n", "rt", "route", "add", "10.0.1.2/32", "dev", "ul0"]], [], ("rt", "eth1", "rp-filter")),
    ("mtu", [["ip", "-n", "rt", "link", "set", "eth2", "mtu", "1000"]], ["--size", "1400", "--df"], ("rt", "eth2", "mtu")),
    ("port-disabled", [["bridge", "-n", "sw", "link", "set", "dev", "rt1-p", "state", "0"]], [],
     ("sw", "rt1-p", "bridge-port")),
    ("not-member", [["ip", "-n", "sw", "link", "set", "rt1-p", "nomaster"]], [], ("sw", "rt1-p", "bridge-port")),
    ("udp-no-listener", [], ["--proto", "udp:9999"], ("hb", "eth0", "no-listener")),
    ("tcp-no-listener", [], ["--proto", "tcp:9999"], ("hb", "eth0", "no-listener")),
]


@pytest.mark.parametrize("name,inject,extra,expect", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_matrix(lab, name, inject, extra, expect):
    for argv in inject:
        subprocess.run(argv, check=True, capture_output=True)
    dst = extra[0] if extra and not extra[0].startswith("-") else "10.0.2.2"
    opts = [a for a in extra if a != dst]
    code, r = trace("-n", "ha", dst, *opts)
    assert code == 1 and not r["replied"], r
    v = r["verdict"]
    netns, dev, reason = expect
    assert v["reason"] == reason, v
    if netns is not None:
        assert (v["netns"], v["device"]) == (netns, dev), v
    if reason == "mtu":
        assert "at most 1000 bytes fit" in v["detail"], v


def test_tap_without_holder(lab):
    kill_guest()
    code, r = trace("-n", "ha", "10.0.4.5")
    assert code == 1, r
    assert (r["verdict"]["netns"], r["verdict"]["device"], r["verdict"]["reason"]) == ("rt", "tap0", "no-holder")


def test_mtu_again_once_the_path_mtu_is_learned(lab):
    sh("ip", "-n", "rt", "link", "set", "eth2", "mtu", "1000")
    trace("-n", "ha", "10.0.2.2", "--size", "1400", "--df")
    code, r = trace("-n", "ha", "10.0.2.2", "--size", "1400", "--df")
    assert code == 1 and (r["verdict"]["device"], r["verdict"]["reason"]) == ("eth2", "mtu"), r["verdict"]


def test_firewall_class_is_skipped_with_a_reason_without_tools(lab):
    if subprocess.run(["sh", "-c", "command -v iptables || command -v nft"], capture_output=True).returncode == 0:
        pytest.skip("iptables or nft is installed: the firewall class is checked instead")
    _, r = trace("-n", "ha", "10.0.2.2")
    assert "not installed" in r["skipped"]["firewall"]
