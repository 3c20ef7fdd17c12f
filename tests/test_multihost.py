"""Labs across hosts, on simulated hosts (tests/simhosts.py): each its own namespaces and sshd.

The oracles run inside each host: `ip -j`, `ip netns`, `tcpdump` on the underlay, `ping`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from simhosts import SSHD, Hosts

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(SSHD is None or shutil.which("ssh") is None,
                                 reason="needs sshd and ssh (Debian openssh-server, openssh-client: make deps)")]

TWO = "labs/multihost/two-hosts.yaml"
THREE = "labs/multihost/three-hosts.yaml"
SPANNING = "labs/multihost/bridge-across-hosts.yaml"
VNETCTL = [sys.executable, "-m", "vnetctl"]


@pytest.fixture
def hosts2(tmp_path: Path):
    hs = Hosts(tmp_path / "hosts", 2)
    yield hs
    hs.stop()


@pytest.fixture
def hosts3(tmp_path: Path):
    hs = Hosts(tmp_path / "hosts", 3)
    yield hs
    hs.stop()


def run(hs: Hosts, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The controller: vnetctl here, reaching the hosts through the test's ssh_config."""
    return subprocess.run(VNETCTL + list(args), capture_output=True, text=True, timeout=120,
                          env={**hs.env(), "COLUMNS": "200", **(env or {})})


def record_exists(name: str) -> bool:
    return os.path.exists(f"/run/vnetctl/hosts/{name}.json")


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def vxlan_of(hs: Hosts, i: int, netns: str, dev: str) -> dict:
    out = hs[i].run("ip", "-j", "-d", "-n", netns, "link", "show", dev)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]


def test_two_hosts_up_check_down(hosts2: Hosts) -> None:
    before = [h.snapshot() for h in hosts2.hosts]
    up = run(hosts2, "lab", "up", TWO)
    assert up.returncode == 0, up.stderr
    assert "MTU 1450 (underlay 1500 - 50 bytes of VXLAN encapsulation)" in up.stderr
    ea, eb = vxlan_of(hosts2, 0, "a", "ea"), vxlan_of(hosts2, 1, "b", "eb")
    for end, local, remote in ((ea, "192.168.200.1", "192.168.200.2"), (eb, "192.168.200.2", "192.168.200.1")):
        data = end["linkinfo"]["info_data"]
        assert end["linkinfo"]["info_kind"] == "vxlan" and end["mtu"] == 1450
        assert (data["local"], data["remote"], data["port"]) == (local, remote, 4789)
    assert ea["linkinfo"]["info_data"]["id"] == eb["linkinfo"]["info_data"]["id"]
    assert hosts2[0].run("ip", "-j", "link", "show", "ea").returncode != 0  # in namespace a, not the host's
    status = run(hosts2, "lab", "status", "two-hosts", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)[0]["hosts"] == {"h1": "up", "h2": "up"}

    # the overlay's frames travel the underlay as VXLAN with the link's VNI
    dump = hosts2[0].popen("tcpdump", "-n", "-l", "-c", "2", "-i", "ul0", "udp", "port", "4789")
    time.sleep(0.5)  # tcpdump needs a moment to attach before the ping it must see
    check = run(hosts2, "lab", "check", TWO)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(" pass ") == 2
    out, _ = dump.communicate(timeout=20)
    assert f"VXLAN, flags [I] (0x08), vni {ea['linkinfo']['info_data']['id']}" in out, out

    down = run(hosts2, "lab", "down", "two-hosts")
    assert down.returncode == 0, down.stderr
    assert [h.snapshot() for h in hosts2.hosts] == before
    assert not record_exists("two-hosts")
    again = run(hosts2, "lab", "down", "two-hosts")
    assert again.returncode == 0 and "not up" in again.stderr


def test_three_hosts_ring_up_check_down(hosts3: Hosts) -> None:
    before = [h.snapshot() for h in hosts3.hosts]
    up = run(hosts3, "lab", "up", THREE)
    assert up.returncode == 0, up.stderr
    vnis = {vxlan_of(hosts3, i, ns, dev)["linkinfo"]["info_data"]["id"]
            for i, ns, dev in ((0, "a", "ab"), (1, "b", "bc"), (2, "c", "ca"))}
    assert len(vnis) == 3  # one VNI per link
    assert hosts3[2].run("ip", "-j", "-n", "d", "link", "show", "dc").returncode == 0
    assert json.loads(hosts3[2].run("ip", "-j", "-d", "-n", "d", "link", "show", "dc").stdout)[0]["linkinfo"][
        "info_kind"] == "veth"  # both ends on h3: a plain veth
    check = run(hosts3, "lab", "check", THREE)
    assert check.returncode == 0, check.stdout + check.stderr
    ping = hosts3[1].run("ip", "netns", "exec", "b", "ping", "-c", "1", "-W", "2", "10.1.0.1")
    assert ping.returncode == 0, ping.stdout  # independent of vnetctl's own checks
    seen = run(hosts3, "inspect", "--lab", "three-hosts", "--json")
    assert seen.returncode == 0, seen.stderr
    found = json.loads(seen.stdout)
    assert {lk["vni"] for lk in found["links"]} == vnis  # the kernels' VXLANs, paired across hosts
    assert {(lk["a"]["host"], lk["a"]["dev"], lk["b"]["host"], lk["b"]["dev"]) for lk in found["links"]} == {
        ("h1", "ab", "h2", "ba"), ("h1", "ac", "h3", "ca"), ("h2", "bc", "h3", "cb")}
    picture = run(hosts3, "inspect", "--hosts", ",".join(h.ssh for h in hosts3.hosts), "--format", "dot")
    assert picture.stdout.count('label="VXLAN vni') == 3 and picture.stdout.count("subgraph cluster_h") >= 3
    down = run(hosts3, "lab", "down", THREE)
    assert down.returncode == 0, down.stderr
    assert [h.snapshot() for h in hosts3.hosts] == before


def _paused_up(hs: Hosts, lab: str, at: int) -> tuple[subprocess.Popen[str], list[str]]:
    """`lab up` parked before Step `at` on every host (fault injection travels with the request)."""
    proc = subprocess.Popen(VNETCTL + ["lab", "up", lab], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**hs.env(), "VNETCTL_INJECT_FAULT": f"pause:{at}"})
    lines: list[str] = []
    assert proc.stderr is not None
    while sum("paused before step" in ln for ln in lines) < len(hs.hosts):
        line = proc.stderr.readline()
        assert line, f"lab up ended before pausing: {''.join(lines)}"
        lines.append(line)
    return proc, lines


def test_sshd_killed_mid_up_rolls_back_every_host(hosts2: Hosts) -> None:
    before = [h.snapshot() for h in hosts2.hosts]
    proc, _ = _paused_up(hosts2, TWO, 4)
    assert hosts2[0].run("ip", "netns", "list").stdout.strip()  # h1 is half-way: namespace a exists
    hosts2[1].kill_sshd()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err  # h2's rollback cannot be confirmed from here
    assert "host h2: connection lost" in err
    # h1 was aborted by the controller; h2's agent undid its part when its channel closed
    for h, snap in zip(hosts2.hosts, before, strict=True):
        wait_for(lambda h=h, snap=snap: h.snapshot() == snap, 20, f"{h.name} back as it was")
    assert record_exists("two-hosts")  # kept: h2 is to be confirmed
    status = run(hosts2, "lab", "status", "two-hosts", "--json")
    assert json.loads(status.stdout)[0]["hosts"]["h2"].startswith("unreachable")
    unreachable = run(hosts2, "lab", "down", "two-hosts")
    assert unreachable.returncode == 69 and "h2" in unreachable.stderr
    hosts2[1].start_sshd()
    down = run(hosts2, "lab", "down", "two-hosts")
    assert down.returncode == 0, down.stderr
    assert not record_exists("two-hosts")


def test_controller_killed_mid_up_then_down_cleans_every_host(hosts2: Hosts) -> None:
    before = [h.snapshot() for h in hosts2.hosts]
    proc, _ = _paused_up(hosts2, TWO, 4)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    status = run(hosts2, "lab", "status", "two-hosts", "--json")
    assert json.loads(status.stdout)[0]["status"].startswith("crashed"), status.stdout
    down = run(hosts2, "lab", "down", "two-hosts")
    assert down.returncode == 0, down.stderr
    for h, snap in zip(hosts2.hosts, before, strict=True):
        wait_for(lambda h=h, snap=snap: h.snapshot() == snap, 20, f"{h.name} back as it was")
    assert not record_exists("two-hosts")


def test_an_agent_killed_mid_up_leaves_a_journal_that_lab_down_follows(hosts2: Hosts) -> None:
    before = [h.snapshot() for h in hosts2.hosts]
    proc, _ = _paused_up(hosts2, TWO, 4)
    hosts2[1].kill_agents()  # h2's part stops half-way, with no rollback: only its journal knows
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3 and "host h2: connection lost" in err, err
    wait_for(lambda: hosts2[0].snapshot() == before[0], 20, "h1 rolled back")
    left = hosts2[1].snapshot()
    assert left["netns"] == ["b"] and left["labs"]
    assert hosts2[1].run("ip", "-n", "b", "link", "show", "eb").returncode == 0
    down = run(hosts2, "lab", "down", "two-hosts")
    assert down.returncode == 0, down.stderr
    assert [h.snapshot() for h in hosts2.hosts] == before
    assert not record_exists("two-hosts")


def test_an_unreachable_host_changes_nothing_anywhere(hosts2: Hosts) -> None:
    hosts2[1].kill_sshd()
    before = [h.snapshot() for h in hosts2.hosts]
    up = run(hosts2, "lab", "up", TWO)
    assert up.returncode == 69, up.stderr
    assert "host h2 (root@192.168.200.2) is unreachable" in up.stderr and "nothing was changed" in up.stderr
    assert [h.snapshot() for h in hosts2.hosts] == before
    assert not record_exists("two-hosts")


def test_a_cross_host_end_deleted_by_hand_is_drift_of_its_host(hosts2: Hosts) -> None:
    up = run(hosts2, "lab", "up", TWO)
    assert up.returncode == 0, up.stderr
    clean = run(hosts2, "lab", "status", "two-hosts", "--json")
    assert json.loads(clean.stdout)[0]["drift"] == [], clean.stdout
    gone = hosts2[1].run("ip", "-n", "b", "link", "del", "eb")  # by hand, on h2 only
    assert gone.returncode == 0, gone.stderr
    status = run(hosts2, "lab", "status", "two-hosts", "--json")
    assert status.returncode == 0, status.stderr
    got = json.loads(status.stdout)[0]
    assert got["hosts"] == {"h1": "up", "h2": "up"}
    assert [d for d in got["drift"] if d.startswith("h2: ") and "eb" in d], got["drift"]
    assert not [d for d in got["drift"] if d.startswith("h1: ")], got["drift"]
    text = run(hosts2, "lab", "status", TWO)
    assert "h2: " in text.stdout + text.stderr and "eb" in text.stdout + text.stderr, text.stdout
    down = run(hosts2, "lab", "down", "two-hosts")
    assert down.returncode == 0, down.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_controller_interrupted_mid_up_rolls_back_every_host(hosts2: Hosts, signum: int) -> None:
    before = [h.snapshot() for h in hosts2.hosts]
    proc, _ = _paused_up(hosts2, TWO, 4)
    assert hosts2[0].snapshot() != before[0]  # h1 is half-way
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "interrupted" in err and "every host was rolled back" in err and "Traceback" not in err, err
    assert [h.snapshot() for h in hosts2.hosts] == before  # confirmed by each host before the controller exits
    assert not record_exists("two-hosts")


def test_controller_and_agents_killed_mid_up_then_cleanup_cleans_every_host(hosts2: Hosts) -> None:
    before = [h.snapshot() for h in hosts2.hosts]
    proc, _ = _paused_up(hosts2, TWO, 4)
    agents = [pid for h in hosts2.hosts for pid in h.pids("python", "base64")]
    for pid in agents:  # frozen first, so none can undo its part when the controller's channel closes
        os.kill(pid, signal.SIGSTOP)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    for pid in agents:
        os.kill(pid, signal.SIGKILL)
    left = [h.snapshot() for h in hosts2.hosts]
    assert left[0]["netns"] == ["a"] and left[1]["netns"] == ["b"] and left[0]["labs"] and left[1]["labs"]
    dry = run(hosts2, "cleanup", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    planned = {(a["host"], a["action"], a["object"], a["name"]) for a in json.loads(dry.stdout)["actions"]}
    assert {("h1", "undo", "lab", "two-hosts"), ("h2", "undo", "lab", "two-hosts"),
            (None, "forget", "lab-record", "two-hosts")} <= planned, planned
    assert [h.snapshot() for h in hosts2.hosts] == left and record_exists("two-hosts")  # a dry run changes nothing
    hosts2[1].kill_sshd()
    partly = run(hosts2, "cleanup")  # h1 is cleaned; h2 cannot be reached: named, and kept in the record
    assert partly.returncode == 3 and "host h2" in partly.stderr, partly.stderr
    assert hosts2[0].snapshot() == before[0] and hosts2[1].snapshot() == left[1] and record_exists("two-hosts")
    hosts2[1].start_sshd()
    clean = run(hosts2, "cleanup")
    assert clean.returncode == 0, clean.stderr
    assert "# on host h2: undo lab two-hosts's journal" in clean.stdout, clean.stdout
    assert [h.snapshot() for h in hosts2.hosts] == before
    assert not record_exists("two-hosts")
    again = run(hosts2, "cleanup", "--owner", "two-hosts")
    assert again.returncode == 0 and "nothing of vnetctl's found" in again.stderr, again.stdout + again.stderr


def test_a_bridge_across_three_hosts(hosts3: Hosts) -> None:
    before = [h.snapshot() for h in hosts3.hosts]
    up = run(hosts3, "lab", "up", SPANNING)
    assert up.returncode == 0, up.stderr
    assert "bridge br0 spans hosts h1, h2, h3" in up.stderr and "MTU 1450 on the bridge and its ports" in up.stderr
    vnis = set()
    for i, h in enumerate(hosts3.hosts):
        port = json.loads(h.run("ip", "-j", "-d", "link", "show", "br0-vx").stdout)[0]
        data = port["linkinfo"]["info_data"]
        assert port["linkinfo"]["info_kind"] == "vxlan" and port["master"] == "br0" and port["mtu"] == 1450
        assert data["local"] == h.addr and data["port"] == 4789 and "remote" not in data
        vnis.add(data["id"])
        floods = {e["dst"] for e in json.loads(h.run("bridge", "-j", "fdb", "show", "dev", "br0-vx").stdout)
                  if e["mac"] == "00:00:00:00:00:00"}
        assert floods == {o.addr for o in hosts3.hosts if o is not h}  # head-end replication to the other hosts
        ns = "abc"[i]
        assert json.loads(h.run("ip", "-j", "-n", ns, "link", "show", "eth0").stdout)[0]["mtu"] == 1450
        ports = {p["ifname"] for p in json.loads(h.run("bridge", "-j", "link", "show").stdout) if p.get("master") == "br0"}
        assert ports == {"br0-vx", f"v{ns}"}
    assert len(vnis) == 1  # one VNI for the bridge on every host

    dump = hosts3[2].popen("tcpdump", "-n", "-l", "-c", "1", "-i", "ul0", "udp", "port", "4789")
    time.sleep(0.5)  # tcpdump needs a moment to attach before the ping it must see
    for i, ns, to in ((0, "a", "10.5.0.2"), (1, "b", "10.5.0.3"), (2, "c", "10.5.0.1"), (0, "a", "10.5.0.3")):
        ping = hosts3[i].run("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", to)
        assert ping.returncode == 0, (ns, to, ping.stdout)
    out, _ = dump.communicate(timeout=20)
    assert f"VXLAN, flags [I] (0x08), vni {next(iter(vnis))}" in out, out
    check = run(hosts3, "lab", "check", SPANNING)
    assert check.returncode == 0 and check.stdout.count(" pass ") == 3, check.stdout + check.stderr
    seen = run(hosts3, "inspect", "--lab", "bridge-across-hosts", "--json")
    assert seen.returncode == 0, seen.stderr
    assert {(lk["a"]["host"], lk["b"]["host"], lk["a"]["dev"], lk["b"]["dev"], lk["vni"]) for lk in json.loads(seen.stdout)["links"]} \
        == {(a, b, "br0-vx", "br0-vx", next(iter(vnis))) for a, b in (("h1", "h2"), ("h1", "h3"), ("h2", "h3"))}

    down = run(hosts3, "lab", "down", "bridge-across-hosts")
    assert down.returncode == 0, down.stderr
    assert [h.snapshot() for h in hosts3.hosts] == before
    assert not record_exists("bridge-across-hosts")
