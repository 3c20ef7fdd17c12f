"""The user-space labs come up, pass their checks, and their programs did what the articles show."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import sh, snapshot, vnetctl, wait_for
from vnetctl.lab import paths

pytestmark = pytest.mark.kernel


def _processes(lab: str) -> dict[str, int]:
    listed = json.loads(vnetctl("lab", "list", "--json", check=True).stdout)
    return {p["name"]: p["pid"] for x in listed if x["name"] == lab for p in x["processes"]}


def _up_and_check(path: str) -> None:
    up = vnetctl("lab", "up", path)
    assert up.returncode == 0, up.stderr
    check = vnetctl("lab", "check", path)
    assert check.returncode == 0 and "FAIL" not in check.stdout, check.stdout + check.stderr


def _down(path: str) -> None:
    down = vnetctl("lab", "down", path)
    assert down.returncode == 0, down.stderr


def test_tun_reader_lab_reader_prints_read_84_bytes_per_ping() -> None:
    before = snapshot()
    _up_and_check("labs/tun-reader.yaml")
    run = paths.run_dir("tun-reader")
    sh("ping", "-c", "1", "-W", "1", "192.168.10.12", netns="tunread", check=False)

    def pings() -> list[str]:
        with open(os.path.join(run, "reader.log")) as f:
            return [ln for ln in f.read().splitlines() if "ICMP 192.168.10.11 > 192.168.10.12 echo request" in ln]

    # 2 from the capture check, 2 from the output check, 1 from the ping check, 1 here
    seen = wait_for(lambda: len(pings()) >= 6 and pings(), what="6 pings in the reader's output")
    dump = sh("tcpdump", "-nr", os.path.join(run, "tun0.pcap")).stdout.splitlines()
    _down("labs/tun-reader.yaml")
    assert all(ln.startswith("Read 84 bytes from tun/tap device: ") for ln in seen)
    assert sum("ICMP echo request" in ln and "length 64" in ln for ln in dump) == len(seen)
    assert snapshot() == before


def test_tap_guest_bridge_lab_holders_name_the_guest() -> None:
    before = snapshot()
    _up_and_check("labs/tap-guest-bridge.yaml")
    pid = _processes("tap-guest-bridge")["guest"]
    holders = json.loads(vnetctl("inspect", "holders", "tap0", "--json", check=True).stdout)
    lsof = [ln.split() for ln in sh("lsof", "-p", str(pid)).stdout.splitlines() if "/dev/net/tun" in ln]
    _down("labs/tap-guest-bridge.yaml")
    assert len(lsof) == 1
    assert [(h["pid"], h["fd"]) for h in holders] == [(pid, int(lsof[0][3].rstrip("urw")))]
    assert snapshot() == before


def test_udp_tunnel_lab_carries_the_overlay_through_both_programs() -> None:
    before = snapshot()
    _up_and_check("labs/udp-tunnel.yaml")
    procs = _processes("udp-tunnel")
    assert set(procs) == {"tunnel1", "tunnel2"}
    for ns, pid in (("node1", procs["tunnel1"]), ("node2", procs["tunnel2"])):
        held = json.loads(vnetctl("inspect", "holders", "tun0", "-n", ns, "--json", check=True).stdout)
        assert [h["pid"] for h in held] == [pid]
    with open(os.path.join(paths.run_dir("udp-tunnel"), "tunnel1.log")) as f:
        started = f.read()
    _down("labs/udp-tunnel.yaml")
    assert "tunnel tun0 <-> udp 192.168.100.1:8285 (1 routes" in started
    assert snapshot() == before
