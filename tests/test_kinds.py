"""The device-kind registry: the CLI, the labs, the Steps and the kernel agree on every kind."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import click
import pytest

from tests.helpers import link, sh, vnetctl, wait_for
from vnetctl import kinds
from vnetctl.cli.main import cli
from vnetctl.errors import LabError
from vnetctl.lab.schema import END, SCHEMA
from vnetctl.lab.validate import load_spec
from vnetctl.ops.link import LinkAdd

# What the hand-written commands take besides the kind's own options (bridge add, veth add).
DEVICE_PARAMS = {"name", "netns", "dry_run", "lower", "down", "up", "peer", "peer_netns", "netns_short", "addr", "peer_addr"}


def _add_command(kind: str) -> click.Command:
    ctx = click.Context(cli)
    group = cli.get_command(ctx, kind)
    assert isinstance(group, click.Group), f"no 'vnetctl {kind}' group"
    cmd = group.get_command(ctx, "add")
    assert cmd is not None
    return cmd


@pytest.mark.parametrize("kind", [k.name for k in kinds.in_labs()])
def test_cli_and_lab_options_are_the_same_for_every_kind(kind: str) -> None:
    params = {p.name: p for p in _add_command(kind).params if isinstance(p, click.Option)}
    lab = {k: f for k, f in SCHEMA[kind].items() if k not in END and k not in ("dev", "peer")}
    assert set(params) - DEVICE_PARAMS == set(lab)
    for name, f in lab.items():
        p = params[name]
        assert f.required == p.required, name
        assert f.default == p.default, name
        if isinstance(p.type, click.IntRange):
            assert f.range == (p.type.min, p.type.max), name
        if isinstance(p.type, click.Choice):
            assert f.choices == tuple(p.type.choices), name
    declared = kinds.get(kind)
    assert declared is not None
    assert ("lower" in params) == ("dev" in SCHEMA[kind]) == (declared.lower_attr is not None)


def test_every_kind_with_commands_has_a_lab_section_and_the_old_gaps_are_closed() -> None:
    assert {k.name for k in kinds.with_cli()} <= {k.name for k in kinds.in_labs()}
    assert "gretaps" in SCHEMA["lab"] and "macvtaps" in SCHEMA["lab"]
    assert {"ttl", "learning"} <= {p.name for p in _add_command("vxlan").params}
    mode = next(p for p in _add_command("macvlan").params if p.name == "mode")
    assert "source" in mode.type.choices  # type: ignore[attr-defined]


LAB = """name: ranges
namespaces: [{name: n1}]
veths: [{name: u1, netns: n1, peer: {name: u2, netns: n1}}]
"""


@pytest.mark.parametrize("section,at,problem", [
    ("vxlans: [{name: vx0, netns: n1, vni: 16777216}]", "16777216", "'vxlan.vni' must be between 0 and 16777215, not 16777216"),
    ("vxlans: [{name: vx0, netns: n1, vni: 1, dstport: 0}]", "0}", "'vxlan.dstport' must be between 1 and 65535, not 0"),
    ("vxlans: [{name: vx0, netns: n1, vni: 1, dstport: 65536}]", "65536", "'vxlan.dstport' must be between 1 and 65535, not 65536"),
    ("vxlans: [{name: vx0, netns: n1, vni: 1, ttl: 256}]", "256", "'vxlan.ttl' must be between 0 and 255, not 256"),
    ("vlans: [{name: v0, netns: n1, dev: u1, id: 0}]", "0}", "'vlan.id' must be between 1 and 4094, not 0"),
    ("vlans: [{name: v0, netns: n1, dev: u1, id: 4095}]", "4095", "'vlan.id' must be between 1 and 4094, not 4095"),
    ("vxlans: [{name: vx0, netns: n1, vni: 1, remote: 10.0.0.2, local: 'fd00::1'}]", "'fd00",
     "vxlan 'vx0': remote 10.0.0.2 and local fd00::1 mix IPv4 and IPv6; use one family"),
    ("vxlans: [{name: vx0, netns: n1, vni: 1, remote: 10.0.0.2, group: 239.1.1.1}]", "239.",
     "vxlan 'vx0': remote and group are exclusive; give one of them"),
    ("macvtaps: [{name: mt0, netns: n1, dev: u1, mode: bridg}]", "bridg",
     "'macvtap.mode' must be one of bridge, private, vepa, passthru, source, not 'bridg' (did you mean 'bridge'?)"),
    ("gretaps: [{name: gt0, netns: n1, remote: 'fd00::2'}]", "'fd00", "'gretap.remote': 'fd00::2' is not an IPv4 address"),
])
def test_registry_ranges_are_enforced_when_a_lab_loads(section: str, at: str, problem: str) -> None:
    with pytest.raises(LabError) as e:
        load_spec("lab.yaml", text=LAB + section + "\n")
    assert e.value.problems == [f"lab.yaml:4:{section.index(at) + 1}: {problem}"]


@pytest.mark.parametrize("argv,problem", [
    (["vxlan", "add", "vx0", "--vni", "16777216"], "16777216 is not in the range 0<=x<=16777215"),
    (["vxlan", "add", "vx0", "--vni", "1", "--dstport", "0"], "0 is not in the range 1<=x<=65535"),
    (["vxlan", "add", "vx0", "--vni", "1", "--ttl", "256"], "256 is not in the range 0<=x<=255"),
    (["vlan", "add", "v0", "--link", "lo", "--id", "4095"], "4095 is not in the range 1<=x<=4094"),
    (["vxlan", "add", "vx0", "--vni", "1", "--remote", "10.0.0.2", "--local", "fd00::1"], "mix IPv4 and IPv6"),
    (["vxlan", "add", "vx0", "--vni", "1", "--remote", "10.0.0.300"], "'10.0.0.300' is not an IP address"),
    (["macvtap", "add", "mt0", "--link", "lo", "--mode", "bridg"], "'bridg' is not one of"),
])
def test_registry_ranges_are_enforced_by_the_cli(argv: list[str], problem: str) -> None:
    proc = vnetctl(*argv, "--dry-run")
    assert proc.returncode == 2 and problem in proc.stderr and proc.stdout == "", proc.stderr


def test_dry_run_lines_come_from_the_registry() -> None:
    cases = {
        LinkAdd("vx0", "vxlan", options=(("vni", 5), ("group", "ff05::1"), ("ttl", 3), ("learning", False)), lower="u1"):
            "ip link add vx0 type vxlan id 5 group ff05::1 ttl 3 nolearning dev u1",
        LinkAdd("mt0", "macvtap", options=(("mode", "vepa"),), lower="u1"): "ip link add mt0 link u1 type macvtap mode vepa",
        LinkAdd("v0.5", "vlan", options=(("id", 5),), lower="u1"): "ip link add v0.5 link u1 type vlan id 5",
        LinkAdd("br0", "bridge", options=(("stp", True),)): "ip link add br0 type bridge stp_state 1",
    }
    for step, line in cases.items():
        assert step.command().splitlines()[0] == line


def test_api_twins_take_the_options_by_name() -> None:
    import vnetctl
    steps = vnetctl.vxlan_add("vx0", vni=42, remote="10.0.0.2", dev="u1", dry_run=True)
    assert steps[0].command().splitlines()[0] == "ip link add vx0 type vxlan id 42 remote 10.0.0.2 dstport 4789 dev u1"
    steps = vnetctl.macvtap_add("mt0", link="u1", mode="private", dry_run=True)
    assert steps[0].command().splitlines()[0] == "ip link add mt0 link u1 type macvtap mode private"
    assert callable(vnetctl.veths)


# with the kernel ------------------------------------------------------------------------------------------
@pytest.mark.kernel
def test_every_dry_run_line_is_one_ip_accepts_and_show_reads_it_back() -> None:
    """The registry's `ip` line, run by ip itself, makes the device that `vnetctl KIND show` then describes."""
    sh("ip", "link", "add", "u1", "type", "veth", "peer", "name", "u2")
    adds = [["vxlan", "add", "vx0", "--vni", "7", "--group", "239.1.1.7", "--dev", "u1", "--ttl", "9", "--no-learning"],
            ["vxlan", "add", "vx6", "--vni", "8", "--remote", "fd00::2", "--local", "fd00::1", "--dstport", "4790"],
            ["macvlan", "add", "mv0", "--link", "u1", "--mode", "source"],
            ["macvtap", "add", "mt0", "--link", "u1", "--mode", "vepa"]]
    for argv in adds:
        script = vnetctl(*argv, "--dry-run", check=True).stdout
        sh("sh", "-e", "-c", script)
    vx = link("vx0")
    assert vx is not None and vx["linkinfo"]["info_data"]["ttl"] == 9 and vx["linkinfo"]["info_data"]["learning"] is False
    shown = {d["name"]: d for k in ("vxlan", "macvlan", "macvtap")
             for d in json.loads(vnetctl(k, "show", "--json", check=True).stdout)}
    assert shown["vx0"] == {"name": "vx0", "ifindex": vx["ifindex"], "state": vx["operstate"], "dev": "u1", "vni": 7,
                            "remote": None, "group": "239.1.1.7", "local": None, "dstport": 4789, "ttl": 9,
                            "learning": False}
    assert (shown["vx6"]["remote"], shown["vx6"]["local"], shown["vx6"]["dstport"]) == ("fd00::2", "fd00::1", 4790)
    for name, kind, mode in (("mv0", "macvlan", "source"), ("mt0", "macvtap", "vepa")):
        d = link(name)
        assert d is not None and d["linkinfo"]["info_kind"] == kind and d["linkinfo"]["info_data"]["mode"] == mode
        assert shown[name]["link"] == d["link"] == "u1" and shown[name]["mode"] == mode


@pytest.mark.kernel
def test_macvtap_add_and_del_through_the_cli() -> None:
    sh("ip", "link", "add", "u1", "type", "veth", "peer", "name", "u2")
    vnetctl("macvtap", "add", "mt0", "--link", "u1", check=True)
    d = link("mt0")
    assert d is not None and d["linkinfo"]["info_kind"] == "macvtap" and d["link"] == "u1"
    assert d["linkinfo"]["info_data"]["mode"] == "bridge"
    assert vnetctl("macvlan", "del", "mt0").returncode == 2  # the wrong kind is refused
    vnetctl("macvtap", "del", "mt0", check=True)
    assert link("mt0") is None
    proc = vnetctl("macvtap", "add", "mt1")
    assert proc.returncode == 2 and "--link" in proc.stderr


@pytest.mark.kernel
def test_a_macvtaps_section_comes_up_and_down(tmp_path: Path) -> None:
    f = tmp_path / "mt.yaml"
    f.write_text(LAB + "macvtaps: [{name: mt0, netns: n1, dev: u1, mode: private, addresses: [10.9.0.1/24]}]\n")
    vnetctl("lab", "up", str(f), check=True)
    d = link("mt0", netns="n1")
    assert d is not None and d["linkinfo"]["info_kind"] == "macvtap" and d["linkinfo"]["info_data"]["mode"] == "private"
    assert "10.9.0.1" in subprocess.run(["ip", "-n", "n1", "addr", "show", "mt0"], capture_output=True, text=True).stdout
    vnetctl("lab", "down", str(f), check=True)
    assert "n1" not in sh("ip", "netns", "list").stdout


@pytest.mark.kernel
def test_inspect_holders_names_the_process_holding_a_macvtap(tmp_path: Path) -> None:
    """A macvtap's holder opens /dev/tapN (major of macvtap, minor from sysfs), not /dev/net/tun."""
    sh("ip", "netns", "add", "vm")
    sh("ip", "-n", "vm", "link", "add", "u1", "type", "veth", "peer", "name", "u2")
    vnetctl("macvtap", "add", "mt0", "-n", "vm", "--link", "u1", check=True)
    d = link("mt0", netns="vm")
    assert d is not None and d["linkinfo"]["info_kind"] == "macvtap"
    major, minor = sh("ip", "netns", "exec", "vm", "cat", f"/sys/class/net/mt0/macvtap/tap{d['ifindex']}/dev").stdout.split(":")
    assert any(line.split() == [major, "macvtap"] for line in Path("/proc/devices").read_text().splitlines())
    node = tmp_path / f"tap{d['ifindex']}"
    os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(int(major), int(minor)))
    holder = subprocess.Popen(["ip", "netns", "exec", "vm", "sleep", "60"], stdin=open(node, "rb"))
    try:
        wait_for(lambda: os.path.exists(f"/proc/{holder.pid}/fd/0") and sh("cat", f"/proc/{holder.pid}/comm").stdout
                 == "sleep\n", what="the holder to start")
        assert os.readlink(f"/proc/{holder.pid}/fd/0") == str(node)  # what lsof would show
        held = json.loads(vnetctl("inspect", "holders", "mt0", "-n", "vm", "--json", check=True).stdout)
        assert [(h["pid"], h["comm"], h["fd"], h["cmdline"]) for h in held] == [(holder.pid, "sleep", 0, ["sleep", "60"])]
        assert vnetctl("inspect", "holders", "u1", "-n", "vm").returncode == 2  # a veth has no holders
    finally:
        holder.kill()
        holder.wait()
    assert json.loads(vnetctl("inspect", "holders", "mt0", "-n", "vm", "--json", check=True).stdout) == []


def test_the_registry_is_plain_data() -> None:
    """kinds/ imports nothing else of vnetctl and no kernel, CLI or YAML library: backend/ may read it (probe, decoder)."""
    import ast

    for path in Path(kinds.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                root = name.split(".")[0]
                assert root not in ("vnetctl", "pyroute2", "click", "rich", "yaml", "socket", "ctypes"), f"{path.name} imports {name}"
            if isinstance(node, ast.ImportFrom) and node.level > 1:
                raise AssertionError(f"{path.name} imports from outside kinds/ (from {'.' * node.level}{node.module})")
