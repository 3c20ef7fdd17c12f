"""SIGTERM / SIGINT during a multi-step command: everything done is undone, exit 1, nothing left.

Three ways in: in-process, a signal that lands at the worst moment of a Step (right after
its kernel change, before execute() has recorded it); at the CLI, a signal while the
command is parked before Step N (VNETCTL_INJECT_FAULT=pause:N); and signals at seeded
random moments of a real run, where the outcome must be all or nothing.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

import pytest

from tests.helpers import VNETCTL, ip_json, link, names, sh, snapshot, wait_for
from vnetctl import api
from vnetctl.backend.netlink import Netlink
from vnetctl.errors import Failed, IncompleteUndo
from vnetctl.steps import Receipt, Session, Step, execute

pytestmark = pytest.mark.kernel

VETH_ADD = ["veth", "add", "sa", "sb", "--peer-netns", "sns", "--addr", "10.3.0.1/24", "--peer-addr", "10.3.0.2/24"]
VETH_STEPS = 5  # link add, two addresses, two ups


@dataclass(frozen=True)
class _Bridge(Step):
    """A test Step: add a bridge with ip; the signal to deliver arrives as the change completes."""

    name: str
    signum: int = 0

    def apply(self, s: Session) -> Receipt:
        sh("ip", "link", "add", self.name, "type", "bridge")
        if self.signum:
            os.kill(os.getpid(), self.signum)
        return None

    def undo(self, s: Session, receipt: Receipt) -> None:
        sh("ip", "link", "del", self.name, check=False)

    def command(self) -> str:
        return f"ip link add {self.name} type bridge"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("at", [0, 1, 2])
def test_signal_as_a_step_completes_undoes_that_step_too(signum: int, at: int) -> None:
    """A signal arriving just after a Step's change must not strand that change."""
    steps: list[Step] = [_Bridge(f"sb{i}", signum if i == at else 0) for i in range(3)]
    before = snapshot()
    with pytest.raises(Failed) as e:
        execute(steps)
    assert "interrupted" in e.value.message
    assert snapshot() == before, f"left behind: {names() - before[1]['']}"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_marking_a_new_device_undoes_it(signum: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worst moment inside LinkAdd: the device exists, its ownership marker not yet."""
    real = Netlink.add_altname

    def add_altname(self: Netlink, index: int, name: str, altname: str) -> None:
        os.kill(os.getpid(), signum)
        real(self, index, name, altname)

    monkeypatch.setattr(Netlink, "add_altname", add_altname)
    before = snapshot()
    with pytest.raises((Failed, IncompleteUndo)) as e:
        api.veth_add("ma", "mb", addr="10.4.0.1/24")
    assert isinstance(e.value, Failed), e.value.line()
    assert snapshot() == before


def test_signal_after_last_step_undoes_everything() -> None:
    """A signal during the last Step still rolls the whole command back: it was not finished."""
    steps: list[Step] = [_Bridge("sb0"), _Bridge("sb1", signal.SIGTERM)]
    before = snapshot()
    with pytest.raises(Failed):
        execute(steps)
    assert snapshot() == before


def test_handlers_restored_after_execute() -> None:
    """execute() leaves SIGTERM/SIGINT handling as it found it."""
    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    execute([_Bridge("sb0")])
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    with pytest.raises(Failed):
        execute([_Bridge("sb1", signal.SIGTERM)])
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def _start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(VNETCTL + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, **(env or {})))


def _wait_paused(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "paused before step" in line, line
    return line


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("step", range(VETH_STEPS))
def test_cli_signal_before_each_step_undoes_everything(signum: int, step: int) -> None:
    """`veth add` with addresses, signalled before each of its Steps: exit 1, one line, nothing left."""
    sh("ip", "netns", "add", "sns")
    before = snapshot()
    proc = _start(VETH_ADD, {"VNETCTL_INJECT_FAULT": f"pause:{step}"})
    _wait_paused(proc)
    if step > 0:
        assert link("sa") is not None  # the first Step really ran
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert "interrupted" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert snapshot() == before


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_second_signal_during_undo_does_not_strand_it(signum: int) -> None:
    """Ctrl-C pressed twice: the second one arrives while undoing and is ignored until the undo is done."""
    sh("ip", "netns", "add", "sns")
    before = snapshot()
    proc = _start(VETH_ADD, {"VNETCTL_INJECT_FAULT": f"pause:{VETH_STEPS - 1}"})
    _wait_paused(proc)
    proc.send_signal(signum)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert snapshot() == before


def _complete() -> bool:
    """True if the whole `veth add` of VETH_ADD is in place (the oracle is ip)."""
    a, b = link("sa"), link("sb", "sns")
    if a is None or b is None:
        return False
    addrs = {i["local"] for d in ip_json("addr", "show", "dev", "sa") for i in d["addr_info"]}
    peer = {i["local"] for d in ip_json("addr", "show", "dev", "sb", netns="sns") for i in d["addr_info"]}
    return "10.3.0.1" in addrs and "10.3.0.2" in peer and "UP" in a["flags"] and "UP" in b["flags"]


@pytest.mark.parametrize("seed", range(12))
def test_cli_signal_at_random_moments_is_all_or_nothing(seed: int) -> None:
    """A signal at a seeded random moment once the command has begun changing things: all or nothing."""
    rnd = random.Random(seed)
    signum = rnd.choice([signal.SIGTERM, signal.SIGINT])
    delay = rnd.uniform(0, 0.03)
    sh("ip", "netns", "add", "sns")
    before = snapshot()
    proc = _start(VETH_ADD)
    deadline = time.monotonic() + 20
    while link("sa") is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(delay)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    if proc.returncode == 1:
        assert "interrupted" in err
        assert snapshot() == before, f"seed {seed}: partial state left after exit 1"
    else:
        # The signal came after the last change: the command finished, so all of it is there.
        assert proc.returncode in (0, -signal.SIGTERM, -signal.SIGINT, 130), (proc.returncode, err)
        assert _complete(), f"seed {seed}: exit {proc.returncode} with a half-done veth add"
        vnetctl_del = subprocess.run(VNETCTL + ["veth", "del", "sa"], capture_output=True, text=True)
        assert vnetctl_del.returncode == 0
    wait_for(lambda: "sa" not in names(), what="sa gone")


def test_state_files_are_private_and_never_followed() -> None:
    """vnetctl's state files are 0600 in 0700 directories, and a planted symlink is replaced, not written through."""
    target = "/tmp/vnetctl-victim"
    with open(target, "w") as f:
        f.write("untouched\n")
    shutil.rmtree("/run/vnetctl", ignore_errors=True)
    try:
        os.makedirs("/run/vnetctl/netns", mode=0o700)
        os.symlink(target, "/run/vnetctl/netns/trap.json")
        proc = subprocess.run(VNETCTL + ["netns", "add", "trap"], capture_output=True, text=True)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        with open(target) as f:
            assert f.read() == "untouched\n"
        assert not os.path.islink("/run/vnetctl/netns/trap.json")
        assert os.stat("/run/vnetctl/netns/trap.json").st_mode & 0o777 == 0o600
        shutil.rmtree("/run/vnetctl")
        subprocess.run(VNETCTL + ["netns", "add", "fine"], check=True, capture_output=True)
        assert os.stat("/run/vnetctl/netns/fine.json").st_mode & 0o777 == 0o600
        assert os.stat("/run/vnetctl/netns").st_mode & 0o777 == 0o700
        assert os.stat("/run/vnetctl").st_mode & 0o777 == 0o700
    finally:
        os.unlink(target)
        os.makedirs("/run/vnetctl", exist_ok=True)


LAB = os.path.join(os.path.dirname(__file__), "..", "labs", "openstack-dhcp.yaml")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("step", [1, 7, 13])
def test_lab_up_signalled_undoes_everything(signum: int, step: int) -> None:
    """`lab up` (namespaces, bridge, veths, dnsmasq) signalled before Step N: exit 1, no state, nothing left."""
    before, running = snapshot(), _dnsmasqs()
    proc = _start(["lab", "up", LAB], {"VNETCTL_INJECT_FAULT": f"pause:{step}"})
    _wait_paused(proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "interrupted" in err and "Traceback" not in err, err
    assert snapshot() == before
    assert not os.path.exists("/run/vnetctl/labs/openstack-dhcp/meta.json")
    assert _dnsmasqs() <= running


def _dnsmasqs() -> set[int]:
    """The pids of running dnsmasq processes (zombies left to the sandbox's pid 1 excluded)."""
    out = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.index("(") + 1:stat.rindex(")")] == "dnsmasq" and stat[stat.rindex(")") + 2] not in "ZX":
            out.add(int(pid))
    return out
