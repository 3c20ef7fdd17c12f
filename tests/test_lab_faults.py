"""Half-done work: injected faults at every Step, kill -9 and SIGTERM during up, concurrent ups."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests.helpers import VNETCTL, snapshot, vnetctl, wait_for
from vnetctl import lab as labs

pytestmark = pytest.mark.kernel

STATE = "/run/vnetctl/labs"


def live_processes() -> set[tuple[int, str]]:
    """(pid, comm) of every live process in the sandbox."""
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    raw = f.read()
            except FileNotFoundError:
                continue
            comm = raw[raw.index("(") + 1:raw.rindex(")")]
            if raw.rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                out.add((int(entry), comm))
    return out


def journal_lines(name: str) -> int:
    try:
        with open(f"{STATE}/{name}/journal.jsonl") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def _steps(path: str, **params: object) -> int:
    return len(labs.load(path, params).plan())


@pytest.mark.parametrize("path", ["labs/veth-netns.yaml", "labs/tun-device.yaml", "labs/vxlan-overlay.yaml",
                                  "labs/openstack-dhcp.yaml"])
def test_a_fault_at_every_step_leaves_nothing_behind(path: str) -> None:
    before, procs = snapshot(), live_processes()
    n = _steps(path)
    for i in range(n):
        proc = vnetctl("lab", "up", path, env={"VNETCTL_INJECT_FAULT": f"step:{i}"})
        assert proc.returncode == 1, f"step {i}: {proc.stderr}"
        assert f"injected fault before step {i}" in proc.stderr
        assert snapshot() == before, f"fault at step {i} left something"
        assert live_processes() <= procs, f"fault at step {i} left a process"
        assert labs.labs() == []
    assert vnetctl("lab", "up", path).returncode == 0
    assert vnetctl("lab", "down", path).returncode == 0
    assert snapshot() == before


def _start_up(path: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(VNETCTL + ["lab", "up", path, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.parametrize("after", [1, 2, 7, 40, 150])
def test_kill_9_during_up_then_down_leaves_nothing(after: int) -> None:
    before, procs = snapshot(), live_processes()
    up = _start_up("labs/star.yaml", "--set", "hosts=40")
    wait_for(lambda: journal_lines("star") >= after or up.poll() is not None, what=f"{after} journal lines")
    up.kill()
    up.wait()
    status = vnetctl("lab", "list", "--json", check=True).stdout
    assert '"star"' in status
    down = vnetctl("lab", "down", "star")
    assert down.returncode == 0, down.stderr
    assert snapshot() == before
    assert live_processes() <= procs | {(up.pid, "python")}
    assert labs.labs() == []


def test_kill_9_while_a_process_starts_then_down_stops_it(tmp_path) -> None:
    f = tmp_path / "slow.yaml"
    f.write_text("name: slow\nnamespaces: [{name: nss}]\nveths: [{name: vs, peer: {name: eth0, netns: nss}}]\n"
                 "processes: [{name: sleeper, netns: nss, argv: [sleep, '300'], ready: {file: /nonexistent}, "
                 "timeout: 60}]\n")
    before, procs = snapshot(), live_processes()
    up = _start_up(str(f))
    pid_file = f"{STATE}/slow/run/sleeper.pid"
    wait_for(lambda: os.path.exists(pid_file) or up.poll() is not None, what="the process's pid file")
    up.kill()
    up.wait()
    assert any(c == "sleep" for _, c in live_processes() - procs)
    partly = vnetctl("lab", "up", str(f))
    assert partly.returncode == 5 and f"partly up (crashed (pid {up.pid} gone))" in partly.stderr
    listed = labs.labs()
    assert [(x["name"], x["status"]) for x in listed] == [("slow", f"crashed (pid {up.pid} gone)")]
    down = vnetctl("lab", "down", "slow")
    assert down.returncode == 0, down.stderr
    assert snapshot() == before
    assert live_processes() <= procs


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("at", [3, 100])
def test_signal_during_up_undoes_everything(sig: signal.Signals, at: int) -> None:
    before = snapshot()
    up = subprocess.Popen(VNETCTL + ["lab", "up", "labs/star.yaml", "--set", "hosts=40"], stderr=subprocess.PIPE,
                          text=True, env=dict(os.environ, VNETCTL_INJECT_FAULT=f"pause:{at}"))
    assert up.stderr is not None
    assert f"paused before step {at}" in up.stderr.readline()
    assert journal_lines("star") == 2 * at + 1
    up.send_signal(sig)
    err = up.stderr.read()
    up.wait(timeout=60)
    assert up.returncode == 1, err
    assert "interrupted" in err and "everything done so far was undone" in err
    assert snapshot() == before
    assert labs.labs() == []


def test_two_concurrent_ups_one_wins_one_exits_75() -> None:
    first = _start_up("labs/star.yaml", "--set", "hosts=400")
    wait_for(lambda: journal_lines("star") >= 1 or first.poll() is not None, what="the first up to start")
    second = vnetctl("lab", "up", "labs/star.yaml", "--set", "hosts=400")
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert second.returncode == 75
    assert f"lab 'star' is locked by another vnetctl (pid {first.pid})" in second.stderr
    assert vnetctl("lab", "down", "star").returncode == 0


def test_lock_names_the_holder() -> None:
    from vnetctl.lab.journal import LabLock
    with LabLock("veth-netns"):
        proc = vnetctl("lab", "down", "veth-netns")
        assert proc.returncode == 75
        assert f"(pid {os.getpid()})" in proc.stderr
    assert vnetctl("lab", "down", "veth-netns").returncode == 0


def undone_lines(name: str) -> int:
    try:
        with open(f"{STATE}/{name}/journal.jsonl") as f:
            return sum(1 for line in f if '"ev":"undone"' in line)
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("after", [1, 150])
def test_kill_9_during_down_then_down_again_leaves_nothing(after: int) -> None:
    before = snapshot()
    assert vnetctl("lab", "up", "labs/star.yaml", "--set", "hosts=300").returncode == 0
    down = subprocess.Popen(VNETCTL + ["lab", "down", "star"], stderr=subprocess.DEVNULL)
    wait_for(lambda: undone_lines("star") >= after or down.poll() is not None, what=f"{after} undone records")
    down.kill()
    down.wait()
    again = vnetctl("lab", "down", "star")
    assert again.returncode == 0, again.stderr
    assert snapshot() == before
    assert labs.labs() == []


def _crashed_between_create_and_mark(kind: str, planned: str = "veth") -> None:
    """A journal whose last Step (a veth or bridge va0) had started when the process died."""
    from vnetctl.lab import journal as jr
    from vnetctl.ops.link import LinkAdd
    from vnetctl.ops.netns import NetnsAdd
    from vnetctl.steps import Session

    ns = NetnsAdd("nsa", owner="adopt")
    veth = (LinkAdd("va0", "veth", peer="va1", peer_netns="nsa", owner="adopt") if planned == "veth"
            else LinkAdd("va0", "bridge", owner="adopt")).identified()  # the ifindex it would ask for, journaled
    with jr.LabLock("adopt"):
        journal = jr.begin("adopt", "name: adopt\n", {"name": "adopt", "status": "starting", "pid": 999999})
        journal.intent(0, ns)
        with Session() as s:
            journal.done(0, ns, ns.apply(s))
        journal.intent(1, veth)
        journal.close()
    if kind == "veth":  # made by the Step itself: with the ifindex its intent recorded
        subprocess.run(["ip", "link", "add", "va0", "index", str(veth.ifindex), "type", "veth", "peer", "name", "va1",
                        "netns", "nsa", "index", str(veth.peer_ifindex)], check=True)
    elif kind == "host-veth":
        subprocess.run(["ip", "link", "add", "va0", "type", "veth", "peer", "name", "vz1"], check=True)
    else:
        subprocess.run(["ip", "link", "add", "va0", "type", kind], check=True)


def test_down_adopts_a_device_created_just_before_a_crash() -> None:
    before = snapshot()
    _crashed_between_create_and_mark("veth")
    down = vnetctl("lab", "down", "adopt")
    assert down.returncode == 0, down.stderr
    assert snapshot() == before


def test_down_never_adopts_a_device_of_another_kind() -> None:
    before = snapshot()
    _crashed_between_create_and_mark("bridge")
    down = vnetctl("lab", "down", "adopt")
    assert down.returncode == 0, down.stderr  # the veth was never made: what holds its name is someone else's
    after = snapshot()
    assert after[0] == before[0]  # the lab's namespace went
    assert after[1][""] == before[1][""] | {"va0"}  # the unmarked bridge of the same name stayed


def test_an_unfinished_step_never_claims_a_namesake() -> None:
    before = snapshot()
    _crashed_between_create_and_mark("host-veth", planned="bridge")  # someone else's veth holds the bridge's name
    down = vnetctl("lab", "down", "adopt")
    assert down.returncode == 0, down.stderr
    after = snapshot()
    assert after[0] == before[0]
    assert after[1][""] == before[1][""] | {"va0", "vz1"}
