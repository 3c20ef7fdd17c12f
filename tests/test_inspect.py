"""vnetctl inspect against hard hosts, every answer checked with ip -j -d, ethtool -i/-S and nsenter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Iterator

import pytest

from tests.helpers import ethtool_info, ip_json, link, sh, vnetctl, wait_for

pytestmark = pytest.mark.kernel


# oracles -----------------------------------------------------------------------
def nsexec(nsfile: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a tool inside the namespace behind an nsfs path (nsenter), independent of vnetctl."""
    return subprocess.run(["nsenter", f"--net={nsfile}", *argv], capture_output=True, text=True, check=check, timeout=30)


def ip_links(nsfile: str) -> list[dict[str, Any]]:
    """`ip -j -d link show` inside a namespace file."""
    return json.loads(nsexec(nsfile, "ip", "-j", "-d", "link", "show").stdout)


def ip_addrs(nsfile: str) -> dict[str, list[str]]:
    """Addresses per device according to `ip -j addr`."""
    out = json.loads(nsexec(nsfile, "ip", "-j", "addr", "show").stdout)
    return {d["ifname"]: [f"{a['local']}/{a['prefixlen']}" for a in d.get("addr_info", [])] for d in out}


def ethtool_i(nsfile: str, dev: str) -> dict[str, str] | None:
    """`ethtool -i DEV` inside a namespace file, None when the device has no driver info."""
    proc = nsexec(nsfile, "ethtool", "-i", dev, check=False)
    if proc.returncode != 0:
        return None
    return {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in proc.stdout.splitlines()) if k}


def peer_ifindex(nsfile: str, dev: str) -> int:
    """The `peer_ifindex` statistic of `ethtool -S DEV`."""
    out = nsexec(nsfile, "ethtool", "-S", dev).stdout
    return int(next(ln.split(":")[1] for ln in out.splitlines() if "peer_ifindex" in ln))


def nsfile_of(name: str | None) -> str:
    """The nsfs path of a named namespace (None: here)."""
    return f"/run/netns/{name}" if name else "/proc/self/ns/net"


def inode(path: str) -> int:
    """nsfs inode, as `stat -L -c %i` prints it."""
    return os.stat(path).st_ino


def inspect_json(*args: str) -> Any:
    """`vnetctl inspect ... --json`, which must succeed."""
    return json.loads(vnetctl("inspect", *args, "--json", check=True).stdout)


def by_inode(data: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Namespaces of an inspect answer by inode."""
    return {ns["inode"]: ns for ns in data["namespaces"]}


def dev(ns: dict[str, Any], name: str) -> dict[str, Any]:
    """One device of a namespace in an inspect answer."""
    return next(d for d in ns["devices"] if d["name"] == name)


def assert_matches_oracle(ns: dict[str, Any], nsfile: str) -> None:
    """Every device of one namespace as inspect reports it equals what ip, ethtool say inside it."""
    links = ip_links(nsfile)
    addrs = ip_addrs(nsfile)
    assert sorted(d["name"] for d in ns["devices"]) == sorted(lk["ifname"] for lk in links)
    for lk in links:
        d = dev(ns, lk["ifname"])
        assert d["ifindex"] == lk["ifindex"]
        assert d["kind"] == lk.get("linkinfo", {}).get("info_kind")
        assert d["mtu"] == lk["mtu"]
        assert d["state"] == lk["operstate"]
        if lk.get("link_type") == "ether":
            assert d["mac"] == lk["address"]
        assert d["master"] == lk.get("master")
        assert sorted(d["addresses"]) == sorted(addrs.get(lk["ifname"], []))
        info = ethtool_i(nsfile, lk["ifname"])
        if info is None:
            assert d["driver"] is None
        else:
            assert (d["driver"], d["bus_info"] or "") == (info["driver"], info.get("bus-info", ""))
        if d["kind"] == "veth":
            assert d["peer"] is not None and d["peer"]["ifindex"] == peer_ifindex(nsfile, lk["ifname"])
            assert d["peer"]["ifindex"] == lk["link_index"]


# fixtures ------------------------------------------------------------------------
@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; killed and reaped afterwards."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        p.kill()
        p.wait(timeout=10)


def unnamed_netns(procs: list[subprocess.Popen[str]]) -> int:
    """A namespace held only by a process (`unshare -n sleep`); returns its pid."""
    p = subprocess.Popen(["unshare", "-n", "sleep", "1000"], text=True)
    procs.append(p)
    wait_for(lambda: os.path.exists(f"/proc/{p.pid}/ns/net") and inode(f"/proc/{p.pid}/ns/net") != inode("/proc/self/ns/net"),
             what="unshare -n to enter its namespace")
    return p.pid


# tests -----------------------------------------------------------------------------
def test_veths_between_named_namespaces_same_names_and_indexes() -> None:
    # eth0 is ifindex 2 in every namespace; each host end has its own nsid for its peer's namespace.
    for ns in ("red", "green", "blue"):
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", f"v-{ns}", "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "-n", ns, "addr", "add", "10.9.0.2/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
    sh("ip", "link", "add", "a0", "netns", "red", "type", "veth", "peer", "name", "a0", "netns", "green")
    data = inspect_json()
    spaces = by_inode(data)
    here = spaces[inode("/proc/self/ns/net")]
    assert here["name"] is None and here["current"] is True
    # list-id also shows nsids of unnamed namespaces (e.g. one still dying from an earlier test)
    nsids = {e["nsid"]: e.get("name") for e in ip_json("netns", "list-id")}
    for ns in ("red", "green", "blue"):
        theirs = spaces[inode(f"/run/netns/{ns}")]
        assert theirs["name"] == ns
        assert_matches_oracle(theirs, nsfile_of(ns))
        host_end = dev(here, f"v-{ns}")
        oracle = link(f"v-{ns}")
        assert oracle is not None and nsids[oracle["link_netnsid"]] == ns
        assert host_end["peer"] == {**host_end["peer"], "name": "eth0", "ifindex": 2,
                                    "netns_inode": inode(f"/run/netns/{ns}"), "netns": ns}
        assert dev(theirs, "eth0")["peer"]["netns_inode"] == here["inode"]
        assert dev(theirs, "eth0")["peer"]["name"] == f"v-{ns}"
    assert_matches_oracle(here, nsfile_of(None))
    red, green = spaces[inode("/run/netns/red")], spaces[inode("/run/netns/green")]
    assert dev(red, "a0")["peer"]["netns"] == "green" and dev(green, "a0")["peer"]["netns"] == "red"
    assert dev(red, "a0")["peer"]["ifindex"] == peer_ifindex("/run/netns/red", "a0")


def test_peer_in_unnamed_namespace_held_by_a_process(procs: list[subprocess.Popen[str]]) -> None:
    pid = unnamed_netns(procs)
    sh("ip", "link", "add", "x0", "type", "veth", "peer", "name", "y0", "netns", str(pid))
    nsfile = f"/proc/{pid}/ns/net"
    data = inspect_json()
    spaces = by_inode(data)
    theirs = spaces[inode(nsfile)]
    assert theirs["name"] is None and pid in theirs["pids"]
    assert_matches_oracle(theirs, nsfile)
    x0 = dev(spaces[inode("/proc/self/ns/net")], "x0")
    y0_index = next(lk["ifindex"] for lk in ip_links(nsfile) if lk["ifname"] == "y0")
    assert x0["peer"]["name"] == "y0" and x0["peer"]["ifindex"] == y0_index == peer_ifindex("/proc/self/ns/net", "x0")
    assert x0["peer"]["netns_inode"] == inode(nsfile)
    # the peer subcommand, by pid:PID too
    got = inspect_json("peer", "y0", "-n", f"pid:{pid}")
    assert got["peer"]["name"] == "x0" and got["peer"]["netns_current"] is True
    text = vnetctl("inspect", "peer", "x0", check=True).stdout
    assert f"peer: y0 #{y0_index} in (pid:{pid})" in text


def test_namespace_held_only_by_a_bind_mount_elsewhere(procs: list[subprocess.Popen[str]]) -> None:
    pid = unnamed_netns(procs)
    os.makedirs("/run/other", exist_ok=True)
    target = "/run/other/ns"
    open(target, "w").close()
    sh("mount", "--bind", f"/proc/{pid}/ns/net", target)
    try:
        sh("ip", "link", "add", "m0", "type", "veth", "peer", "name", "m1", "netns", str(pid))
        nsexec(target, "ip", "addr", "add", "192.0.2.1/24", "dev", "m1")
        procs[0].kill()
        procs[0].wait(timeout=10)
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what="the holder to exit")
        data = inspect_json()
        held = by_inode(data)[inode(target)]
        assert held["name"] is None and held["pids"] == [] and target in held["paths"]
        assert_matches_oracle(held, target)
        m0 = dev(by_inode(data)[inode("/proc/self/ns/net")], "m0")
        assert (m0["peer"]["name"], m0["peer"]["netns_inode"]) == ("m1", inode(target))
        assert inspect_json("-n", target)["namespaces"][0]["inode"] == inode(target)
    finally:
        subprocess.run(["umount", target], capture_output=True)
        os.unlink(target)  # the mount point too: other tests look for /run/other/ns in other mount namespaces only


def test_openstack_dhcp_layout() -> None:
    net, port, vm = "5f2c1a7e-8d3b-4c21-9e0f-1a2b3c4d5e6f", "a1b2c3d4-e5f6", "0f9e8d7c-6b5a"
    ns, brq, tap, nsdev, vmtap = f"qdhcp-{net}", f"brq{net[:11]}", f"tap{port[:11]}", f"ns-{port[:11]}", f"tap{vm[:11]}"
    sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", brq, "type", "bridge")
    sh("ip", "link", "add", tap, "type", "veth", "peer", "name", nsdev, "netns", ns)
    sh("ip", "link", "set", tap, "master", brq, "up")
    sh("ip", "tuntap", "add", "mode", "tap", vmtap)
    sh("ip", "link", "set", vmtap, "master", brq, "up")
    sh("ip", "link", "set", brq, "up")
    sh("ip", "-n", ns, "addr", "add", "10.0.0.2/24", "dev", nsdev)
    sh("ip", "-n", ns, "link", "set", nsdev, "up")
    got = inspect_json("peer", nsdev, "-n", ns)
    assert got["peer"]["name"] == tap and got["peer"]["netns_current"] is True
    assert got["addresses"][0] == "10.0.0.2/24"
    assert got["peer"]["ifindex"] == peer_ifindex(f"/run/netns/{ns}", nsdev) == link(tap)["ifindex"]
    here = by_inode(inspect_json())[inode("/proc/self/ns/net")]
    ports = {p["ifname"] for p in json.loads(sh("bridge", "-j", "link", "show").stdout) if p.get("master") == brq}
    assert set(dev(here, brq)["ports"]) == ports == {tap, vmtap}
    assert dev(here, tap)["master"] == brq and dev(here, tap)["peer"]["netns"] == ns
    assert dev(here, vmtap)["kind"] == "tun" and dev(here, vmtap)["bus_info"] == ethtool_info(vmtap)["bus-info"] == "tap"
    tree = vnetctl("inspect", check=True).stdout
    assert f"{tap} #{link(tap)['ifindex']}  veth" in tree and f"⊂ {brq}" in tree and f"⇄ {nsdev} #" in tree
    assert f"in {ns}" in tree


@pytest.mark.parametrize("kind,args", [("veth", ["type", "veth", "peer", "name", "dpeer"]), ("bridge", ["type", "bridge"]),
                                        ("tun", ["tuntap", "mode", "tun"]), ("tap", ["tuntap", "mode", "tap"]),
                                        ("vxlan", ["type", "vxlan", "id", "42", "dstport", "4789"]),
                                        ("macvlan", ["type", "macvlan", "mode", "bridge"])])
def test_driver_matches_ethtool_i(kind: str, args: list[str]) -> None:
    if kind == "macvlan":
        sh("ip", "link", "add", "lower0", "type", "bridge")
        sh("ip", "link", "add", "link", "lower0", "dtest", *args)
    elif kind in ("tun", "tap"):
        sh("ip", *args[:1], "add", "dtest", *args[1:])
    else:
        sh("ip", "link", "add", "dtest", *args)
    got = inspect_json("driver", "dtest")
    oracle = ethtool_info("dtest")
    assert (got["driver"], got["version"], got["bus_info"]) == (oracle["driver"], oracle["version"], oracle.get("bus-info", ""))
    assert got["kind"] == (link("dtest") or {}).get("linkinfo", {}).get("info_kind")
    plain = vnetctl("inspect", "driver", "dtest", check=True).stdout
    assert f"driver: {oracle['driver']}" in plain


def test_loopback_has_no_driver_like_ethtool() -> None:
    assert sh("ethtool", "-i", "lo", check=False).returncode != 0
    assert inspect_json("driver", "lo") == {"driver": None, "version": None, "bus_info": None, "kind": None}


def test_errors_and_exit_codes() -> None:
    missing = vnetctl("inspect", "peer", "nosuchdev")
    assert missing.returncode == 4 and "nosuchdev" in missing.stderr and "Traceback" not in missing.stderr
    assert vnetctl("inspect", "-n", "nosuchns").returncode == 4
    sh("ip", "link", "add", "b0", "type", "bridge")
    wrong = vnetctl("inspect", "holders", "b0")
    assert wrong.returncode == 2 and "not a tun/tap" in wrong.stderr
    not_veth = vnetctl("inspect", "peer", "b0")
    assert not_veth.returncode == 2 and "not a veth" in not_veth.stderr


def test_one_namespace_with_n_and_pictures() -> None:
    sh("ip", "netns", "add", "solo")
    sh("ip", "link", "add", "s0", "type", "veth", "peer", "name", "s1", "netns", "solo")
    sh("ip", "link", "add", "br9", "type", "bridge")
    sh("ip", "link", "set", "s0", "master", "br9")
    data = inspect_json("-n", "solo")
    assert [ns["name"] for ns in data["namespaces"]] == ["solo"]
    s1 = dev(data["namespaces"][0], "s1")
    assert s1["peer"]["name"] == "s0" and s1["peer"]["netns_inode"] == inode("/proc/self/ns/net")
    assert json.loads(vnetctl("inspect", "-n", "solo", "--json", "peer", "s1", check=True).stdout)["peer"] == s1["peer"]
    for fmt, lang in (("dot", "-Tsvg"),):
        out = vnetctl("inspect", "--format", fmt, check=True).stdout
        assert subprocess.run(["dot", lang], input=out, capture_output=True, text=True).returncode == 0
    mer = vnetctl("inspect", "--format", "mermaid", check=True).stdout
    assert mer.startswith("flowchart LR") and mer.count("<-->|veth|") == 1 and mer.count("-.-|port|") == 1
    table = vnetctl("inspect", "--format", "table", check=True).stdout
    assert table.splitlines()[0].split()[:3] == ["NAMESPACE", "IFINDEX", "NAME"]
    assert any(ln.split()[:3] == ["solo", str(link("s1", "solo")["ifindex"]), "s1"] for ln in table.splitlines())


def test_veth_list_uses_inspect(procs: list[subprocess.Popen[str]]) -> None:
    sh("ip", "netns", "add", "vl")
    sh("ip", "link", "add", "p0", "type", "veth", "peer", "name", "p1", "netns", "vl")
    pid = unnamed_netns(procs)
    sh("ip", "link", "add", "q0", "type", "veth", "peer", "name", "q1", "netns", str(pid))
    here = json.loads(vnetctl("veth", "list", "--json", check=True).stdout)
    assert {(v["name"], v["peer"]["name"], v["peer"]["netns"]) for v in here} == {("p0", "p1", "vl"), ("q0", "q1", f"pid:{pid}")}
    everywhere = json.loads(vnetctl("veth", "list", "--all", "--json", check=True).stdout)
    assert {(v["netns"], v["name"], v["peer"]["ifindex"]) for v in everywhere} >= {
        ("vl", "p1", link("p0")["ifindex"]), (f"pid:{pid}", "q1", link("q0")["ifindex"])}
    inside = json.loads(vnetctl("veth", "list", "-n", "vl", "--json", check=True).stdout)
    assert [(v["name"], v["peer"]["netns"], v["peer"]["netns_inode"]) for v in inside] == [
        ("p1", None, inode("/proc/self/ns/net"))]


def test_identical_pairs_are_told_apart_by_nsid_only() -> None:
    # Three pairs of fresh namespaces: every end is eth0, ifindex 2, IFLA_LINK 2. Only the
    # nsid each namespace gives its peer's namespace can tell which is which.
    pairs = [("l1", "r1"), ("l2", "r2"), ("l3", "r3")]
    for left, right in pairs:
        sh("ip", "netns", "add", left)
        sh("ip", "netns", "add", right)
        sh("ip", "-n", left, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", right)
    data = inspect_json()
    spaces = by_inode(data)
    for left, right in pairs:
        for me, other in ((left, right), (right, left)):
            oracle = link("eth0", me)
            assert oracle is not None and oracle["ifindex"] == 2 and oracle["link_index"] == 2
            nsids = {e["nsid"]: e["name"] for e in ip_json("netns", "list-id", netns=me)}
            assert nsids[oracle["link_netnsid"]] == other
            peer = dev(spaces[inode(f"/run/netns/{me}")], "eth0")["peer"]
            assert (peer["netns"], peer["netns_inode"], peer["ifindex"]) == (other, inode(f"/run/netns/{other}"), 2)
            single = inspect_json("peer", "eth0", "-n", me)["peer"]
            assert single["netns"] == other


def test_namespace_held_only_by_an_open_fd(procs: list[subprocess.Popen[str]]) -> None:
    pid = unnamed_netns(procs)
    sh("ip", "link", "add", "f0", "type", "veth", "peer", "name", "f1", "netns", str(pid))
    keeper = subprocess.Popen([sys.executable, "-c", "import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); "
                               "print(fd, flush=True); sys.stdin.read()", f"/proc/{pid}/ns/net"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    procs.append(keeper)
    assert keeper.stdout is not None
    fd = int(keeper.stdout.readline())
    held_by_fd = f"/proc/{keeper.pid}/fd/{fd}"
    ino = inode(held_by_fd)
    procs[0].kill()
    procs[0].wait(timeout=10)
    data = inspect_json()
    held = by_inode(data)[ino]
    assert held["name"] is None and held["pids"] == [] and held_by_fd in held["paths"]
    assert_matches_oracle(held, held_by_fd)
    f0 = dev(by_inode(data)[inode("/proc/self/ns/net")], "f0")
    assert (f0["peer"]["name"], f0["peer"]["netns_inode"]) == ("f1", ino)
