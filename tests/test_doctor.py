"""doctor flags the classic traps, each with a fix that works: br_netfilter + an iptables FORWARD policy of DROP
(bridged lab traffic vanishes; ping is the oracle, before and after the fix), ip_forward off, strict rp_filter,
missing programs. Every setting is changed in the sandbox's own namespace and restored."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ping, sh, vnetctl

pytestmark = pytest.mark.kernel

BRIDGE_NF = "/proc/sys/net/bridge/bridge-nf-call-iptables"


def _rows(env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    return {r["check"]: r for r in json.loads(vnetctl("doctor", "--json", check=True, env=env).stdout)}


def _sysctl(key: str) -> str:
    return sh("sysctl", "-n", key).stdout.strip()


@pytest.fixture
def restore() -> Iterator[None]:
    """Put back the sysctls and the FORWARD policy the test changes."""
    keys = ["net.ipv4.ip_forward", "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"]
    keys += ["net.bridge.bridge-nf-call-iptables"] if os.path.exists(BRIDGE_NF) else []
    saved = {k: _sysctl(k) for k in keys}
    yield
    sh("iptables", "-P", "FORWARD", "ACCEPT")
    sh("iptables", "-F", "FORWARD")
    for k, v in saved.items():
        sh("sysctl", "-w", f"{k}={v}")


def _bridged_pair() -> None:
    """ns1 and ns2 on bridge br0 of this namespace: 10.77.0.1 and 10.77.0.2."""
    sh("ip", "link", "add", "br0", "type", "bridge")
    sh("ip", "link", "set", "br0", "up")
    for i in (1, 2):
        sh("ip", "netns", "add", f"ns{i}")
        sh("ip", "link", "add", f"vh{i}", "type", "veth", "peer", "name", "eth0", "netns", f"ns{i}")
        sh("ip", "link", "set", f"vh{i}", "master", "br0", "up")
        sh("ip", "addr", "add", f"10.77.0.{i}/24", "dev", "eth0", netns=f"ns{i}")
        sh("ip", "link", "set", "eth0", "up", netns=f"ns{i}")


def test_br_netfilter_with_forward_drop_is_flagged_and_its_fixes_work(restore: None) -> None:
    """With bridge-nf-call-iptables=1 and FORWARD DROP, ping across a bridge fails and doctor says why and how to fix."""
    if not os.path.exists(BRIDGE_NF):
        pytest.skip("br_netfilter is not loaded on this host (no /proc/sys/net/bridge), and tests do not load modules")
    _bridged_pair()
    assert ping("10.77.0.2", netns="ns1", count=2), "the bridge does not pass traffic even before the trap"
    sh("sysctl", "-w", "net.bridge.bridge-nf-call-iptables=1")
    sh("iptables", "-P", "FORWARD", "DROP")
    assert not ping("10.77.0.2", netns="ns1", count=2), "FORWARD DROP did not drop bridged traffic: the trap is not real here"

    row = _rows()["bridge-nf-call-iptables"]
    assert row["status"] == "warning" and row["ok"] is False
    assert "FORWARD policy DROP" in row["detail"] and "dropped silently" in row["detail"]
    assert "sysctl -w net.bridge.bridge-nf-call-iptables=0" in row["fix"]
    assert "iptables -I FORWARD -i BR -o BR -j ACCEPT" in row["fix"]
    text = vnetctl("doctor", check=True).stdout
    assert f"bridge-nf-call-iptables (warning): {row['detail']}\n  fix: {row['fix']}" in text

    # the rule the fix names, for br0, lets the traffic through with the trap still set
    sh("iptables", "-I", "FORWARD", "-i", "br0", "-o", "br0", "-j", "ACCEPT")
    assert ping("10.77.0.2", netns="ns1", count=2)
    sh("iptables", "-F", "FORWARD")
    assert not ping("10.77.0.2", netns="ns1", count=2)

    # the sysctl the fix names: bridged frames bypass iptables, doctor is satisfied
    sh("sysctl", "-w", "net.bridge.bridge-nf-call-iptables=0")
    assert ping("10.77.0.2", netns="ns1", count=2)
    row = _rows()["bridge-nf-call-iptables"]
    assert row["status"] == "ok" and row["detail"].startswith("0: bridged frames bypass iptables")


def test_docker_user_chain_is_where_the_fix_goes(restore: None) -> None:
    """On a Docker host the ACCEPT rule belongs in DOCKER-USER (Docker re-inserts its own jumps at the top of FORWARD)."""
    if not os.path.exists(BRIDGE_NF):
        pytest.skip("br_netfilter is not loaded on this host (no /proc/sys/net/bridge), and tests do not load modules")
    sh("sysctl", "-w", "net.bridge.bridge-nf-call-iptables=1")
    sh("iptables", "-P", "FORWARD", "DROP")
    sh("iptables", "-N", "DOCKER-USER")
    try:
        row = _rows()["bridge-nf-call-iptables"]
        assert row["status"] == "warning" and "DOCKER-USER chain is here" in row["detail"]
        assert "iptables -I DOCKER-USER -i BR -o BR -j ACCEPT" in row["fix"]
    finally:
        sh("iptables", "-X", "DOCKER-USER")


def test_forward_policy_accept_is_ok(restore: None) -> None:
    """bridge-nf-call-iptables=1 alone is no trap when FORWARD accepts (the policy is read with iptables -S)."""
    if not os.path.exists(BRIDGE_NF):
        pytest.skip("br_netfilter is not loaded on this host (no /proc/sys/net/bridge), and tests do not load modules")
    sh("sysctl", "-w", "net.bridge.bridge-nf-call-iptables=1")
    assert "-P FORWARD ACCEPT" in sh("iptables", "-S", "FORWARD").stdout
    row = _rows()["bridge-nf-call-iptables"]
    assert row["status"] == "ok" and "FORWARD policy ACCEPT" in row["detail"]


def test_ip_forward_off_is_a_note_with_the_fix(restore: None) -> None:
    """ip_forward 0 is a note (routed labs set it in their router namespaces) whose fix turns it on."""
    sh("sysctl", "-w", "net.ipv4.ip_forward=0")
    row = _rows()["ip_forward"]
    assert row["status"] == "note" and row["ok"] is True and row["detail"].startswith("0: ")
    assert row["fix"] == "sysctl -w net.ipv4.ip_forward=1"
    sh(*row["fix"].split())
    assert _sysctl("net.ipv4.ip_forward") == "1"
    row = _rows()["ip_forward"]
    assert row["status"] == "ok" and row["fix"] is None


@pytest.mark.parametrize("key", ["all", "default"])
def test_strict_rp_filter_is_a_warning_and_loose_is_ok(restore: None, key: str) -> None:
    """rp_filter=1 in all or default is strict (a warning); the fix makes both loose (2), which doctor accepts."""
    sh("sysctl", "-w", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
    assert _rows()["rp_filter"]["detail"] == "all=0, default=0: off"
    sh("sysctl", "-w", f"net.ipv4.conf.{key}.rp_filter=1")
    row = _rows()["rp_filter"]
    assert row["status"] == "warning" and row["ok"] is False and f"{key}=1" in row["detail"] and "strict" in row["detail"]
    sh(*row["fix"].removesuffix(" (loose)").split())
    assert (_sysctl("net.ipv4.conf.all.rp_filter"), _sysctl("net.ipv4.conf.default.rp_filter")) == ("2", "2")
    row = _rows()["rp_filter"]
    assert row["status"] == "ok" and row["detail"] == "all=2, default=2: loose"


def test_missing_tools_are_named_with_their_package(restore: None, tmp_path: Path) -> None:
    """With only ping and tcpdump on PATH, doctor finds those and names the package of each missing one."""
    for tool in ("ping", "tcpdump"):
        found = shutil.which(tool)
        assert found, f"{tool} is not installed (make deps installs it)"
        (tmp_path / tool).symlink_to(found)
    rows = _rows(env={"PATH": str(tmp_path)})
    assert rows["tool ping"]["status"] == "ok" and rows["tool ping"]["detail"] == str(tmp_path / "ping")
    assert rows["tool tcpdump"]["status"] == "ok"
    for tool, package in (("dnsmasq", "dnsmasq"), ("iperf3", "iperf3"), ("dhclient", "isc-dhcp-client"), ("ip", "iproute2")):
        row = rows[f"tool {tool}"]
        assert row["status"] == "missing" and row["ok"] is False and row["detail"].startswith("not installed: needed for")
        assert row["fix"] == f"apt-get install {package}"
    if os.path.exists(BRIDGE_NF):
        sh("sysctl", "-w", "net.bridge.bridge-nf-call-iptables=1")
        row = _rows(env={"PATH": str(tmp_path)})["bridge-nf-call-iptables"]
        assert row["status"] == "note" and "iptables is not installed" in row["detail"]
        assert row["fix"] == "apt-get install iptables"


def test_every_registered_kind_is_checked() -> None:
    """doctor's device kinds are the registry's, in its order; each one's verdict agrees with ip link add."""
    from vnetctl import kinds

    rows = [r for r in json.loads(vnetctl("doctor", "--json", check=True).stdout) if r["check"].startswith("kind ")]
    assert [r["check"] for r in rows] == [f"kind {k.name}" for k in kinds.all_kinds()]
    for name, ip_args in (("dummy", ["type", "dummy"]), ("bridge", ["type", "bridge"]), ("vxlan", ["type", "vxlan", "id", "1"])):
        made = sh("ip", "link", "add", "probe0", *ip_args, check=False).returncode == 0
        sh("ip", "link", "del", "probe0", check=False)
        row = next(r for r in rows if r["check"] == f"kind {name}")
        assert row["ok"] is made, f"{name}: doctor says {row} but ip link add {'worked' if made else 'failed'}"
