"""Every device command against the real kernel, checked with ip -j / bridge -j / ethtool."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.helpers import ip_json, link, names, netns_names, ping, sh, snapshot, vnetctl
from vnetctl.ownership import marker

pytestmark = pytest.mark.kernel


def test_netns_add_list_del() -> None:
    vnetctl("netns", "add", "blue", check=True)
    assert "blue" in netns_names()
    inode = os.stat("/run/netns/blue").st_ino
    entries = json.loads(vnetctl("netns", "list", "--json", check=True).stdout)
    assert {"name": "blue", "inode": inode} in [{k: e[k] for k in ("name", "inode")} for e in entries]
    dup = vnetctl("netns", "add", "blue")
    assert dup.returncode == 5 and "exists" in dup.stderr
    vnetctl("netns", "del", "blue", check=True)
    assert "blue" not in netns_names()
    gone = vnetctl("netns", "del", "blue")
    assert gone.returncode == 4 and "not found" in gone.stderr


def test_netns_list_all_shows_unnamed_namespace_of_a_process() -> None:
    proc = subprocess.Popen(["unshare", "-n", "sleep", "600"])
    try:
        def inode() -> int:
            return os.stat(f"/proc/{proc.pid}/ns/net").st_ino
        from tests.helpers import wait_for
        wait_for(lambda: inode() != os.stat("/proc/self/ns/net").st_ino, what="unshare to enter its namespace")
        entries = json.loads(vnetctl("netns", "list", "--all", "--json", check=True).stdout)
        mine = [e for e in entries if e["inode"] == inode()]
        assert mine and mine[0]["name"] is None and proc.pid in mine[0]["pids"] and "sleep" in mine[0]["commands"]
        named_only = json.loads(vnetctl("netns", "list", "--json", check=True).stdout)
        assert all(e["inode"] != inode() for e in named_only)
    finally:
        proc.kill()
        proc.wait()


def test_netns_del_refuses_while_a_process_is_inside() -> None:
    vnetctl("netns", "add", "busy", check=True)
    proc = subprocess.Popen(["ip", "netns", "exec", "busy", "sleep", "600"])
    try:
        from tests.helpers import wait_for
        ino = os.stat("/run/netns/busy").st_ino
        wait_for(lambda: os.stat(f"/proc/{proc.pid}/ns/net").st_ino == ino, what="sleep to enter busy")
        res = vnetctl("netns", "del", "busy")
        assert res.returncode == 5 and str(proc.pid) in res.stderr
        assert "busy" in netns_names()
        vnetctl("netns", "del", "busy", "--force", check=True)
        assert "busy" not in netns_names()
    finally:
        proc.kill()
        proc.wait()


def test_netns_exec_runs_inside() -> None:
    vnetctl("netns", "add", "x1", check=True)
    vnetctl("veth", "add", "a", "b", "--netns", "x1", "--peer-netns", "x1", check=True)
    out = vnetctl("netns", "exec", "x1", "--", "ip", "-j", "link", "show", check=True).stdout
    assert {d["ifname"] for d in json.loads(out)} == {"lo", "a", "b"}


def test_veth_ends_go_where_their_own_flag_says() -> None:
    vnetctl("netns", "add", "w1", check=True)
    vnetctl("veth", "add", "w0", "wpeer", "--netns", "w1", check=True)
    assert link("w0", "w1") and link("wpeer") and link("wpeer", "w1") is None


def test_veth_ends_carry_ownership_markers() -> None:
    vnetctl("veth", "add", "v0", "v1", "--up", check=True)
    for end in ("v0", "v1"):
        dev = link(end)
        assert dev and marker("cli", end) in dev.get("altnames", [])
        assert "UP" in dev["flags"]


def test_veth_add_rolls_back_when_a_later_step_fails() -> None:
    vnetctl("netns", "add", "r1", check=True)
    before = snapshot()
    res = vnetctl("veth", "add", "ok0", "ok1", "--netns", "r1", "--addr", "10.0.0.1/24",
                  env={"VNETCTL_INJECT_FAULT": "step:2"})
    assert res.returncode == 1 and "nothing was changed" in res.stderr
    assert snapshot() == before


def test_veth_add_in_missing_namespace_creates_nothing() -> None:
    before = snapshot()
    res = vnetctl("veth", "add", "p0", "p1", "--peer-netns", "nowhere")
    assert res.returncode == 4 and "nowhere" in res.stderr
    assert snapshot() == before and not os.path.exists("/run/netns/nowhere")


def test_veth_del_refuses_other_kinds_and_deletes_both_ends() -> None:
    vnetctl("bridge", "add", "br9", check=True)
    res = vnetctl("veth", "del", "br9")
    assert res.returncode == 2 and "is a bridge" in res.stderr and link("br9")
    vnetctl("veth", "add", "d0", "d1", check=True)
    vnetctl("veth", "del", "d0", check=True)
    assert not {"d0", "d1"} & names()


def test_bridge_add_addif_show_delif_del() -> None:
    vnetctl("bridge", "add", "br0", "--stp", check=True)
    assert link("br0")["linkinfo"]["info_data"]["stp_state"] == 1
    vnetctl("veth", "add", "p0", "p1", check=True)
    vnetctl("bridge", "addif", "br0", "p0", check=True)
    ports = json.loads(sh("bridge", "-j", "link", "show").stdout)
    assert [(p["ifname"], p["master"]) for p in ports] == [("p0", "br0")]
    shown = json.loads(vnetctl("bridge", "show", "br0", "--json", check=True).stdout)
    assert shown[0]["name"] == "br0" and shown[0]["ports"] == ["p0"] and shown[0]["stp"] is True
    brctl = sh("brctl", "show", "br0").stdout
    assert "p0" in brctl
    vnetctl("bridge", "delif", "br0", "p0", check=True)
    assert json.loads(sh("bridge", "-j", "link", "show").stdout) == []
    notport = vnetctl("bridge", "delif", "br0", "p1")
    assert notport.returncode == 4 and "not a port" in notport.stderr
    vnetctl("bridge", "del", "br0", check=True)
    assert link("br0") is None and link("p0")


def test_tuntap_user_group_multi_queue_and_list() -> None:
    vnetctl("tuntap", "add", "tap7", "--mode", "tap", "--user", "65534", "--group", "65534", "--multi-queue",
            check=True)
    data = link("tap7")["linkinfo"]["info_data"]
    assert data["type"] == "tap" and data["multi_queue"] is True and data["persist"] is True
    assert str(data["user"]) in ("65534", "nobody") and str(data["group"]) in ("65534", "nogroup")
    listed = json.loads(vnetctl("tuntap", "list", "--json", check=True).stdout)
    assert [(t["name"], t["mode"], t["multi_queue"]) for t in listed] == [("tap7", "tap", True)]
    dup = vnetctl("tuntap", "add", "tap7", "--mode", "tap")
    assert dup.returncode == 5


def test_tuntap_in_a_namespace_is_created_there() -> None:
    vnetctl("netns", "add", "t1", check=True)
    vnetctl("tuntap", "add", "tun5", "--mode", "tun", "-n", "t1", check=True)
    assert link("tun5", "t1") and link("tun5") is None


def test_link_set_rename_mtu_move_up() -> None:
    vnetctl("netns", "add", "m1", check=True)
    vnetctl("veth", "add", "l0", "l1", check=True)
    vnetctl("link", "set", "l0", "--name", "moved0", "--mtu", "1400", "--to-netns", "m1", "--up", check=True)
    dev = link("moved0", "m1")
    assert dev and dev["mtu"] == 1400 and "UP" in dev["flags"]
    assert link("l0") is None and link("moved0") is None
    vnetctl("link", "set", "moved0", "-n", "m1", "--to-netns", "host", check=True)
    assert link("moved0")


def test_link_show_json_matches_ip() -> None:
    vnetctl("veth", "add", "s0", "s1", check=True)
    ours = {d["name"]: d for d in json.loads(vnetctl("link", "show", "--json", check=True).stdout)}
    theirs = {d["ifname"]: d for d in ip_json("-d", "link", "show")}
    assert set(ours) == set(theirs)
    for name, d in theirs.items():
        assert ours[name]["ifindex"] == d["ifindex"] and ours[name]["mtu"] == d["mtu"]
        assert ours[name]["mac"] == d.get("address") and ours[name]["kind"] == d.get("linkinfo", {}).get("info_kind")
    assert ours["s0"]["owner"] == "cli" and ours["lo"]["owner"] is None


def test_addr_and_route_commands() -> None:
    vnetctl("netns", "add", "r1", check=True)
    vnetctl("netns", "add", "r2", check=True)
    vnetctl("veth", "add", "ra", "rb", "--netns", "r1", "--peer-netns", "r2", "--up", check=True)
    vnetctl("addr", "add", "10.5.0.1/24", "ra", "-n", "r1", check=True)
    vnetctl("addr", "add", "10.5.0.2/24", "rb", "-n", "r2", check=True)
    vnetctl("addr", "add", "10.6.0.2/32", "rb", "-n", "r2", check=True)
    vnetctl("route", "add", "10.6.0.0/24", "--via", "10.5.0.2", "-n", "r1", check=True)
    routes = ip_json("route", "show", netns="r1")
    assert {"dst": "10.6.0.0/24", "gateway": "10.5.0.2"} in [{k: r.get(k) for k in ("dst", "gateway")} for r in routes]
    assert ping("10.6.0.2", netns="r1")
    shown = json.loads(vnetctl("addr", "show", "rb", "-n", "r2", "--json", check=True).stdout)
    assert set(shown[0]["addresses"]) >= {"10.5.0.2/24", "10.6.0.2/32"}
    vnetctl("route", "del", "10.6.0.0/24", "-n", "r1", check=True)
    assert not ping("10.6.0.2", netns="r1", timeout_s=1)
    vnetctl("addr", "del", "10.6.0.2/32", "rb", "-n", "r2", check=True)
    assert "10.6.0.2/32" not in json.loads(vnetctl("addr", "show", "rb", "-n", "r2", "--json").stdout)[0]["addresses"]


def test_vxlan_overlay_between_two_namespaces() -> None:
    for ns in ("n1", "n2"):
        vnetctl("netns", "add", ns, check=True)
    vnetctl("veth", "add", "u1", "u2", "--netns", "n1", "--peer-netns", "n2",
            "--addr", "192.168.50.1/24", "--peer-addr", "192.168.50.2/24", check=True)
    vnetctl("vxlan", "add", "vx1", "--vni", "42", "--remote", "192.168.50.2", "--local", "192.168.50.1",
            "--dev", "u1", "-n", "n1", check=True)
    vnetctl("vxlan", "add", "vx2", "--vni", "42", "--remote", "192.168.50.1", "--local", "192.168.50.2",
            "--dev", "u2", "-n", "n2", check=True)
    d = link("vx1", "n1")["linkinfo"]["info_data"]
    assert d["id"] == 42 and d["remote"] == "192.168.50.2" and d["port"] == 4789 and d["link"] == "u1"
    vnetctl("addr", "add", "10.200.0.1/24", "vx1", "-n", "n1", check=True)
    vnetctl("addr", "add", "10.200.0.2/24", "vx2", "-n", "n2", check=True)
    vnetctl("link", "set", "vx1", "-n", "n1", "--up", check=True)
    vnetctl("link", "set", "vx2", "-n", "n2", "--up", check=True)
    assert ping("10.200.0.2", netns="n1")


def test_macvlan_on_a_veth() -> None:
    vnetctl("veth", "add", "mv0", "mv1", check=True)
    vnetctl("macvlan", "add", "mac0", "--link", "mv0", check=True)
    d = link("mac0")
    assert d["linkinfo"]["info_kind"] == "macvlan" and d["link"] == "mv0"


@pytest.mark.parametrize("argv,module", [
    (["vlan", "add", "v10", "--link", "lo", "--id", "10"], "8021q"),
    (["gretap", "add", "g0", "--remote", "192.0.2.1"], "ip_gre"),
])
def test_types_this_kernel_lacks_fail_with_69(argv: list[str], module: str) -> None:
    from vnetctl.backend.kernel import supports
    kind = argv[0]
    if supports(kind):
        pytest.skip(f"this kernel has {module}")
    before = snapshot()
    res = vnetctl(*argv)
    assert res.returncode == 69 and f"kernel lacks {module}" in res.stderr and "Traceback" not in res.stderr
    assert snapshot() == before


def test_dry_run_prints_a_script_that_does_the_same_thing() -> None:
    vnetctl("netns", "add", "d1", check=True)
    vnetctl("netns", "add", "d2", check=True)
    argv = ["veth", "add", "e0", "e1", "--netns", "d1", "--peer-netns", "d2", "--addr", "10.9.0.1/24",
            "--peer-addr", "10.9.0.2/24"]
    before = snapshot()
    script = vnetctl(*argv, "--dry-run", check=True).stdout
    assert snapshot() == before
    subprocess.run(["sh", "-e", "-c", script], check=True)
    via_script = (link("e0", "d1"), link("e1", "d2"), ip_json("addr", "show", netns="d1"))
    assert ping("10.9.0.2", netns="d1")
    sh("ip", "-n", "d1", "link", "del", "e0")
    vnetctl(*argv, check=True)
    via_vnetctl = (link("e0", "d1"), link("e1", "d2"), ip_json("addr", "show", netns="d1"))

    def shape(t: tuple) -> list:
        a, b, addrs = t
        strip = {"ifindex", "address", "link_index", "broadcast", "alias", "stats", "stats64", "perm_address",
                 "inet6_addr_gen_mode", "addr_info", "operstate", "flags", "preferred_life_time", "valid_life_time"}
        return [{k: v for k, v in d.items() if k not in strip} for d in (a, b)] + \
            [sorted((x["local"], x["prefixlen"]) for i in addrs for x in i["addr_info"] if x["family"] == "inet")]
    assert shape(via_script) == shape(via_vnetctl)


def test_mutating_commands_do_not_touch_anything_with_dry_run() -> None:
    before = snapshot()
    for argv in (["netns", "add", "zz"], ["bridge", "add", "brz"], ["tuntap", "add", "tz", "--mode", "tap"],
                 ["veth", "add", "z0", "z1"], ["vxlan", "add", "vz", "--vni", "1", "--remote", "192.0.2.9"]):
        res = vnetctl(*argv, "--dry-run")
        assert res.returncode == 0 and res.stdout.startswith("ip "), (argv, res.stderr)
    assert snapshot() == before
