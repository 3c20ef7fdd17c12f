"""`vnetctl lab plan LAB | sh` makes what `lab up` makes, for every shipped lab, marked as the plan's."""

from __future__ import annotations

import glob
import json
import os
import subprocess

import pytest
from helpers import netns_names, vnetctl, wait_for
from labtopo import shell_env, topology

pytestmark = pytest.mark.kernel

PROCESSES = {"openstack-dhcp", "tap-guest-bridge", "trace-routed", "tun-reader", "udp-tunnel"}
LABS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "labs", "*.yaml")))


def _altnames() -> list[str]:
    out = []
    for ns in [None, *netns_names()]:
        cmd = ["ip", "-j"] + (["-n", ns] if ns else []) + ["link", "show"]
        out += [a for d in json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
                for a in d.get("altnames", [])]
    return out


def _running(pid: int) -> bool:
    """Not gone and not a zombie (in the sandbox orphans are reparented to pytest, which does not reap them)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("path", LABS, ids=os.path.basename)
def test_plan_script_runs_with_sh_and_makes_what_up_makes(path: str) -> None:
    name = os.path.basename(path)[:-5]
    vnetctl("lab", "up", path, check=True)
    made_by_up = topology()
    vnetctl("lab", "down", path, check=True)
    assert netns_names() == set()

    script = vnetctl("lab", "plan", path, check=True).stdout
    run = subprocess.run(["sh"], input=script, capture_output=True, text=True, env=shell_env(), timeout=60)
    assert run.returncode == 0, run.stderr
    assert topology() == made_by_up
    markers = _altnames()
    assert markers and all(not a.startswith("vnet-o-") for a in markers)
    assert all(a.startswith(f"vnet-p-{name}-") for a in markers)

    status = json.loads(vnetctl("lab", "status", name, "--json", check=True).stdout)[0]
    assert status["status"] == "down" and status["plan"]["owner"] == f"plan:{name}"
    assert len(status["plan"]["devices"]) == len(markers)
    assert all(p["running"] for p in status["plan"]["processes"])
    table = vnetctl("lab", "status", name, check=True).stdout
    assert "a copy made by its plan script" in table

    busy = vnetctl("lab", "up", path)
    assert busy.returncode == 5 and f"cleanup --owner plan:{name}" in busy.stderr and _altnames() == markers

    # plain cleanup leaves the plan's copy alone and says so; --owner plan:NAME removes all of it
    kept = vnetctl("cleanup", check=True)
    assert f"plan:{name}" in kept.stderr and _altnames() == markers
    gone = vnetctl("cleanup", "--owner", f"plan:{name}", "--json", check=True)
    actions = json.loads(gone.stdout)["actions"]
    assert {a["owner"] for a in actions} == {f"plan:{name}"}
    wait_for(lambda: not _altnames() and not netns_names(), what="the plan's copy removed")
    pids = [p["pid"] for p in status["plan"]["processes"]]
    assert (pids or name not in PROCESSES) and not [p for p in pids if _running(p)]
    assert not os.path.exists(f"/run/vnetctl/plans/{name}")


def test_plan_script_stops_at_the_first_error() -> None:
    path = os.path.join(os.path.dirname(__file__), "..", "labs", "veth-netns.yaml")
    subprocess.run(["ip", "netns", "add", "ns2"], check=True)  # the plan's second namespace is taken
    script = vnetctl("lab", "plan", path, check=True).stdout
    run = subprocess.run(["sh"], input=script, capture_output=True, text=True, env=shell_env(), timeout=60)
    assert run.returncode != 0 and "ns2" in run.stderr
    assert not [a for a in _altnames() if a.startswith("vnet-")]  # it stopped before any device


def test_plan_script_fails_when_a_process_dies(tmp_path) -> None:
    lab = tmp_path / "dies.yaml"
    lab.write_text("name: dies\nnamespaces: [{name: d1}]\nprocesses:\n  - {name: quits, netns: d1, argv: [false]}\n")
    script = vnetctl("lab", "plan", str(lab), check=True).stdout
    run = subprocess.run(["sh"], input=script, capture_output=True, text=True, env=shell_env(), timeout=60)
    assert run.returncode == 1 and "process quits exited during start-up" in run.stderr
