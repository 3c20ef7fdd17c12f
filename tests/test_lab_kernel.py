"""Shipped labs up -> check -> down against the kernel, leaving the sandbox exactly as it was."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import threading

import pytest

from tests.helpers import ip_json, link, netns_names, ping, snapshot, vnetctl, wait_for
from vnetctl import lab as labs
from vnetctl.ownership import marker

pytestmark = pytest.mark.kernel

SHIPPED = [p for p in sorted(glob.glob("labs/*.yaml"))
           if os.path.basename(p) not in ("tun-reader.yaml", "tap-guest-bridge.yaml", "udp-tunnel.yaml")]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_lab_up_check_down_leaves_nothing(path: str) -> None:
    before = snapshot()
    up = vnetctl("lab", "up", path)
    assert up.returncode == 0, up.stderr
    listed = json.loads(vnetctl("lab", "list", "--json", check=True).stdout)
    pids = [p["pid"] for x in listed for p in x["processes"]]
    assert all(_alive(pid) for pid in pids)
    check = vnetctl("lab", "check", path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "FAIL" not in check.stdout
    down = vnetctl("lab", "down", path)
    assert down.returncode == 0, down.stderr
    assert snapshot() == before
    assert not any(_alive(pid) for pid in pids)
    assert vnetctl("lab", "list", "--json", check=True).stdout.strip() == "[]"


def test_veth_lab_matches_the_article_through_ip() -> None:
    assert vnetctl("lab", "up", "labs/veth-netns.yaml").returncode == 0
    assert netns_names() == {"ns1", "ns2"}
    a, b = link("vethDemo0", "ns1"), link("vethDemo1", "ns2")
    assert a and b and a["linkinfo"]["info_kind"] == "veth"
    assert marker("veth-netns", "vethDemo0") in a.get("altnames", [])
    addrs = {x["local"] for d in ip_json("addr", "show", "dev", "vethDemo1", netns="ns2") for x in d["addr_info"]
             if x["family"] == "inet"}
    assert addrs == {"10.1.1.3"}
    assert ping("10.1.1.3", netns="ns1")


def test_up_twice_is_a_no_op_and_a_different_lab_is_a_conflict() -> None:
    assert vnetctl("lab", "up", "labs/star.yaml", "--set", "hosts=2").returncode == 0
    again = vnetctl("lab", "up", "labs/star.yaml", "--set", "hosts=2")
    assert again.returncode == 0 and "already up" in again.stderr
    other = vnetctl("lab", "up", "labs/star.yaml", "--set", "hosts=3")
    assert other.returncode == 5
    assert "is up and differs" in other.stderr
    assert netns_names() == {"h0", "h1"}
    status = json.loads(vnetctl("lab", "status", "labs/star.yaml", "--set", "hosts=3", "--json").stdout)
    assert status[0]["file_drift"] is True and status[0]["drift"] == []


def test_down_is_idempotent_by_file_or_name() -> None:
    before = snapshot()
    assert vnetctl("lab", "up", "labs/tun-device.yaml").returncode == 0
    assert link("tun2")["linkinfo"]["info_data"]["type"] == "tun"  # type: ignore[index]
    assert vnetctl("lab", "down", "tun-device").returncode == 0
    second = vnetctl("lab", "down", "labs/tun-device.yaml")
    assert second.returncode == 0 and "not up" in second.stderr
    assert snapshot() == before


def test_status_reports_drift_in_the_kernel() -> None:
    assert vnetctl("lab", "up", "labs/veth-netns.yaml").returncode == 0
    os.system("ip -n ns2 link set vethDemo1 down")
    os.system("ip -n ns1 addr del 10.1.1.2/24 dev vethDemo0")
    st = json.loads(vnetctl("lab", "status", "labs/veth-netns.yaml", "--json").stdout)[0]
    assert st["status"] == "up" and st["file_drift"] is False
    assert sorted(st["drift"]) == ["address 10.1.1.2/24 is missing from vethDemo0 in namespace ns1",
                                   "device vethDemo1 in namespace ns2 is down, the lab set it up"]
    assert vnetctl("lab", "down", "veth-netns").returncode == 0


def test_kernel_without_8021q_is_refused_before_anything(tmp_path) -> None:
    f = tmp_path / "vlan.yaml"
    f.write_text("name: vlanlab\nnamespaces: [{name: nsv}]\nbridges: [{name: brv}]\n"
                 "vlans: [{name: brv.10, dev: brv, id: 10}]\n")
    before = snapshot()
    proc = vnetctl("lab", "up", str(f))
    assert proc.returncode == 69
    assert "kernel lacks 8021q" in proc.stderr
    assert snapshot() == before
    assert labs.labs() == []


def test_missing_program_is_reported_before_anything(tmp_path) -> None:
    f = tmp_path / "prog.yaml"
    f.write_text("name: prog\nnamespaces: [{name: nsp}]\nprocesses: [{name: x, netns: nsp, argv: [no-such-program-x]}]\n")
    before = snapshot()
    proc = vnetctl("lab", "up", str(f))
    assert proc.returncode == 4 and "program 'no-such-program-x' not found" in proc.stderr
    assert snapshot() == before


def test_process_that_dies_at_start_rolls_the_lab_back(tmp_path) -> None:
    f = tmp_path / "dies.yaml"
    f.write_text("name: dies\nnamespaces: [{name: nsd}]\nbridges: [{name: brd}]\n"
                 "processes: [{name: boom, netns: nsd, argv: [sh, -c, 'echo no config; exit 3']}]\n")
    before = snapshot()
    proc = vnetctl("lab", "up", str(f))
    assert proc.returncode == 1
    assert "process 'boom' exited during start-up: no config" in proc.stderr
    assert snapshot() == before
    assert labs.labs() == []


def test_ready_device_waits_for_a_process_made_device(tmp_path) -> None:
    f = tmp_path / "ready.yaml"
    f.write_text("name: ready\nnamespaces: [{name: nsr}]\n"
                 "processes: [{name: maker, netns: nsr, argv: [sh, -c, 'sleep 0.3; ip link add br-late type bridge;"
                 " exec sleep 60'], ready: {device: br-late}, timeout: 5}]\n")
    before = snapshot()
    assert vnetctl("lab", "up", str(f)).returncode == 0
    assert link("br-late", "nsr") is not None
    pid = labs.labs()[0]["processes"][0]["pid"]
    assert _alive(pid)
    assert vnetctl("lab", "down", "ready").returncode == 0
    assert not _alive(pid)
    assert snapshot() == before


def test_status_and_list_show_every_lab_that_is_up() -> None:
    assert vnetctl("lab", "up", "labs/veth-netns.yaml").returncode == 0
    assert vnetctl("lab", "up", "labs/tun-device.yaml").returncode == 0
    listed = vnetctl("lab", "list", check=True).stdout.splitlines()
    assert listed[0].split() == ["LAB", "STATUS", "STEPS", "PROCESSES", "FILE"]
    assert [line.split()[:3] for line in listed[1:]] == [["tun-device", "up", "3"], ["veth-netns", "up", "7"]]
    statuses = json.loads(vnetctl("lab", "status", "--json", check=True).stdout)
    assert [(s["name"], s["status"], s["drift"]) for s in statuses] == [("tun-device", "up", []), ("veth-netns", "up", [])]
    subprocess.run(["ip", "link", "del", "tun2"], check=True)
    st = json.loads(vnetctl("lab", "status", "tun-device", "--json", check=True).stdout)[0]
    assert st["drift"] == ["device tun2 is missing"]
    assert vnetctl("lab", "down", "tun-device").returncode == 0  # what is gone already is fine
    assert vnetctl("lab", "down", "veth-netns").returncode == 0
    assert netns_names() == set()


ADDRGEN = """name: agm
namespaces: [{name: quiet}, {name: loud}]
bridges: [{name: agbr, addrgenmode: none}]
veths:
  - {name: agq, master: agbr, addrgenmode: none, peer: {name: eth0, netns: quiet, addrgenmode: none, addresses: [10.77.0.1/24]}}
  - {name: agl, master: agbr, addrgenmode: none, peer: {name: eth0, netns: loud, addresses: [10.77.0.2/24]}}
tuntaps: [{name: agt, netns: quiet, mode: tap, addrgenmode: random}]
"""


def _capture_ip6() -> tuple[subprocess.Popen[str], list[str]]:
    """tcpdump of every IPv6 frame on any device of this namespace (devices made later included), lines collected."""
    cap = subprocess.Popen(["tcpdump", "-l", "-n", "-e", "-i", "any", "ip6"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    assert cap.stderr is not None and cap.stdout is not None
    wait_for(lambda: "listening on" in cap.stderr.readline(), what="tcpdump to start")
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(cap.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    return cap, lines


def test_addrgenmode_none_reaches_the_kernel_and_the_host_sends_no_ipv6(tmp_path) -> None:
    f = tmp_path / "agm.yaml"
    f.write_text(ADDRGEN)
    before = snapshot()
    cap, lines = _capture_ip6()
    try:
        assert vnetctl("lab", "up", str(f)).returncode == 0
        modes = {(ns, d): link(d, ns)["inet6_addr_gen_mode"]  # type: ignore[index]
                 for ns, d in ((None, "agbr"), (None, "agq"), ("quiet", "eth0"), ("quiet", "agt"), ("loud", "eth0"))}
        assert modes == {(None, "agbr"): "none", (None, "agq"): "none", ("quiet", "eth0"): "none", ("quiet", "agt"): "random",
                         ("loud", "eth0"): "eui64"}
        quiet, loud = (link("eth0", ns)["address"] for ns in ("quiet", "loud"))  # type: ignore[index]
        # the control host (the kernel's default mode) goes through DAD to its router solicitation meanwhile
        wait_for(lambda: any(loud in ln and "router solicitation" in ln for ln in lines), timeout=20,
                 what="the default-mode host's IPv6 start-up (DAD, MLD, router solicitation)")
        assert not [ln for ln in lines if quiet in ln], lines
        assert ip_json("-s", "link", "show", "eth0", netns="quiet")[0]["stats64"]["tx"]["packets"] == 0
        assert [a for a in ip_json("addr", "show", "eth0", netns="quiet")[0]["addr_info"] if a["family"] == "inet6"] == []
        assert any(a["local"].startswith("fe80:") for a in ip_json("addr", "show", "eth0", netns="loud")[0]["addr_info"])
        assert ping("10.77.0.2", netns="quiet")
        subprocess.run(["ip", "-n", "quiet", "link", "set", "eth0", "addrgenmode", "eui64"], check=True)
        st = json.loads(vnetctl("lab", "status", "agm", "--json").stdout)[0]
        assert st["drift"] == ["device eth0 in namespace quiet has addrgenmode 'eui64', the lab set 'none'"]
    finally:
        cap.kill()
        cap.wait()
    assert vnetctl("lab", "down", "agm").returncode == 0
    assert snapshot() == before


def test_addrgenmode_the_kernel_refuses_rolls_the_lab_back(tmp_path) -> None:
    f = tmp_path / "secret.yaml"
    lab = ("name: secret\nnamespaces: [{{name: nss{sysctls}}}]\nbridges: [{{name: brs, netns: nss, addrgenmode: none}}]\n"
           "veths: [{{name: vs0, netns: nss, master: brs, addrgenmode: stable_secret, peer: {{name: vs1, netns: nss}}}}]\n")
    f.write_text(lab.format(sysctls=""))
    before = snapshot()
    proc = vnetctl("lab", "up", str(f))
    assert proc.returncode == 1, proc.stderr
    assert "cannot set addrgenmode stable_secret on vs0 in namespace nss" in proc.stderr
    assert "net.ipv6.conf.default.stable_secret" in proc.stderr  # the hint names the fix
    assert snapshot() == before and labs.labs() == []
    f.write_text(lab.format(sysctls=", sysctls: {net.ipv6.conf.default.stable_secret: '::1'}"))
    assert vnetctl("lab", "up", str(f)).returncode == 0
    assert link("vs0", "nss")["inet6_addr_gen_mode"] == "stable_secret"  # type: ignore[index]
    assert vnetctl("lab", "down", "secret").returncode == 0
    assert snapshot() == before
