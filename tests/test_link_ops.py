"""link add/set/show -d -s, bridge fdb/link/vlan, shaping: against the real kernel, checked with ip -j, bridge -j, tc -j."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.helpers import link, sh, vnetctl, wait_for

pytestmark = pytest.mark.kernel


def _j(*args: str) -> object:
    return json.loads(vnetctl(*args, "--json", check=True).stdout)


def _bridge_j(*args: str) -> list[dict]:
    out = sh("bridge", "-j", *args).stdout
    return json.loads(out) if out.strip() else []


def test_state_is_admin_state_and_carrier() -> None:
    vnetctl("tuntap", "add", "tun2", "--mode", "tun", check=True)
    vnetctl("link", "set", "tun2", "--up", check=True)
    flags = link("tun2")["flags"]
    assert "UP" in flags and "NO-CARRIER" in flags  # the oracle: up, but no program holds it
    got = _j("link", "show", "tun2")[0]
    assert got["link_state"] == "UP,NO-CARRIER" and got["up"] is True and got["carrier"] is False
    assert got["state"] == link("tun2")["operstate"]  # the existing field keeps its meaning
    assert "UP,NO-CARRIER" in vnetctl("link", "show", "tun2", check=True).stdout
    vnetctl("link", "set", "tun2", "--down", check=True)
    assert _j("link", "show", "tun2")[0]["link_state"] == "DOWN"
    vnetctl("veth", "add", "sa", "sb", "--up", check=True)
    wait_for(lambda: "LOWER_UP" in link("sa")["flags"], what="sa's carrier (the kernel sets it asynchronously)")
    assert _j("link", "show", "sa")[0]["link_state"] == "UP"


def test_link_set_in_ips_words() -> None:
    """ip link set's words: `dev D netns NS mtu N alias A up`; a bad word or a clash changes nothing."""
    sh("ip", "netns", "add", "w1")
    sh("ip", "link", "add", "wa", "type", "veth", "peer", "name", "wb")
    for bad in (["wa", "mtu", "1400", "frob"], ["wa", "mtu"], ["wa", "mtu", "20"], ["wa", "mtu", "1400", "--mtu", "1300"],
                ["wa", "up", "down"], ["wa", "netns", "w1", "netns", "w1"]):
        res = vnetctl("link", "set", *bad)
        assert res.returncode == 2 and res.stderr.startswith("Error:") and len(res.stderr.splitlines()) == 1, res.stderr
    assert link("wa")["mtu"] == 1500 and "UP" not in link("wa")["flags"]  # nothing was changed
    vnetctl("link", "set", "dev", "wa", "netns", "w1", "mtu", "1400", "alias", "uplink", "up", check=True)
    got = link("wa", "w1")
    assert got["mtu"] == 1400 and got["ifalias"] == "uplink" and "UP" in got["flags"]
    assert "wa" not in {d["ifname"] for d in json.loads(sh("ip", "-j", "link", "show").stdout)}


def test_link_add_in_ips_words() -> None:
    vnetctl("link", "add", "la", "type", "veth", "peer", "name", "lb", check=True)
    assert link("la")["linkinfo"]["info_kind"] == "veth" and link("lb") is not None
    dry = vnetctl("link", "add", "vx0", "type", "vxlan", "id", "42", "remote", "10.0.0.2", "dstport", "4789", "dev", "la",
                  "nolearning", "--dry-run", check=True)
    assert dry.stdout.splitlines()[0] == "ip link add vx0 type vxlan id 42 remote 10.0.0.2 dstport 4789 nolearning dev la"
    assert link("vx0") is None
    vnetctl("link", "add", "vx0", "type", "vxlan", "id", "42", "remote", "10.0.0.2", "dev", "la", "nolearning", check=True)
    data = link("vx0")["linkinfo"]["info_data"]
    assert (data["id"], data["remote"], data["link"], data["learning"]) == (42, "10.0.0.2", "la", False)
    vnetctl("link", "add", "vx1", "vxlan", "--vni", "43", "--dev", "la", check=True)  # vnetctl's own options, no 'type'
    assert link("vx1")["linkinfo"]["info_data"]["id"] == 43
    vnetctl("link", "add", "br9", "type", "bridge", "stp_state", "1", check=True)
    assert link("br9")["linkinfo"]["info_data"]["stp_state"] == 1
    bad = vnetctl("link", "add", "vx2", "type", "vxlan", "idd", "4")
    assert bad.returncode == 2 and "'idd'" in bad.stderr and "did you mean 'id'" in bad.stderr and link("vx2") is None
    unknown = vnetctl("link", "add", "x0", "type", "vxaln")
    assert unknown.returncode == 2 and "did you mean 'vxlan'" in unknown.stderr
    tun = vnetctl("link", "add", "t0", "type", "tun")
    assert tun.returncode == 2 and "tuntap add" in tun.stderr
    vnetctl("link", "del", "vx0", check=True)
    assert link("vx0") is None


def test_link_set_alias_address_txqueuelen() -> None:
    vnetctl("veth", "add", "pa", "pb", check=True)
    dry = vnetctl("link", "set", "pa", "--alias", "to the lab", "--address", "02:00:00:00:00:0a", "--txqueuelen", "500",
                  "--dry-run", check=True)
    assert dry.stdout.splitlines() == ["ip link set dev pa alias 'to the lab'", "ip link set dev pa address 02:00:00:00:00:0a",
                                       "ip link set dev pa txqueuelen 500"]
    vnetctl("link", "set", "pa", "--alias", "to the lab", "--address", "02:00:00:00:00:0A", "--txqueuelen", "500", check=True)
    got = link("pa")
    assert (got["ifalias"], got["address"], got["txqlen"]) == ("to the lab", "02:00:00:00:00:0a", 500)
    details = _j("link", "show", "pa", "-d")[0]["details"]
    assert (details["alias"], details["txqueuelen"]) == ("to the lab", 500)
    for args, word in ((["--address", "01:00:00:00:00:01"], "multicast"), (["--address", "nope"], "invalid address"),
                       (["--txqueuelen", "-1"], "txqueuelen"), (["--alias", "x" * 300], "alias")):
        res = vnetctl("link", "set", "pa", *args)
        assert res.returncode == 2 and word in res.stderr.strip().splitlines()[-1], res.stderr
    # a failure undoes the earlier changes of the same command
    res = vnetctl("link", "set", "pa", "--alias", "changed", "--master", "nobridge")
    assert res.returncode == 4 and link("pa")["ifalias"] == "to the lab"
    vnetctl("link", "set", "pa", "--alias", "", check=True)
    assert "ifalias" not in link("pa")


def test_link_set_addrgenmode_before_up_leaves_no_link_local_address() -> None:
    vnetctl("veth", "add", "ga", "gb", check=True)
    dry = vnetctl("link", "set", "dev", "ga", "addrgenmode", "none", "up", "--dry-run", check=True)
    assert dry.stdout.splitlines() == ["ip link set dev ga addrgenmode none", "ip link set dev ga up"]
    vnetctl("link", "set", "dev", "ga", "addrgenmode", "none", "up", check=True)
    vnetctl("link", "set", "gb", "--addrgenmode", "random", "--up", check=True)
    assert (link("ga")["inet6_addr_gen_mode"], link("gb")["inet6_addr_gen_mode"]) == ("none", "random")  # type: ignore[index]
    addrs = {d["ifname"]: [a["local"] for a in d["addr_info"] if a["family"] == "inet6"]
             for d in json.loads(sh("ip", "-j", "addr", "show").stdout) if d["ifname"] in ("ga", "gb")}
    assert addrs["ga"] == [] and addrs["gb"][0].startswith("fe80:"), addrs
    assert _j("link", "show", "ga", "-d")[0]["details"]["addrgenmode"] == "none"  # type: ignore[index]
    assert "addrgenmode none" in vnetctl("link", "show", "ga", "-d", check=True).stdout
    for args in (["--addrgenmode", "nope"], ["addrgenmode", "nope"]):
        res = vnetctl("link", "set", "ga", *args)
        assert res.returncode == 2 and "nope" in res.stderr.strip().splitlines()[-1], res.stderr
    # the kernel's refusal (no stable_secret given) names the fix, and the command's earlier change is undone
    res = vnetctl("link", "set", "ga", "--txqueuelen", "7", "--addrgenmode", "stable_secret")
    assert res.returncode == 1 and "net.ipv6.conf.default.stable_secret" in res.stderr, res.stderr
    assert link("ga")["inet6_addr_gen_mode"] == "none" and link("ga")["txqlen"] == 1000  # type: ignore[index]


def test_link_show_details_and_stats() -> None:
    vnetctl("bridge", "add", "br0", check=True)
    vnetctl("veth", "add", "da", "db", "--addr", "10.7.0.1/24", "--peer-addr", "10.7.0.2/24", check=True)
    vnetctl("bridge", "addif", "br0", "da", check=True)
    vnetctl("vxlan", "add", "vx7", "--vni", "77", "--remote", "192.0.2.7", "--dev", "db", check=True)
    rows = {r["name"]: r for r in _j("link", "show", "-d", "-s")}
    vx = rows["vx7"]["details"]
    assert vx["options"]["vni"] == 77 and vx["options"]["remote"] == "192.0.2.7" and vx["lower"] == "db"
    assert vx["info"]["vxlan_id"] == link("vx7")["linkinfo"]["info_data"]["id"]
    port, oracle = rows["da"]["details"]["port"], _bridge_j("link", "show", "dev", "da")[0]
    assert port["state"] == oracle["state"] and port["cost"] == oracle["cost"] and port["priority"] == oracle["priority"]
    slave = link("da")["linkinfo"]["info_slave_data"]
    assert (port["learning"], port["flood"], port["isolated"]) == (slave["learning"], slave["flood"], slave["isolated"])
    assert rows["db"]["details"]["port"] is None
    sh("ping", "-c", "3", "-i", "0.2", "10.7.0.2")  # both ends are local: the echoes count on lo
    stats = {r["name"]: r["stats"] for r in _j("link", "show", "-s")}
    oracle_s = {d["ifname"]: d["stats64"] for d in json.loads(sh("ip", "-j", "-s", "link", "show").stdout)}
    for name in ("lo", "da", "db"):
        assert stats[name]["tx_packets"] <= oracle_s[name]["tx"]["packets"]  # counters only grow between the two reads
        assert stats[name]["rx_bytes"] <= oracle_s[name]["rx"]["bytes"]
    assert stats["lo"]["tx_packets"] > 0
    text = vnetctl("link", "show", "vx7", "-d", check=True).stdout
    assert "vxlan id 77 remote 192.0.2.7" in text and "dev db" in text
    assert "bridge_slave state" in vnetctl("link", "show", "da", "-d", check=True).stdout
    assert "RX: bytes" in vnetctl("link", "show", "lo", "-s", check=True).stdout


def test_bridge_fdb_vxlan_endpoints_and_static_macs() -> None:
    vnetctl("vxlan", "add", "vx0", "--vni", "42", "--local", "10.0.0.1", "--no-learning", check=True)
    dry = vnetctl("bridge", "fdb", "append", "00:00:00:00:00:00", "vx0", "--dst", "10.0.0.2", "--dry-run", check=True)
    assert dry.stdout == "bridge fdb append 00:00:00:00:00:00 dev vx0 dst 10.0.0.2 self static\n"
    assert _bridge_j("fdb", "show", "dev", "vx0") == []
    for dst in ("10.0.0.2", "10.0.0.3"):
        vnetctl("bridge", "fdb", "append", "00:00:00:00:00:00", "vx0", "--dst", dst, check=True)
    vnetctl("bridge", "fdb", "add", "02:00:00:00:00:02", "vx0", "--dst", "10.0.0.2", "--vni", "7", check=True)
    oracle = {(e["mac"], e.get("dst"), e.get("vni")) for e in _bridge_j("fdb", "show", "dev", "vx0")}
    assert oracle == {("00:00:00:00:00:00", "10.0.0.2", None), ("00:00:00:00:00:00", "10.0.0.3", None),
                      ("02:00:00:00:00:02", "10.0.0.2", 7)}
    mine = {(e["mac"], e["dst"], e["vni"]) for e in _j("bridge", "fdb", "show", "vx0")}
    assert mine == oracle
    dup = vnetctl("bridge", "fdb", "add", "02:00:00:00:00:02", "vx0", "--dst", "10.0.0.9")
    assert dup.returncode == 5 and "fdb append" in dup.stderr
    vnetctl("bridge", "fdb", "del", "00:00:00:00:00:00", "vx0", "--dst", "10.0.0.2", check=True)
    assert {e.get("dst") for e in _bridge_j("fdb", "show", "dev", "vx0") if e["mac"] == "00:00:00:00:00:00"} == {"10.0.0.3"}
    gone = vnetctl("bridge", "fdb", "del", "00:00:00:00:00:00", "vx0", "--dst", "10.0.0.2")
    assert gone.returncode == 4 and len(gone.stderr.strip().splitlines()) == 1
    # a static MAC on a bridge port
    vnetctl("bridge", "add", "br0", check=True)
    vnetctl("veth", "add", "fa", "fb", check=True)
    vnetctl("bridge", "addif", "br0", "fa", check=True)
    vnetctl("bridge", "fdb", "add", "02:00:00:00:00:aa", "fa", "--master", check=True)
    entry = [e for e in _bridge_j("fdb", "show", "dev", "fa") if e["mac"] == "02:00:00:00:00:aa"]
    assert entry and entry[0]["master"] == "br0" and entry[0]["state"] == "static"
    assert any(e["mac"] == "02:00:00:00:00:aa" and e["master"] == "br0" for e in _j("bridge", "fdb", "show", "--br", "br0"))
    for args, code in ((["02:00:00:00:00:zz", "fa", "--master"], 2), (["02:00:00:00:00:ab", "nope", "--master"], 4),
                       (["02:00:00:00:00:ab", "fa", "--master", "--dst", "10.0.0.1"], 2)):
        res = vnetctl("bridge", "fdb", "add", *args)
        assert res.returncode == code and len(res.stderr.strip().splitlines()) == 1, res.stderr
    vnetctl("bridge", "fdb", "del", "02:00:00:00:00:aa", "fa", "--master", check=True)
    assert not [e for e in _bridge_j("fdb", "show", "dev", "fa") if e["mac"] == "02:00:00:00:00:aa"]


def test_bridge_port_attributes() -> None:
    vnetctl("bridge", "add", "br0", check=True)
    vnetctl("veth", "add", "qa", "qb", "--up", check=True)
    vnetctl("bridge", "addif", "br0", "qa", check=True)
    dry = vnetctl("bridge", "link", "set", "qa", "--no-learning", "--no-flood", "--isolated", "--dry-run", check=True)
    assert dry.stdout.splitlines() == ["bridge link set dev qa learning off", "bridge link set dev qa flood off",
                                       "bridge link set dev qa isolated on"]
    vnetctl("bridge", "link", "set", "qa", "--no-learning", "--no-flood", "--isolated", "--state", "disabled", check=True)
    oracle = _bridge_j("link", "show", "dev", "qa")[0]
    slave = link("qa")["linkinfo"]["info_slave_data"]
    assert (oracle["state"], slave["learning"], slave["flood"], slave["isolated"]) == ("disabled", False, False, True)
    mine = _j("bridge", "link", "show", "qa")[0]
    assert (mine["state"], mine["learning"], mine["flood"], mine["isolated"], mine["master"]) == \
        ("disabled", False, False, True, "br0")
    not_port = vnetctl("bridge", "link", "set", "qb", "--isolated")
    assert not_port.returncode == 4 and "not a bridge port" in not_port.stderr
    # one failing attribute undoes the others: a port that is down cannot take an STP state
    sh("ip", "link", "set", "qb", "down")
    res = vnetctl("bridge", "link", "set", "qa", "--learning", "--state", "forwarding")
    assert res.returncode == 1 and "carrier" in res.stderr and link("qa")["linkinfo"]["info_slave_data"]["learning"] is False


def _vlan_filtering_works() -> bool:
    sh("ip", "link", "add", "vfprobe", "type", "bridge")
    try:
        return subprocess.run(["ip", "link", "set", "vfprobe", "type", "bridge", "vlan_filtering", "1"],
                              capture_output=True).returncode == 0
    finally:
        sh("ip", "link", "del", "vfprobe")


def test_vlan_filtering_where_the_kernel_lacks_it() -> None:
    if _vlan_filtering_works():
        pytest.skip("this kernel has bridge VLAN filtering")
    vnetctl("bridge", "add", "br0", check=True)
    vnetctl("veth", "add", "wa", "wb", check=True)
    vnetctl("bridge", "addif", "br0", "wa", check=True)
    for args in (["set", "br0", "--vlan-filtering"], ["vlan", "add", "10", "wa", "--pvid"], ["vlan", "add", "10", "wa", "--dry-run"]):
        res = vnetctl("bridge", *args)
        assert res.returncode == 69 and "kernel lacks bridge VLAN filtering" in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    assert link("br0")["linkinfo"]["info_data"]["vlan_filtering"] == 0
