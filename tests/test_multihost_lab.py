"""Labs across hosts without a kernel: placement, validation (exit 65), the split per host, the plan, the bundle."""

from __future__ import annotations

import io
import textwrap
import zipfile
from pathlib import Path

import pytest
from helpers import vnetctl

from vnetctl.errors import LabError
from vnetctl.lab.hosts import parse_ssh, split
from vnetctl.lab.validate import load_spec
from vnetctl.ops.link_underlay import LinkAddUnderlay
from vnetctl.remote import bundle
from vnetctl.steps import step_class

HOSTS = """\
name: x
hosts:
  h1: {ssh: root@192.0.2.1}
  h2: {ssh: admin@192.0.2.2:2222, underlay: 198.51.100.2}
"""
U = {"h1": "192.0.2.1", "h2": "198.51.100.2"}


def lab(tmp_path: Path, body: str, head: str = HOSTS) -> Path:
    p = tmp_path / "lab.yaml"
    p.write_text(head + textwrap.dedent(body))
    return p


def problems(tmp_path: Path, body: str, head: str = HOSTS) -> list[str]:
    with pytest.raises(LabError) as e:
        load_spec(str(lab(tmp_path, body, head)))
    return e.value.problems


@pytest.mark.parametrize("text,want", [("h", (None, "h", None)), ("root@10.0.0.1", ("root", "10.0.0.1", None)),
                                       ("u@node-1.example:2222", ("u", "node-1.example", 2222)),
                                       ("[2001:db8::1]:22", (None, "2001:db8::1", 22))])
def test_ssh_destinations(text: str, want: tuple) -> None:
    assert parse_ssh(text) == want


@pytest.mark.parametrize("text", ["", "a b", "u@", "h:0", "h:70000", "@h"])
def test_bad_ssh_destinations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ssh(text)


def test_namespace_on_an_undeclared_host(tmp_path: Path) -> None:
    got = problems(tmp_path, "namespaces:\n  - {name: a, host: h3}\n  - {name: b, host: hh1}\n")
    assert any(":6:12: namespace 'a' is on host 'h3', which the lab does not declare" in p for p in got)
    assert any("namespace 'b' is on host 'hh1'" in p and "did you mean 'h1'?" in p for p in got)


def test_every_problem_at_once_and_cli_exit_65(tmp_path: Path) -> None:
    p = lab(tmp_path, """\
        namespaces:
          - {name: a}
          - {name: b, host: h2}
        bridges:
          - {name: br0, host: h1}
        veths:
          - {name: e1, host: h2, master: br0, peer: {name: e2, netns: b, host: h1}}
        """)
    out = vnetctl("lab", "plan", str(p))
    assert out.returncode == 65
    assert "namespace 'a' needs 'host' (one of h1, h2)" in out.stderr
    assert "device 'e2' says host 'h1', but its namespace 'b' is on host 'h2'" in out.stderr
    assert "'e1' on host 'h2' names bridge 'br0', which is on host 'h1'; a bridge and its port live on one host" in out.stderr


def test_host_key_without_hosts_section(tmp_path: Path) -> None:
    got = problems(tmp_path, "namespaces:\n  - {name: a, host: h1}\n", head="name: x\n")
    assert got == [f"{tmp_path}/lab.yaml:3:12: namespace 'a' names host 'h1', but the lab has no 'hosts' section"]


def test_bad_hosts_section(tmp_path: Path) -> None:
    got = problems(tmp_path, "", head="name: x\nhosts:\n  h1: {ssh: 'a b'}\n  h2: {ssh: h, mtu: 100, sshh: 1}\n")
    assert any("host h1: ssh 'a b' is not [user@]host[:port]" in p for p in got)
    assert any("underlay mtu 100 is outside 576-65535" in p for p in got)
    assert any("unknown key 'sshh' in host h2 (did you mean 'ssh'?)" in p for p in got)


def test_a_check_runs_on_one_host(tmp_path: Path) -> None:
    got = problems(tmp_path, """\
        namespaces: [{name: a, host: h1}, {name: b, host: h2}]
        veths: [{name: ea, netns: a, addresses: [10.0.0.1/24], peer: {name: eb, netns: b, addresses: [10.0.0.2/24]}}]
        checks:
          - {name: spans, capture: {netns: b, dev: eb, trigger: {ping: {from: a, to: 10.0.0.2}}, expect: [icmp]}}
          - {name: nowhere, ping: {to: 10.0.0.2}}
        """)
    assert any("check 'spans' spans hosts h1, h2; a check runs on one host" in p for p in got)
    assert any("check 'nowhere' runs in a host's own namespace" in p for p in got)


def test_split_cross_and_local_links(tmp_path: Path) -> None:
    spec = load_spec(str(lab(tmp_path, """\
        namespaces: [{name: a, host: h1}, {name: b, host: h2}, {name: c, host: h2}]
        veths:
          - {name: ea, netns: a, mtu: 1400, peer: {name: eb, netns: b}}
          - {name: ea2, netns: a, peer: {name: ec, netns: c}}
          - {name: bc, netns: b, peer: {name: cb, netns: c}}
        vxlans: [{name: vx, netns: b, vni: 42}]
        """)))
    parts = split(spec, U)
    assert [n.name for n in parts["h1"].spec.namespaces] == ["a"]
    assert {(d.name, d.kind) for d in parts["h2"].spec.devices} == {("eb", "vxlan"), ("ec", "vxlan"), ("bc", "veth"),
                                                                    ("vx", "vxlan")}
    ea = {d.name: d for d in parts["h1"].spec.devices}
    eb = {d.name: d for d in parts["h2"].spec.devices}
    opts = dict(ea["ea"].options)
    assert dict(eb["eb"].options)["vni"] == opts["vni"] != dict(ea["ea2"].options)["vni"]
    assert (opts["local"], opts["remote"], opts["dstport"]) == ("192.0.2.1", "198.51.100.2", 4789)
    assert ea["ea"].mtu == eb["eb"].mtu == 1400 and ea["ea2"].mtu == 1450  # the smaller: given, or underlay - 50
    assert split(spec, U)["h1"].spec.devices == parts["h1"].spec.devices  # stable
    steps = [s for p in parts.values() for s in __import__("vnetctl.lab.hosts", fromlist=["x"]).compile_part(p)]
    made = [s for s in steps if isinstance(s, LinkAddUnderlay)]
    assert sorted(s.name for s in made) == ["ea", "ea2", "eb", "ec"]
    assert made[0].command().splitlines()[0].startswith("ip link add ea netns a type vxlan id ")
    assert step_class("LinkAddUnderlay") is LinkAddUnderlay  # known when a journal is read back


def test_plan_shows_each_hosts_commands() -> None:
    out = vnetctl("lab", "plan", "labs/multihost/two-hosts.yaml", check=True).stdout
    assert "ssh root@192.168.200.1 sh -es <<'EOF'\nip netns add a\n" in out
    assert "ssh root@192.168.200.2 sh -es <<'EOF'\nip netns add b\n" in out
    assert "MTU 1450 (underlay 1500 - 50 bytes of VXLAN encapsulation)" in out
    assert "#   a pings b (on h1): ip netns exec a ping" in out


def test_bundle_is_pure_python_and_named_by_its_sources() -> None:
    names = zipfile.ZipFile(io.BytesIO(bundle.build())).namelist()
    assert "vnetctl/remote/agent.py" in names and "pyroute2/__init__.py" in names and "yaml/__init__.py" in names
    assert not [n for n in names if not n.endswith(".py")]
    assert not [n for n in names if n.startswith(("click/", "rich/"))]
    assert len(bundle.digest()) == 24 and bundle.build() == bundle.build()


def _inspected() -> dict:
    def ns(name, inode, devs, current=False):
        return {"name": name, "inode": inode, "current": current, "devices": devs}

    def dev(name, ifindex, kind, addrs=(), peer=None):
        return {"name": name, "ifindex": ifindex, "kind": kind, "addresses": list(addrs), "master": None, "peer": peer}

    def vx(netns, devname, vni, local, remote):
        return {"netns": netns, "dev": devname, "vni": vni, "local": local, "remote": remote, "port": 4789}

    return {"h1": {"ssh": "root@192.0.2.1", "tree": ["(host)  inode 1"], "namespaces": [
                ns(None, 1, [dev("eth0", 2, None)], True), ns("a", 11, [dev("ea", 2, "vxlan", ["10.0.0.1/24"])])],
                "vxlans": [vx("a", "ea", 7, "192.0.2.1", "192.0.2.2"), vx("a", "other", 8, "192.0.2.1", "192.0.2.9")]},
            "h2": {"ssh": "root@192.0.2.2", "tree": ["(host)  inode 1"], "namespaces": [
                ns("b", 22, [dev("eb", 2, "vxlan")])],
                "vxlans": [vx("b", "eb", 7, "192.0.2.2", "192.0.2.1"), vx("b", "eb8", 8, "192.0.2.2", "192.0.2.1")]}}


def test_cross_host_links_are_vxlans_that_point_at_each_other() -> None:
    from vnetctl.remote.inspect_hosts import links
    found = links(_inspected())
    assert found == [{"vni": 7, "port": 4789, "a": {"host": "h1", "netns": "a", "dev": "ea", "underlay": "192.0.2.1"},
                      "b": {"host": "h2", "netns": "b", "dev": "eb", "underlay": "192.0.2.2"}}]  # vni 8: remotes differ


def test_inspect_across_hosts_renders_hosts_and_links() -> None:
    from vnetctl.remote.inspect_hosts import links
    from vnetctl.render import hosts as across
    hosts = _inspected()
    hosts["h2"]["namespaces"][0]["devices"].append({"name": "eb8", "ifindex": 3, "kind": "vxlan", "addresses": [],
                                                    "master": None, "peer": None})
    data = {"hosts": hosts, "links": links(hosts)}
    text = across.tree_lines(data)
    assert text[:2] == ["host h1 (root@192.0.2.1)", "  (host)  inode 1"]
    assert text[-1] == "  h1:a/ea ⇄ h2:b/eb  VXLAN vni 7  192.0.2.1 ⇄ 192.0.2.2 port 4789"
    dot = across.dot(data)
    assert 'label="host h1 (root@192.0.2.1)"' in dot and 'label="(host)"' in dot
    assert 'dh1_11_2 -- dh2_22_2 [label="VXLAN vni 7", style=bold, color=blue];' in dot
    assert "dh2_22_2 <==>|VXLAN vni 7|" not in across.mermaid(data) and "dh1_11_2 <==>|VXLAN vni 7| dh2_22_2" in across.mermaid(data)
    assert "tree" not in across.public(data)["hosts"]["h1"]


def test_a_bridge_across_hosts_is_split_into_one_bridge_and_vxlan_port_per_host(tmp_path: Path) -> None:
    from vnetctl.lab.hosts import compile_part, notes
    from vnetctl.ops.fdb import FdbAppend
    spec = load_spec(str(lab(tmp_path, """\
        namespaces: [{name: a, host: h1}, {name: b, host: h2}]
        bridges: [{name: br0}]
        veths:
          - {name: va, host: h1, master: br0, peer: {name: eth0, netns: a, mtu: 1400}}
          - {name: vb, host: h2, master: br0, peer: {name: eth0, netns: b}}
          - {name: x, netns: a, peer: {name: y, netns: b}}
        """)))  # no host: the bridge is on the hosts of its ports
    parts = split(spec, U)
    for host, port, local, remote in (("h1", "va", "192.0.2.1", "198.51.100.2"), ("h2", "vb", "198.51.100.2", "192.0.2.1")):
        devs = {d.name: d for d in parts[host].spec.devices}
        vx = devs["br0-vx"]
        assert (vx.kind, vx.netns, vx.master, vx.mtu) == ("vxlan", None, "br0", 1450)
        assert dict(vx.options)["local"] == local and "remote" not in dict(vx.options)
        assert devs["br0"].mtu == 1450 and devs[port].mtu == 1450
        assert devs[port].peer.mtu == (1400 if host == "h1" else 1450)  # the smaller of the lab's and the underlay's
        steps = compile_part(parts[host])
        assert [(s.dev, s.dst) for s in steps if isinstance(s, FdbAppend)] == [("br0-vx", remote)]
    vnis = {dict(d.options)["vni"] for p in parts.values() for d in p.spec.devices if d.kind == "vxlan"}
    assert len(vnis) == 2  # the bridge's on both hosts, and the cross-host veth's: never the same
    assert any(n.startswith("bridge br0 spans hosts h1, h2: VXLAN VNI") and "MTU 1450 on the bridge" in n
               for n in notes(spec, U))


def test_what_cannot_span_hosts_is_refused(tmp_path: Path) -> None:
    got = problems(tmp_path, """\
        namespaces: [{name: a, host: h1}]
        bridges:
          - {name: br0, host: [h1, h9]}
          - {name: br1, host: [h1, h2], addresses: [10.0.0.1/24]}
          - {name: br2, netns: a, host: [h1, h2]}
          - {name: br3}
          - {name: br4, host: [h1, h1]}
          - {name: br5, host: [h1, h2]}
          - {name: br6, host: []}
        veths:
          - {name: v1, host: [h1, h2], peer: {name: v2, host: h2}}
          - {name: br5-vx, host: h2, peer: {name: p5, host: h2}}
        """)
    want = ["bridge 'br0' is on host 'h9', which the lab does not declare",
            "bridge 'br1' spans hosts h1, h2 and has addresses",
            "device 'br2' names several hosts; only a bridge in the host namespace can span hosts",
            "bridge 'br3' needs 'host' (one of h1, h2), a list of hosts to span, or ports on the hosts it spans",
            "bridge 'br4' names a host twice",
            "its VXLAN port 'br5-vx' would clash with the device of that name on host h2",
            "'bridge.host' must be a host name (or, for a bridge across hosts, a list of them), not an empty list",
            "device 'v1' names several hosts"]
    for w in want:
        assert any(w in p for p in got), (w, got)
    assert problems(tmp_path, "bridges: [{name: br0, host: [h1, h2]}]\n", head="name: x\n") == [
        f"{tmp_path}/lab.yaml:2:18: device 'br0' names host 'h1', but the lab has no 'hosts' section"]


def test_a_port_off_the_bridges_hosts_and_mixed_underlays_are_refused(tmp_path: Path) -> None:
    head = HOSTS + "  h3: {ssh: root@192.0.2.3}\n"
    got = problems(tmp_path, """\
        bridges: [{name: br0, host: [h1, h2]}]
        veths: [{name: p3, host: h3, master: br0, peer: {name: q3, host: h3}}]
        """, head)
    assert any("'p3' on host 'h3' names bridge 'br0', which is on host 'h1'" in p for p in got), got
    spec = load_spec(str(lab(tmp_path, "bridges: [{name: br0, host: [h1, h2]}]\n")))
    with pytest.raises(LabError) as e:
        split(spec, {"h1": "192.0.2.1", "h2": "2001:db8::2"})
    assert "bridge 'br0' spans hosts whose underlays are IPv4 and IPv6" in e.value.problems[0]


def test_vxlans_of_a_bridge_across_hosts_pair_by_their_flood_entries() -> None:
    from vnetctl.remote.inspect_hosts import links

    def vx(dev, vni, local, floods):
        return {"netns": None, "dev": dev, "vni": vni, "local": local, "remote": None, "port": 4789, "floods": floods}

    hosts = {"h1": {"vxlans": [vx("br0-vx", 9, "192.0.2.1", ["192.0.2.2", "192.0.2.3"]), vx("lone", 5, "192.0.2.1", [])]},
             "h2": {"vxlans": [vx("br0-vx", 9, "192.0.2.2", ["192.0.2.1", "192.0.2.3"])]},
             "h3": {"vxlans": [vx("br0-vx", 9, "192.0.2.3", ["192.0.2.2"]), vx("other", 8, "192.0.2.3", ["192.0.2.1"])]}}
    got = {(lk["a"]["host"], lk["b"]["host"], lk["vni"]) for lk in links(hosts)}
    assert got == {("h1", "h2", 9), ("h2", "h3", 9)}  # h3 does not flood to h1: no link h1-h3; vni 8 has no far end
