"""Half-done work: a fault at any Step of any shipped lab undoes everything; kill -9 of
vnetctl at any moment of `lab up` leaves a journal from which `lab down` or `vnetctl cleanup`
remove exactly what was made; cleanup never touches what vnetctl did not create.

The oracle is tests.helpers.snapshot() (ip netns list + ip -j link in each namespace),
the process table and the labs' state directory.
"""

from __future__ import annotations

import glob
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import VNETCTL, ip_json, netns_names, sh, snapshot, vnetctl, wait_for
from vnetctl import lab as labs
from vnetctl.errors import IncompleteUndo, VnetError
from vnetctl.lab import journal as jr

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parent.parent
LAB_FILES = sorted(glob.glob(str(ROOT / "labs" / "*.yaml")))
STEPS = {f: len(labs.load(f).plan()) for f in LAB_FILES}
EVERY_STEP = [(f, i) for f in LAB_FILES for i in range(STEPS[f])]


def processes() -> set[tuple[int, str]]:
    """(pid, command) of every process in the sandbox but this one (zombies excluded)."""
    out = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2]
        if state not in "ZX":
            out.add((int(entry.name), comm))
    return out


def everything() -> tuple[Any, set[tuple[int, str]], list[str]]:
    """The kernel's namespaces and devices, the processes, and the labs vnetctl has state for."""
    return snapshot(), processes(), jr.names()


def _diff(before: Any, now: Any) -> str:
    """What differs between two everything() snapshots, for a failure message."""
    (spaces0, devs0), procs0, labs0 = before
    (spaces1, devs1), procs1, labs1 = now
    parts = [f"namespaces +{sorted(spaces1 - spaces0)} -{sorted(spaces0 - spaces1)}"]
    for ns in sorted(set(devs0) | set(devs1)):
        old, new = devs0.get(ns, frozenset()), devs1.get(ns, frozenset())
        if old != new:
            parts.append(f"devices in {ns or 'host'} +{sorted(new - old)} -{sorted(old - new)}")
    parts.append(f"processes +{sorted(procs1 - procs0)} -{sorted(procs0 - procs1)}")
    parts.append(f"labs +{sorted(set(labs1) - set(labs0))} -{sorted(set(labs0) - set(labs1))}")
    return "; ".join(parts)


def _as_before(before: Any) -> bool:
    """The kernel's objects and the labs as before, and no process that was not there before.

    A process that was there and is gone is not counted: one left by an earlier test may exit
    on its own meanwhile; foreign processes surviving down and cleanup is checked by the tests
    that start one (test_cleanup_never_touches_what_vnetctl_did_not_create, test_reliability_processes).
    """
    (objects, procs, names), (objects1, procs1, names1) = before, everything()
    return objects == objects1 and names == names1 and not procs1 - procs


def settles(before: Any, timeout: float, what: str) -> None:
    """Wait (bounded) until everything is as before; on timeout say what differs."""
    try:
        wait_for(lambda: _as_before(before), timeout=timeout, what=what)
    except AssertionError as e:
        raise AssertionError(f"{e}: {_diff(before, everything())}") from None


def _short(path: str) -> str:
    return Path(path).stem


@pytest.mark.parametrize("path,step", EVERY_STEP, ids=[f"{_short(f)}-{i}" for f, i in EVERY_STEP])
def test_fault_at_every_step_of_every_lab_undoes_everything(path: str, step: int,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """VNETCTL_INJECT_FAULT=step:N: lab up fails with exit 1, 'nothing was changed' is true."""
    before = everything()
    monkeypatch.setenv("VNETCTL_INJECT_FAULT", f"step:{step}")
    with pytest.raises(VnetError) as e:
        labs.load(path).up()
    assert not isinstance(e.value, IncompleteUndo), e.value.line()
    assert e.value.exit_code == 1 and f"injected fault before step {step}" in e.value.message
    assert "nothing was changed" in e.value.line()
    # devices whose peers were in the lab's namespaces go when the kernel destroys those namespaces,
    # asynchronously: bounded, generous for the tree lab's hundreds of ports on a busy machine
    settles(before, 30, "the sandbox as it was")


def test_fault_through_the_cli() -> None:
    """The same at the CLI: exit 1, one line on stderr, no traceback, nothing left, lab can come up after."""
    path = str(ROOT / "labs" / "veth-netns.yaml")
    before = everything()
    proc = vnetctl("lab", "up", path, env={"VNETCTL_INJECT_FAULT": f"step:{STEPS[path] - 1}"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Error:") and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert _as_before(before), _diff(before, everything())
    vnetctl("lab", "up", path, check=True)
    vnetctl("lab", "down", path, check=True)
    assert _as_before(before), _diff(before, everything())


def _start_up(path: str, env: dict[str, str] | None = None, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(VNETCTL + ["lab", "up", path, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, **(env or {})))


def _kill9(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    return proc.returncode


def _remove(how: str, name: str) -> None:
    proc = vnetctl("lab", "down", name) if how == "down" else vnetctl("cleanup")
    assert proc.returncode == 0, f"{how}: {proc.stderr}"
    assert "Traceback" not in proc.stderr


# Every Step of two labs (one with a process), and the process Steps of the tunnel lab.
KILL_AT = [(f, i) for f in LAB_FILES for i in range(STEPS[f])
           if _short(f) in ("veth-netns", "openstack-dhcp") or (_short(f) == "udp-tunnel" and i >= STEPS[f] - 3)]


def _take_planned_names(path: str, step: int) -> list[tuple[str | None, str, int]]:
    """Like an operator racing the crashed lab: make foreign objects with the names of Step `step` and later.

    Devices go only where no namespace of the lab is (the host, or a namespace made here), since
    deleting the lab's own namespace rightly takes whatever is inside it. Returns (netns, name,
    ifindex or nsfs inode; netns '' marks a namespace) of each object made.
    """
    made: list[tuple[str | None, str, int]] = []
    foreign_ns: set[str] = set()
    for planned in labs.load(path).plan()[step:]:
        space = planned.creates_namespace()
        if space and sh("ip", "netns", "add", space, check=False).returncode == 0:
            foreign_ns.add(space)
            made.append(("", space, os.stat(f"/run/netns/{space}").st_ino))
        for ns, dev in planned.creates():
            if ns is not None and ns not in foreign_ns:
                continue
            kind = getattr(planned, "kind", "tap")
            args = ["tuntap", "add", dev, "mode", "tap"] if kind == "tap" else \
                ["link", "add", dev, "type", "veth", "peer", "name", f"x{dev}"[:15]] if kind == "veth" else \
                ["link", "add", dev, "type", "bridge"]
            if sh("ip", *(["-n", ns] if ns else []), *args, check=False).returncode == 0:
                made.append((ns, dev, ip_json("link", "show", dev, netns=ns)[0]["ifindex"]))
    return made


def _still_there(made: list[tuple[str | None, str, int]]) -> None:
    """Every foreign object is there, the same one (ifindex, inode); then it is removed by hand."""
    for ns, name, ident in made:
        if ns == "":
            assert os.stat(f"/run/netns/{name}").st_ino == ident, f"foreign namespace {name} was touched"
        else:
            found = [d for d in ip_json("link", "show", netns=ns) if d["ifname"] == name]
            assert found and found[0]["ifindex"] == ident, f"foreign device {name} ({ns or 'host'}) was touched"
    for ns, name, _ in reversed(made):
        if ns == "":
            sh("ip", "netns", "del", name)
        elif ns is None or ns in {n for m, n, _ in made if m == ""}:
            sh("ip", *(["-n", ns] if ns else []), "link", "del", name, check=False)


@pytest.mark.parametrize("path,step", KILL_AT, ids=[f"{_short(f)}-{i}" for f, i in KILL_AT])
def test_kill9_before_each_step_then_down_or_cleanup_leaves_nothing(path: str, step: int, how: str = "") -> None:
    """vnetctl killed -9 before Step N (after its intent is journaled); then foreign objects take the names
    of Step N and later; down or cleanup removes all of the lab and none of them."""
    how = how or ("down" if step % 2 == 0 else "cleanup")
    name = labs.load(path).name
    before = everything()
    proc = _start_up(path, {"VNETCTL_INJECT_FAULT": f"pause:{step}"})
    assert proc.stderr is not None and "paused before step" in proc.stderr.readline()
    assert _kill9(proc) == -signal.SIGKILL
    assert name in jr.names()  # the crash left the lab's state behind
    again = vnetctl("lab", "up", path)
    assert again.returncode == 5 and "partly up" in again.stderr, again.stderr  # never on top of debris
    foreign = _take_planned_names(path, step)
    _remove(how, name)
    _still_there(foreign)
    settles(before, 10, "nothing left")
    down_again = vnetctl("lab", "down", name)
    assert down_again.returncode == 0  # idempotent


@pytest.mark.slow
@pytest.mark.parametrize("how", ["down", "cleanup"])
@pytest.mark.parametrize("path,step", EVERY_STEP, ids=[f"{_short(f)}-{i}" for f, i in EVERY_STEP])
def test_kill9_before_every_step_of_every_lab(path: str, step: int, how: str) -> None:
    """The same at every Step of every shipped lab, removed once by `lab down` and once by `cleanup`."""
    test_kill9_before_each_step_then_down_or_cleanup_leaves_nothing(path, step, how)


@pytest.mark.parametrize("seed", range(8))
def test_kill9_at_random_moments_of_a_big_up(seed: int) -> None:
    """kill -9 at a seeded random moment of `lab up` (mid-Step included), then down or cleanup: nothing left."""
    rnd = random.Random(seed)
    path = str(ROOT / "labs" / "star.yaml")
    before = everything()
    proc = _start_up(path, None, "--set", "hosts=24")
    wait_for(lambda: os.path.exists("/run/vnetctl/labs/star/journal.jsonl") or proc.poll() is not None,
             what="the journal")
    time.sleep(rnd.uniform(0.0, 0.5))
    assert _kill9(proc) in (-signal.SIGKILL, 0)  # 0: it finished first
    _remove(rnd.choice(["down", "cleanup"]), "star")
    settles(before, 10, "nothing left")


FOREIGN = [
    ["ip", "netns", "add", "foreign"],
    ["ip", "link", "add", "fveth0", "type", "veth", "peer", "name", "fveth1", "netns", "foreign"],
    ["ip", "link", "add", "fbr0", "type", "bridge"],
    ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "vs99"],  # look like a star lab's
    ["ip", "netns", "add", "h9"],
    ["ip", "tuntap", "add", "ftap0", "mode", "tap"],
    ["ip", "link", "set", "ftap0", "master", "fbr0"],
    ["ip", "-n", "foreign", "link", "add", "fin0", "type", "bridge"],
]


def _foreign_state() -> dict[str, Any]:
    found = {"netns": sorted(n for n in netns_names() if n in ("foreign", "h9"))}
    for ns in (None, "foreign", "h9"):
        found[ns or ""] = sorted((d["ifname"], d["ifindex"], tuple(d.get("altnames", [])), d.get("master"))
                                 for d in ip_json("link", "show", netns=ns)
                                 if not d["ifname"].startswith(("vs", "br-star")) or d["ifname"] == "vs99")
    return found


@pytest.mark.parametrize("crash", [False, True])
def test_cleanup_never_touches_what_vnetctl_did_not_create(crash: bool) -> None:
    """Foreign namespaces, devices (even with the names a lab uses) and a foreign process survive cleanup."""
    for cmd in FOREIGN:
        sh(*cmd)
    sleeper = subprocess.Popen(["ip", "netns", "exec", "foreign", "sleep", "300"])
    try:
        foreign = _foreign_state()
        before = everything()
        path = str(ROOT / "labs" / "star.yaml")
        proc = _start_up(path, {"VNETCTL_INJECT_FAULT": "pause:9"} if crash else None, "--set", "hosts=6")
        if crash:
            assert proc.stderr is not None and "paused" in proc.stderr.readline()
            assert _kill9(proc) == -signal.SIGKILL
        else:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        assert any(n.startswith("h") and n != "h9" for n in netns_names())
        dry = vnetctl("cleanup", "--dry-run")
        assert dry.returncode == 0 and "foreign" not in dry.stdout and "fbr0" not in dry.stdout
        assert "ftap0" not in dry.stdout and "netns del h9" not in dry.stdout
        assert _foreign_state() == foreign  # the dry run changed nothing
        proc2 = vnetctl("cleanup")
        assert proc2.returncode == 0, proc2.stderr
        assert _foreign_state() == foreign
        assert sleeper.poll() is None  # a process vnetctl did not start is never signalled
        settles(before, 10, "exactly the lab gone")
        again = vnetctl("cleanup")
        assert again.returncode == 0 and _foreign_state() == foreign
    finally:
        sleeper.kill()
        sleeper.wait()


def test_lab_down_keeps_a_foreign_device_that_took_a_lab_name() -> None:
    """If a lab device is deleted and someone makes one of the same name, down leaves the newcomer alone."""
    path = str(ROOT / "labs" / "star.yaml")
    vnetctl("lab", "up", path, "--set", "hosts=2", check=True)
    sh("ip", "link", "del", "br-star")
    sh("ip", "link", "add", "br-star", "type", "bridge")  # an impostor, unmarked
    proc = vnetctl("lab", "down", "star")
    assert proc.returncode in (0, 3), proc.stderr
    assert "Traceback" not in proc.stderr
    assert any(d["ifname"] == "br-star" for d in ip_json("link", "show"))
    assert not any(n.startswith("h") for n in netns_names())


@pytest.mark.parametrize("record", ['{"ev":"intent","i":99,"step":{"step":"NoSuchStep"}}',
                                    '{"ev":"intent","i":98,"step":{"step":"NetnsAdd"}}',
                                    '{"ev":"done"}', '[1, 2]', '"just text"'])
def test_a_damaged_journal_is_a_clean_error_and_cleanup_still_works(record: str) -> None:
    """A journal record vnetctl cannot read (damage, another version): no internal error; cleanup removes all."""
    path = str(ROOT / "labs" / "veth-netns.yaml")
    before = everything()
    vnetctl("lab", "up", path, check=True)
    with open("/run/vnetctl/labs/veth-netns/journal.jsonl", "a") as f:
        f.write(record + "\n")
    down = vnetctl("lab", "down", "veth-netns")
    assert down.returncode in (0, 3), down.stderr
    assert "internal error" not in down.stderr and "Traceback" not in down.stderr
    clean = vnetctl("cleanup")
    assert clean.returncode == 0, clean.stderr
    settles(before, 10, "nothing left")


@pytest.mark.parametrize("seed", range(4))
def test_kill9_during_down_then_down_again_leaves_nothing(seed: int) -> None:
    """A `lab down` killed -9 at a seeded random moment is finished by the next `lab down`."""
    rnd = random.Random(seed)
    before = everything()
    vnetctl("lab", "up", str(ROOT / "labs" / "star.yaml"), "--set", "hosts=40", check=True)
    down = subprocess.Popen(VNETCTL + ["lab", "down", "star"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(rnd.uniform(0.1, 0.6))
    assert _kill9(down) in (-signal.SIGKILL, 0)
    again = vnetctl("lab", "down", "star")
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    settles(before, 10, "nothing left")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_down_does_not_stop_it_halfway(signum: int) -> None:
    """SIGTERM/SIGINT during `lab down`: the teardown finishes (or a second down does), never half a lab."""
    before = everything()
    vnetctl("lab", "up", str(ROOT / "labs" / "star.yaml"), "--set", "hosts=40", check=True)
    down = subprocess.Popen(VNETCTL + ["lab", "down", "star"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wait_for(lambda: len(netns_names()) < 40 or down.poll() is not None, what="the teardown to start")
    down.send_signal(signum)
    _, err = down.communicate(timeout=60)
    assert "Traceback" not in err, err
    if down.returncode != 0:
        assert vnetctl("lab", "down", "star").returncode == 0
    settles(before, 10, "nothing left")
