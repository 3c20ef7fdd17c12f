"""Trust on a shared host: ownership is proven after a crash, cleanup keeps to its scope and
never races a lab change, restores what a crashed lab changed, and damaged state is recovered.

Oracles: ip -j (devices, ifindex), ip netns list, stat of /run/netns (inodes), /proc/sys.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers import VNETCTL, link, netns_names, sh, snapshot, vnetctl, wait_for

pytestmark = pytest.mark.kernel

STATE = "/run/vnetctl"


def _pause_up(path: str, step: int, *extra: str) -> subprocess.Popen[str]:
    """`lab up` parked before Step `step` (its intent journaled), holding the lab's locks."""
    proc = subprocess.Popen(VNETCTL + ["lab", "up", path, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, VNETCTL_INJECT_FAULT=f"pause:{step}"))
    assert proc.stderr is not None and "paused before step" in proc.stderr.readline()
    return proc


def _kill9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    return str(path)


def _inode(name: str) -> int:
    return os.stat(f"/run/netns/{name}").st_ino


ADOPT_LAB = "name: adopt\nnamespaces: [{name: nsa}]\nbridges: [{name: bra}]\n" \
            "veths: [{name: va0, peer: {name: va1, netns: nsa}}]\n"


@pytest.mark.parametrize("step", [0, 1, 3])
def test_foreign_objects_with_the_planned_names_survive_down_after_a_crash(tmp_path: Path, step: int) -> None:
    """kill -9 before Step N (namespace, bridge, veth), then the planned names taken by hand: down leaves them, warns, 0."""
    path = _write(tmp_path, ADOPT_LAB)
    before = snapshot()
    _kill9(_pause_up(path, step))
    made = []
    if "nsa" not in netns_names():
        sh("ip", "netns", "add", "nsa")
        made.append(("netns", "nsa", _inode("nsa")))
    if link("bra") is None:
        sh("ip", "link", "add", "bra", "type", "bridge")
        made.append(("link", "bra", link("bra")["ifindex"]))  # type: ignore[index]
    if link("va0") is None:
        sh("ip", "link", "add", "va0", "type", "veth", "peer", "name", "va1")
        made.append(("link", "va0", link("va0")["ifindex"]))  # type: ignore[index]
    down = vnetctl("lab", "down", "adopt")
    assert down.returncode == 0, down.stderr
    assert "Traceback" not in down.stderr
    assert "warning: left alone:" in down.stderr, down.stderr  # what held Step N's name is named
    for kind, name, ident in made:
        if kind == "netns":
            assert name in netns_names() and _inode(name) == ident, f"foreign namespace {name} was touched"
        else:
            found = link(name)
            assert found is not None and found["ifindex"] == ident, f"foreign device {name} was touched"
    for kind, name, _ in made:
        sh("ip", "netns", "del", name) if kind == "netns" else sh("ip", "link", "del", name)
    wait_for(lambda: snapshot() == before, what="only the foreign objects were left")


def test_a_device_made_just_before_the_crash_is_proven_ours_by_its_ifindex(tmp_path: Path) -> None:
    """The ifindex journaled before creation proves ownership: that device is adopted and removed."""
    from vnetctl.lab import journal as jr
    path = _write(tmp_path, ADOPT_LAB)
    before = snapshot()
    _kill9(_pause_up(path, 1))  # before the bridge
    intent = [e for e in jr.replay("adopt") if not e.done][0].step
    assert intent.ifindex >= 1 << 24  # type: ignore[attr-defined]
    sh("ip", "link", "add", "bra", "index", str(intent.ifindex), "type", "bridge")  # type: ignore[attr-defined]
    down = vnetctl("lab", "down", "adopt")
    assert down.returncode == 0 and "left alone" not in down.stderr, down.stderr
    assert snapshot() == before


def test_cleanup_never_deletes_a_namesake_namespace_with_a_reused_inode() -> None:
    """nsfs inodes are reused; the netns cookie is not: a namespace made by hand after ours is never deleted.

    The kernel reuses an inode only by chance on a busy host, so the record is given the newcomer's
    inode, exactly what reuse would look like; only the cookie tells them apart.
    """
    import json
    vnetctl("netns", "add", "twin", check=True)
    sh("ip", "netns", "del", "twin")
    sh("ip", "netns", "add", "twin")
    record = Path(f"{STATE}/netns/twin.json")
    rec = json.loads(record.read_text())
    assert rec["cookie"], rec  # this kernel has SO_NETNS_COOKIE
    record.write_text(json.dumps(dict(rec, inode=_inode("twin"))))
    out = vnetctl("cleanup", "--all")
    assert out.returncode == 0, out.stderr
    assert "twin" in netns_names(), "cleanup deleted a namespace vnetctl did not make"
    assert "forget namespace record twin" in out.stdout
    sh("ip", "netns", "del", "twin")


SYSCTL_LAB = "name: sys\nsysctls: {net.ipv4.ip_forward: '1', net.ipv4.conf.all.rp_filter: '2'}\n" \
             "namespaces: [{name: nss}]\n"  # Steps: nss, ip_forward, rp_filter


def _sysctl(key: str) -> str:
    return Path("/proc/sys/" + key.replace(".", "/")).read_text().strip()


def test_cleanup_restores_sysctls_a_crashed_lab_changed(tmp_path: Path) -> None:
    path = _write(tmp_path, SYSCTL_LAB)
    sh("sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv4.conf.all.rp_filter=0")
    _kill9(_pause_up(path, 2))  # ip_forward set, rp_filter about to be
    assert _sysctl("net.ipv4.ip_forward") == "1"
    out = vnetctl("cleanup")
    assert out.returncode == 0, out.stderr
    assert (_sysctl("net.ipv4.ip_forward"), _sysctl("net.ipv4.conf.all.rp_filter")) == ("0", "0")
    assert vnetctl("lab", "list", "--json", check=True).stdout.strip() == "[]"


def test_cleanup_keeps_the_record_of_what_it_could_not_undo(tmp_path: Path) -> None:
    """A sysctl that cannot be restored keeps the lab's journal (exit 3), so nothing is forgotten."""
    path = _write(tmp_path, SYSCTL_LAB)
    _kill9(_pause_up(path, 2))
    journal = Path(f"{STATE}/labs/sys/journal.jsonl")
    lines = journal.read_text().splitlines()
    # the recorded old value is one the kernel refuses: the undo fails
    journal.write_text("\n".join(ln.replace('"old":"0"', '"old":"x"', 1) if '"done"' in ln and '"i":1' in ln else ln
                                 for ln in lines) + "\n")
    out = vnetctl("cleanup")
    assert out.returncode == 3, out.stderr
    assert journal.exists() and "sys" in vnetctl("lab", "list", check=True).stdout
    sh("sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv4.conf.all.rp_filter=0")
    text = journal.read_text().replace('"old":"x"', '"old":"0"')
    journal.write_text(text)
    assert vnetctl("lab", "down", "sys").returncode == 0


@pytest.mark.parametrize("damage", ["meta", "netns"])
def test_damaged_state_is_reported_and_recovered_from(damage: str) -> None:
    before = snapshot()
    vnetctl("lab", "up", "labs/veth-netns.yaml", check=True)
    target = Path(f"{STATE}/labs/veth-netns/meta.json" if damage == "meta" else f"{STATE}/netns/ns1.json")
    target.write_text(target.read_text()[:7])  # truncated, as by a full disk
    for args in (["lab", "list"], ["lab", "status"], ["lab", "status", "veth-netns"]):
        out = vnetctl(*args)
        assert out.returncode == 0 and "internal error" not in out.stderr, (args, out.stderr)
    if damage == "meta":
        assert "damaged" in vnetctl("lab", "list", check=True).stdout
        up = vnetctl("lab", "up", "labs/veth-netns.yaml")
        assert up.returncode == 5 and "lab down" in up.stderr, up.stderr
        down = vnetctl("lab", "down", "veth-netns")
        assert down.returncode == 0, down.stderr
        assert str(target) in down.stderr and "damaged" in down.stderr
    else:
        dry = vnetctl("cleanup", "--dry-run")
        assert dry.returncode == 0 and "internal error" not in dry.stderr, dry.stderr
        assert str(target) in dry.stderr
        out = vnetctl("cleanup")
        assert out.returncode == 0, out.stderr
    assert snapshot() == before


STUBBORN = "name: stubborn\nnamespaces: [{name: nst}]\nprocesses:\n  - name: deaf\n    netns: nst\n" \
           "    argv: [python3, -c, 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)']\n"


def test_lab_up_during_cleanup_exits_75_naming_cleanup(tmp_path: Path) -> None:
    """cleanup slowed by a process that ignores SIGTERM: a lab up meanwhile is refused (75), never swept away."""
    before = snapshot()
    vnetctl("lab", "up", _write(tmp_path, STUBBORN), check=True)
    clean = subprocess.Popen(VNETCTL + ["cleanup"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = Path(f"{STATE}/lock")
    wait_for(lambda: lock.exists() and lock.read_text().strip() == str(clean.pid), what="cleanup to hold its lock")
    up = vnetctl("lab", "up", "labs/veth-netns.yaml")
    assert up.returncode == 75, up.stderr
    assert f"cleanup (pid {clean.pid}) is running" in up.stderr
    _, err = clean.communicate(timeout=60)
    assert clean.returncode == 0, err
    assert snapshot() == before and "ns1" not in netns_names()


def test_cleanup_during_lab_up_exits_75_naming_the_lab() -> None:
    before = snapshot()
    up = _pause_up("labs/veth-netns.yaml", 3)
    clean = vnetctl("cleanup")
    assert clean.returncode == 75, clean.stderr
    assert f"lab veth-netns (pid {up.pid})" in clean.stderr
    assert "ns1" in netns_names()  # the half-made lab was not torn down under its up
    up.send_signal(signal.SIGTERM)
    up.communicate(timeout=30)
    assert up.returncode == 1
    assert snapshot() == before
