"""Kernel support: a device type this kernel lacks is exit 69 "kernel lacks …" with nothing
touched, told apart from a misspelled type (exit 2, with a did-you-mean); a lab that needs
one creates nothing at all.

This kernel has no 8021q (vlan) and no ip_gre (gretap); `ip` itself is the oracle for that.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers import sh, snapshot, vnetctl
from vnetctl import api
from vnetctl.errors import Unsupported, UsageError

pytestmark = pytest.mark.kernel

LACKING = [
    ("vlan", "8021q", ["vlan", "add", "v0.5", "--link", "v0", "--id", "5"],
     ["ip", "link", "add", "link", "v0", "name", "v0.5", "type", "vlan", "id", "5"]),
    ("gretap", "ip_gre", ["gretap", "add", "gt0", "--remote", "192.0.2.1"],
     ["ip", "link", "add", "gt0", "type", "gretap", "remote", "192.0.2.1"]),
]


@pytest.fixture
def lower() -> None:
    """A device to stack on."""
    sh("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")


@pytest.mark.parametrize("kind,module,args,ip_cmd", LACKING, ids=[k for k, *_ in LACKING])
def test_missing_type_is_69_and_changes_nothing(lower: None, kind: str, module: str, args: list[str],
                                                ip_cmd: list[str]) -> None:
    """The CLI says 'kernel lacks MODULE' with exit 69; ip confirms the kernel really lacks it."""
    assert sh(*ip_cmd, check=False).returncode != 0, f"this kernel has {kind}: the test premise is gone"
    before = snapshot()
    proc = vnetctl(*args)
    assert proc.returncode == 69, proc.stderr
    assert proc.stderr.startswith(f"Error: kernel lacks {module}") and "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert snapshot() == before


def test_doctor_reports_what_the_kernel_lacks() -> None:
    """doctor agrees with ip: vlan and gretap missing, veth/bridge/vxlan/macvlan there."""
    rows = {r["check"]: r for r in json.loads(vnetctl("doctor", "--json", check=True).stdout)}
    for kind in ("vlan", "gretap"):
        assert rows[f"kind {kind}"]["ok"] is False and "kernel lacks" in rows[f"kind {kind}"]["detail"]
    for kind in ("veth", "bridge", "vxlan", "macvlan"):
        assert rows[f"kind {kind}"]["ok"] is True


@pytest.mark.parametrize("typo,near", [("vlna", "vlan"), ("vxaln", "vxlan"), ("gretapp", "gretap"), ("zzz", None)])
def test_misspelled_type_is_a_usage_error_not_a_missing_driver(typo: str, near: str | None) -> None:
    """The kernel answers "not supported" for a typo as for a missing driver; vnetctl tells them apart."""
    before = snapshot()
    with pytest.raises(UsageError) as e:
        api.tunnel_add("x0", typo, [])
    assert not isinstance(e.value, Unsupported) and e.value.exit_code == 2
    assert f"unknown device type {typo!r}" in e.value.message
    assert (f"did you mean {near!r}" in e.value.hint) if near else "known:" in e.value.hint
    assert snapshot() == before


def test_misspelled_command_is_exit_2_with_a_suggestion() -> None:
    """At the CLI a type is a command: a typo is click's usage error (2) with a suggestion, never 69."""
    proc = vnetctl("vlna", "add", "x", "--link", "lo", "--id", "3")
    assert proc.returncode == 2 and "vlan" in proc.stderr and "Traceback" not in proc.stderr


def _lab(tmp: Path, body: str) -> str:
    path = tmp / "lab.yaml"
    path.write_text(body)
    return str(path)


VLAN_LAB = """\
name: needs-vlan
namespaces:
  - name: a
  - name: b
bridges:
  - name: br-x
veths:
  - name: va
    netns: a
    peer: {name: vb, netns: b}
vlans:
  - name: va.10
    netns: a
    dev: va
    id: 10
"""


def test_lab_needing_a_missing_type_creates_nothing(tmp_path: Path) -> None:
    """lab up of a lab with a vlan: 69 before the first namespace; no state, nothing in the kernel."""
    path = _lab(tmp_path, VLAN_LAB)
    before = snapshot()
    proc = vnetctl("lab", "up", path)
    assert proc.returncode == 69, proc.stderr
    assert "kernel lacks 8021q" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot() == before
    assert json.loads(vnetctl("lab", "list", "--json", check=True).stdout) == []
    assert vnetctl("lab", "plan", path).returncode == 0  # planning needs no kernel support
    assert vnetctl("lab", "down", "needs-vlan").returncode == 0


def test_lab_with_misspelled_section_is_65_with_a_suggestion(tmp_path: Path) -> None:
    """A typo in a lab ('vlnas:') is an invalid file (65, did-you-mean), not a missing driver."""
    path = _lab(tmp_path, VLAN_LAB.replace("vlans:", "vlnas:"))
    before = snapshot()
    proc = vnetctl("lab", "up", path)
    assert proc.returncode == 65, proc.stderr
    assert "vlans" in proc.stderr and "lab.yaml:" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot() == before


def test_missing_dev_net_tun_is_69(tmp_path: Path) -> None:
    """No /dev/net/tun: tuntap add and a lab with a tap both give 69 and create nothing."""
    env = {"VNETCTL_TUN_PATH": str(tmp_path / "no-tun")}
    before = snapshot()
    proc = vnetctl("tuntap", "add", "tap0", "--mode", "tap", env=env)
    assert proc.returncode == 69 and "no-tun" in proc.stderr and "Traceback" not in proc.stderr
    path = _lab(tmp_path, "name: taplab\nnamespaces:\n  - name: t\ntuntaps:\n  - {name: tap0, mode: tap, netns: t}\n")
    proc = vnetctl("lab", "up", path, env=env)
    assert proc.returncode == 69, proc.stderr
    assert snapshot() == before
    assert not os.path.exists(str(tmp_path / "no-tun"))  # never mknod'ed


def test_kernel_refusing_an_option_is_reported_with_its_words(lower: None) -> None:
    """A type the kernel has, used in a way it refuses: its errno and extack words, never 69, nothing left."""
    sh("ip", "link", "add", "vx0", "type", "vxlan", "id", "5", "remote", "192.0.2.1", "dstport", "4789", "dev", "v0")
    before = snapshot()
    proc = vnetctl("macvlan", "add", "mv0", "--link", "lo")  # loopback cannot carry a macvlan
    assert proc.returncode == 1 and "EINVAL" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert sh("ip", "link", "add", "mv0", "link", "lo", "type", "macvlan", check=False).returncode != 0
    proc = vnetctl("vxlan", "add", "vx2", "--vni", "5", "--remote", "192.0.2.1", "--dev", "v0")
    assert proc.returncode == 5, proc.stderr
    assert "A VXLAN device with the specified VNI already exists" in proc.stderr  # the kernel's extack
    assert len(proc.stderr.splitlines()) == 1
    assert snapshot() == before
