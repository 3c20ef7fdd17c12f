"""The habits of ip: global -n/-j before the noun, verb synonyms, unique prefixes; messages that tell the truth."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.helpers import ip_json, link, sh, vnetctl, wait_for
from vnetctl.cli.groups import resolve

NOUNS = ["addr", "bridge", "cleanup", "doctor", "gretap", "inspect", "lab", "link", "macvlan", "netns", "route",
         "tuntap", "veth", "vlan", "vxlan"]


@pytest.mark.parametrize("word,expected", [
    ("link", "link"), ("l", "link"), ("li", "link"), ("la", "lab"), ("a", "addr"), ("r", "route"), ("n", "netns"),
    ("v", "veth"), ("vx", "vxlan"), ("t", "tuntap"), ("b", "bridge"), ("c", None), ("cleanup", "cleanup"),
    ("x", None)])
def test_nouns_by_prefix(word: str, expected: str | None) -> None:
    assert resolve(word, NOUNS) == expected


@pytest.mark.parametrize("word,verbs,expected", [
    ("s", ["set", "show"], "show"), ("ls", ["show", "set"], "show"), ("list", ["show"], "show"),
    ("show", ["list", "add"], "list"), ("ls", ["list", "add"], "list"), ("delete", ["add", "del"], "del"),
    ("d", ["add", "del", "show"], "del"), ("a", ["add", "addif"], "add"), ("addi", ["add", "addif"], "addif"),
    ("q", ["add"], None)])
def test_verbs_by_synonym_and_prefix(word: str, verbs: list[str], expected: str | None) -> None:
    assert resolve(word, verbs) == expected


def test_help_names_the_canonical_command() -> None:
    out = vnetctl("l", "s", "--help", check=True).stdout
    assert out.startswith("Usage: vnetctl link show")
    assert vnetctl("c").returncode == 2  # cleanup is never guessed


@pytest.mark.kernel
def test_global_netns_and_json_before_the_noun() -> None:
    sh("ip", "netns", "add", "ns1")
    vnetctl("-n", "ns1", "veth", "add", "a0", "b0", check=True)
    assert link("a0", "ns1") is not None and link("b0") is not None
    shown = json.loads(vnetctl("-n", "ns1", "-j", "l", "ls").stdout)
    assert {d["name"] for d in shown} == {d["ifname"] for d in ip_json("link", "show", netns="ns1")}
    assert vnetctl("-n", "ns1", "a", "s", "a0", "-j", check=True).stdout == vnetctl("addr", "show", "a0", "-n", "ns1",
                                                                                      "--json", check=True).stdout
    refused = vnetctl("-n", "ns1", "netns", "list")
    assert refused.returncode == 2 and "-n before the noun does not apply to 'vnetctl netns list'" in refused.stderr
    assert vnetctl("-n", "ns1", "veth", "delete", "a0", check=True).returncode == 0 and link("b0") is None


@pytest.mark.kernel
def test_messages_name_the_true_cause_and_next_step() -> None:
    sh("ip", "netns", "add", "node1")
    vnetctl("veth", "add", "underlay1", "underlay2", "-n", "node1", "--peer-netns", "node1", "--addr", "10.5.0.1/24",
            check=True)
    for args in (["veth", "del", "underlay1"], ["link", "set", "underlay1", "--up"], ["addr", "add", "10.5.0.9/24", "underlay1"]):
        res = vnetctl(*args)
        assert res.returncode == 4 and "it is in namespace node1: add -n node1" in res.stderr, res.stderr
    dup = vnetctl("addr", "add", "10.5.0.1/24", "underlay1", "-n", "node1")
    assert dup.returncode == 5 and "already has address 10.5.0.1/24" in dup.stderr and "name" not in dup.stderr
    vnetctl("route", "add", "10.6.0.0/24", "--dev", "underlay1", "-n", "node1", check=True)
    dup = vnetctl("route", "add", "10.6.0.0/24", "--dev", "underlay1", "-n", "node1")
    assert dup.returncode == 5 and "a route to 10.6.0.0/24 already exists" in dup.stderr and "name" not in dup.stderr
    gone = vnetctl("route", "del", "10.7.0.0/24", "-n", "node1")
    assert gone.returncode == 4 and "vnetctl route show -n node1" in gone.stderr and "link show" not in gone.stderr
    nothing = vnetctl("link", "set", "underlay1", "-n", "node1")
    assert nothing.returncode == 2 and "--to-netns" in nothing.stderr and "--netns or" not in nothing.stderr
    wrong = vnetctl("tuntap", "del", "underlay1", "-n", "node1")
    assert wrong.returncode == 2 and "is a veth device, not a tun/tap" in wrong.stderr
    assert "'vnetctl veth del underlay1 -n node1'" in wrong.stderr and link("underlay1", "node1") is not None
    vnetctl("vxlan", "add", "vx0", "--vni", "42", check=True)
    twin = vnetctl("vxlan", "add", "vx1", "--vni", "42")
    assert twin.returncode == 5 and "VNI" in twin.stderr and "another name" not in twin.stderr and link("vx1") is None


@pytest.mark.kernel
def test_link_del_addr_flush_netns_identify() -> None:
    sh("ip", "netns", "add", "ns1")
    sh("ip", "tuntap", "add", "tun2", "mode", "tun")
    assert vnetctl("link", "del", "tun2", "--dry-run", check=True).stdout == "ip link del tun2\n" and link("tun2")
    vnetctl("link", "del", "tun2", check=True)
    assert link("tun2") is None and vnetctl("link", "del", "tun2").returncode == 4
    vnetctl("veth", "add", "a0", "b0", "--addr", "10.3.0.1/24", check=True)
    sh("ip", "addr", "add", "fd00::3/64", "dev", "a0", "nodad")
    sh("ip", "addr", "add", "10.4.0.1/24", "dev", "a0")
    vnetctl("addr", "flush", "a0", "-4", check=True)
    assert {a["family"] for a in ip_json("addr", "show", "a0")[0]["addr_info"]} == {"inet6"}
    vnetctl("addr", "flush", "a0", check=True)
    assert ip_json("addr", "show", "a0")[0]["addr_info"] == []
    sleeper = subprocess.Popen(["ip", "netns", "exec", "ns1", "sleep", "60"])
    try:
        wait_for(lambda: os.stat(f"/proc/{sleeper.pid}/ns/net").st_ino == os.stat("/run/netns/ns1").st_ino,
                 what="sleep to enter ns1")
        oracle = sh("ip", "netns", "identify", str(sleeper.pid)).stdout
        assert vnetctl("netns", "identify", str(sleeper.pid), check=True).stdout == oracle == "ns1\n"
        assert vnetctl("netns", "identify", str(os.getpid()), check=True).stdout == ""
        assert vnetctl("netns", "identify", "999999").returncode == 4
    finally:
        sleeper.kill()
        sleeper.wait()


def _complete(words: str, env_extra: dict[str, str] | None = None) -> list[str]:
    env = {"COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
           "_VNETCTL_COMPLETE": "bash_complete", **(env_extra or {})}
    out = vnetctl(env=env).stdout
    return [line.split(",", 1)[1] for line in out.splitlines() if "," in line]


@pytest.mark.kernel
def test_shell_completion_knows_namespaces_devices_and_labs() -> None:
    sh("ip", "netns", "add", "nsa")
    sh("ip", "netns", "add", "other")
    sh("ip", "-n", "nsa", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
    assert _complete("vnetctl -n ") == ["nsa", "other"]
    assert _complete("vnetctl netns del o") == ["other"]
    assert set(_complete("vnetctl link show -n nsa ")) == {"lo", "d0", "d1"} == set(_complete("vnetctl -n nsa l s "))
    assert _complete("vnetctl link set d0 --to-netns n") == ["nsa"]
    assert _complete("vnetctl veth add ") == []  # a new name: nothing to offer
    assert "link" in _complete("vnetctl l") and "lab" in _complete("vnetctl l")
    vnetctl("lab", "up", "labs/veth-netns.yaml", check=True)
    assert "veth-netns" in _complete("vnetctl lab down ")
    vnetctl("lab", "down", "veth-netns", check=True)
    script = vnetctl(env={"_VNETCTL_COMPLETE": "bash_source"}).stdout
    assert "complete" in script and "_VNETCTL_COMPLETE" in script
