"""Privilege: without CAP_NET_ADMIN/CAP_SYS_ADMIN every mutating command exits 77 and changes
nothing; read-only commands work unprivileged and say on stderr what they could not see.

Privilege is dropped two ways: root without the capabilities (setpriv --bounding-set), and
the unprivileged user nobody. The oracle is `ip -j` (links, addresses, routes in every
namespace), `ip netns list` and vnetctl's state directory, before and after.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.helpers import VNETCTL, ip_json, netns_names, sh, wait_for

pytestmark = pytest.mark.kernel

DROPS = {
    "no-caps": ["setpriv", "--inh-caps=-all", "--bounding-set=-net_admin,-sys_admin", "--"],
    "nobody": ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"],
}

MUTATING: list[list[str]] = [
    ["netns", "add", "newns"],
    ["netns", "del", "ns1"],
    ["netns", "del", "ns1", "--force"],
    ["veth", "add", "va", "vb"],
    ["veth", "add", "va", "vb", "--peer-netns", "ns1", "--addr", "10.9.0.1/24", "--peer-addr", "10.9.0.2/24"],
    ["veth", "del", "v0"],
    ["bridge", "add", "br1"],
    ["bridge", "del", "br0"],
    ["bridge", "addif", "br0", "v0"],
    ["bridge", "delif", "br0", "tap1"],
    ["tuntap", "add", "tun9", "--mode", "tun"],
    ["tuntap", "add", "tap9", "--mode", "tap", "--user", "65534"],
    ["tuntap", "del", "tap0"],
    ["link", "set", "v0", "--up"],
    ["link", "set", "v0", "--mtu", "1400"],
    ["link", "set", "v0", "--master", "br0"],
    ["link", "set", "tap1", "--nomaster"],
    ["link", "set", "v0", "--name", "renamed"],
    ["link", "set", "v0", "--to-netns", "ns1"],
    ["link", "set", "v1", "-n", "ns1", "--up"],
    ["addr", "add", "10.8.0.1/24", "v0"],
    ["addr", "del", "10.7.0.1/24", "v0"],
    ["route", "add", "10.6.0.0/24", "--dev", "v0"],
    ["route", "del", "10.5.0.0/24"],
    ["vxlan", "add", "vx0", "--vni", "42", "--remote", "192.0.2.1", "--dev", "v0"],
    ["vxlan", "del", "vx1"],
    ["macvlan", "add", "mv0", "--link", "v0"],
    ["vlan", "add", "v0.5", "--link", "v0", "--id", "5"],
    ["gretap", "add", "gt0", "--remote", "192.0.2.1"],
    ["macvtap", "add", "mt0", "--link", "v0"],
    ["macvtap", "del", "mt1"],
    ["netns", "exec", "ns1", "--", "ip", "link", "add", "sneaky", "type", "bridge"],
]

READ_ONLY: list[list[str]] = [
    ["link", "show"], ["link", "show", "--json"], ["link", "show", "v0"], ["addr", "show"], ["addr", "show", "--json"],
    ["route", "show"], ["bridge", "show"], ["bridge", "show", "--json"], ["tuntap", "list"], ["netns", "list"],
    ["netns", "list", "--all", "--json"], ["veth", "list"], ["veth", "list", "--all"], ["doctor"],
    ["vxlan", "show"], ["macvtap", "show", "--json"],
]


def _run(prefix: list[str], args: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(prefix + VNETCTL + args, capture_output=True, text=True, env=env, timeout=60)


def _links(netns: str | None) -> list[tuple[Any, ...]]:
    out = []
    for d in ip_json("-d", "link", "show", netns=netns):
        flags = tuple(sorted(set(d.get("flags", [])) - {"LOWER_UP", "NO-CARRIER"}))
        out.append((d["ifname"], d["ifindex"], d.get("mtu"), d.get("master"), d.get("address"), flags,
                    d.get("linkinfo", {}).get("info_kind"), tuple(d.get("altnames", [])), d.get("link_netnsid")))
    return sorted(out)


def world_state() -> dict[str, Any]:
    """Everything a command could change, read with ip (never with vnetctl)."""
    spaces = sorted(netns_names())
    state: dict[str, Any] = {"netns": spaces, "files": sorted(_files("/run/vnetctl"))}
    for ns in [None, *spaces]:
        # IPv6 link-local addresses and their routes come and go on their own (autoconf, DAD): not ours.
        addrs = sorted((a["ifname"], i["local"], i["prefixlen"]) for a in ip_json("addr", "show", netns=ns)
                       for i in a.get("addr_info", []) if not i["local"].startswith("fe80"))
        routes = sorted(j for j in (json.dumps(r, sort_keys=True) for r in ip_json("route", "show", "table", "all",
                                                                                  netns=ns))
                        if "fe80" not in j and "ff00::" not in j)
        state[ns or ""] = {"links": _links(ns), "addrs": addrs, "routes": routes}
    return state


def _files(top: str) -> list[str]:
    """State files (a lab's empty lock file stays after down, by design, for waiting processes)."""
    return [os.path.join(d, f) for d, _, fs in os.walk(top) for f in fs if f != "lock"]


@pytest.fixture
def world() -> dict[str, Any]:
    """A small host to break: ns1, veth v0/v1 across it, br0 with tap1, tap0, vx1, mt1, an address and a route."""
    sh("ip", "netns", "add", "ns1")
    sh("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", "ns1")
    sh("ip", "link", "add", "br0", "type", "bridge")
    sh("ip", "tuntap", "add", "tap0", "mode", "tap")
    sh("ip", "tuntap", "add", "tap1", "mode", "tap")
    sh("ip", "link", "set", "tap1", "master", "br0")
    sh("ip", "link", "add", "vx1", "type", "vxlan", "id", "7", "remote", "192.0.2.7", "dstport", "4789")
    sh("ip", "link", "add", "mt1", "link", "v0", "type", "macvtap")
    sh("ip", "addr", "add", "10.7.0.1/24", "dev", "v0")
    sh("ip", "addr", "add", "10.5.0.1/24", "dev", "br0")
    sh("ip", "link", "set", "br0", "up")
    wait_for(lambda: any(r.get("dst") == "10.5.0.0/24" for r in ip_json("route")), what="the br0 route")
    return world_state()


@pytest.mark.parametrize("drop", sorted(DROPS))
def test_every_mutating_command_exits_77_and_changes_nothing(world: dict[str, Any], drop: str) -> None:
    """Each mutating command, unprivileged: exit 77, one 'Error:' line naming the capability, no change."""
    failures = []
    for args in MUTATING:
        proc = _run(DROPS[drop], args)
        lines = proc.stderr.splitlines()
        ok = (proc.returncode == 77 and len(lines) == 1 and lines[0].startswith("Error:")
              and "CAP_" in lines[0] and "Traceback" not in proc.stderr)
        if not ok:
            failures.append(f"{' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()[:300]}")
        after = world_state()
        assert after == world, f"{' '.join(args)} changed the host without privilege"
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("drop", sorted(DROPS))
def test_dry_run_needs_no_privilege(world: dict[str, Any], drop: str) -> None:
    """--dry-run only prints the ip commands, so it works unprivileged and changes nothing."""
    for args in ([*a, "--dry-run"] for a in MUTATING if a[0] != "netns" or a[1] != "exec"):
        if args[0] in ("vlan", "gretap"):
            continue
        proc = _run(DROPS[drop], args)
        assert proc.returncode == 0, f"{' '.join(args)}: {proc.stderr}"
        assert proc.stdout.strip() and "Traceback" not in proc.stderr
    assert world_state() == world


@pytest.mark.parametrize("drop", sorted(DROPS))
def test_read_only_commands_work_unprivileged(world: dict[str, Any], drop: str) -> None:
    """Listing the host needs no capability: exit 0, output, no traceback."""
    for args in READ_ONLY:
        proc = _run(DROPS[drop], args)
        assert proc.returncode == 0, f"{' '.join(args)}: {proc.stderr}"
        assert proc.stdout.strip() and "Traceback" not in proc.stderr
    as_root = _run([], ["link", "show", "--json"])
    unpriv = _run(DROPS[drop], ["link", "show", "--json"])
    assert json.loads(unpriv.stdout) == json.loads(as_root.stdout)
    assert world_state() == world


LAB = os.path.join(os.path.dirname(__file__), "..", "labs", "veth-netns.yaml")
STAR = os.path.join(os.path.dirname(__file__), "..", "labs", "star.yaml")


@pytest.mark.parametrize("drop", sorted(DROPS))
def test_lab_commands_unprivileged(world: dict[str, Any], drop: str) -> None:
    """With a lab up: lab up/down/check and cleanup unprivileged are 77 and touch nothing (state files included);
    lab list/status work or say they cannot read the state (77), never an internal error."""
    assert _run([], ["lab", "up", STAR, "--set", "hosts=2"]).returncode == 0
    up = world_state()
    for args in (["lab", "up", LAB], ["lab", "down", "star"], ["lab", "down", "veth-netns"], ["cleanup"],
                 ["lab", "check", STAR, "--set", "hosts=2"]):
        proc = _run(DROPS[drop], args)
        assert proc.returncode == 77, f"{' '.join(args)}: {proc.returncode} {proc.stderr}"
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
        assert world_state() == up, f"{' '.join(args)} changed something without privilege"
        if args[:2] == ["lab", "up"]:
            assert proc.stderr.startswith("Error: bringing lab veth-netns up needs CAP_"), proc.stderr
    for args in (["lab", "list"], ["lab", "status"], ["cleanup", "--dry-run"]):
        proc = _run(DROPS[drop], args)
        assert proc.returncode in (0, 77), f"{' '.join(args)}: {proc.stderr}"
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert _run([], ["lab", "down", "star"]).returncode == 0
    assert world_state() == world


def test_entering_a_namespace_unprivileged_is_77_not_not_found(world: dict[str, Any]) -> None:
    """-n NS without CAP_SYS_ADMIN: the namespace exists, so the answer is 77, never 'not found'."""
    for drop in DROPS.values():
        for args in (["link", "show", "-n", "ns1"], ["addr", "show", "-n", "ns1"], ["route", "show", "-n", "ns1"]):
            proc = _run(drop, args)
            assert proc.returncode == 77, f"{' '.join(args)}: {proc.returncode} {proc.stderr}"
            assert "CAP_SYS_ADMIN" in proc.stderr and "Traceback" not in proc.stderr


def test_unprivileged_listings_say_what_they_could_not_see(world: dict[str, Any]) -> None:
    """nobody cannot see root's processes or enter ns1: the listings say so on stderr."""
    hidden = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        wait_for(lambda: os.stat(f"/proc/{hidden.pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino,
                 what="the hidden namespace")
        root = json.loads(_run([], ["netns", "list", "--all", "--json"]).stdout)
        assert any(e["pids"] == [hidden.pid] for e in root)
        proc = _run(DROPS["nobody"], ["netns", "list", "--all", "--json"])
        assert proc.returncode == 0
        assert not any(hidden.pid in e["pids"] for e in json.loads(proc.stdout))
        assert "warning: cannot see the network namespace of" in proc.stderr
        proc = _run(DROPS["nobody"], ["netns", "list"])
        assert proc.returncode == 0 and "PIDS column may be incomplete" in proc.stderr
        proc = _run([], ["netns", "list", "--all"])
        assert proc.returncode == 0 and "warning" not in proc.stderr
    finally:
        hidden.kill()
        hidden.wait()


def test_veth_and_tuntap_listings_say_what_they_missed(world: dict[str, Any]) -> None:
    """nobody cannot enter ns1 nor read root's fds: veth list --all and tuntap list warn instead of going quiet."""
    holder = subprocess.Popen([*VNETCTL, "tuntap", "read", "tap0", "--mode", "tap", "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: "vnetctl-read" in _run([], ["tuntap", "list"]).stdout or holder.poll() is not None,
                 what="a holder on tap0")
        assert holder.poll() is None
        proc = _run(DROPS["nobody"], ["veth", "list", "--all"])
        assert proc.returncode == 0 and "cannot enter namespace 'ns1'" in proc.stderr, proc.stderr
        proc = _run(DROPS["nobody"], ["tuntap", "list"])
        assert proc.returncode == 0 and "HOLDERS column may be incomplete" in proc.stderr, proc.stderr
        root = _run([], ["tuntap", "list"])
        assert "warning" not in root.stderr and "vnetctl-read" in root.stdout
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("drop", sorted(DROPS))
def test_inspect_unprivileged_reports_what_it_missed(world: dict[str, Any], drop: str) -> None:
    """inspect without privilege: exit 0, the host's devices, and a warning for each namespace it could not enter."""
    proc = _run(DROPS[drop], ["inspect", "--json"])
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "v0" in proc.stdout and "br0" in proc.stdout
    assert "cannot enter namespace 'ns1'" in proc.stderr
    root = _run([], ["inspect", "--json"])
    assert root.returncode == 0 and "cannot enter" not in root.stderr
    assert world_state() == world
