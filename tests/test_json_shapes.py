"""docs/json.md is the contract: every --json command is on it, and its real output matches it."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
from typing import Any

import click
import pytest

from tests import shapes as S
from tests.helpers import VNETCTL, ping, sh, vnetctl, wait_for
from tests.test_docs import COMMANDS

SHAPES = S.load()
JSON_COMMANDS = [path for path, cmd in COMMANDS if any(p.name == "as_json" for p in cmd.params)
                 and not isinstance(cmd, click.Group)] + ["inspect"]


def test_every_shape_name_is_defined() -> None:
    used = set().union(*(S.names_used(t) for _, t in SHAPES.commands.values()),
                       *(S.names_used(t) for t in SHAPES.names.values()))
    assert used - set(SHAPES.names) - set(S.BUILTIN) - {"any"} == set()


@pytest.mark.parametrize("path", JSON_COMMANDS)
def test_every_json_command_is_documented(path: str) -> None:
    assert path in SHAPES.commands, f"'vnetctl {path} --json' is not in docs/json.md"


def test_the_checker_catches_a_renamed_or_missing_key() -> None:
    good = [{"ifindex": 1, "name": "lo", "state": "UP", "link_state": "UP", "addresses": []}]
    S.check_output("addr show", json.dumps(good), SHAPES)
    for bad in ([{**good[0], "ifname": "lo"}], [{k: v for k, v in good[0].items() if k != "state"}],
                [{**good[0], "ifindex": "1"}]):
        with pytest.raises(AssertionError):
            S.check_output("addr show", json.dumps(bad), SHAPES)
    with pytest.raises(AssertionError, match="compact"):
        S.check_output("addr show", json.dumps(good, indent=2), SHAPES)


def _run(path: str, *args: str) -> Any:
    proc = vnetctl(*path.split(), *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return S.check_output(path, proc.stdout, SHAPES)[0]


@pytest.mark.kernel
def test_every_documented_command_prints_its_shape(tmp_path) -> None:
    lab = "labs/veth-netns.yaml"
    up = _run("lab plan", lab)
    assert [s["step"] for s in up["steps"]][:2] == ["NetnsAdd", "NetnsAdd"] and up["checks"]
    made = _run("lab up", lab)
    assert made["result"] == "up" and [s["command"] for s in made["made"]] == [s["command"] for s in up["steps"]]
    assert _run("lab up", lab) == {"lab": "veth-netns", "result": "unchanged", "made": []}
    vnetctl("tuntap", "add", "tap0", "--mode", "tap", check=True)
    vnetctl("bridge", "add", "br0", check=True)
    vnetctl("veth", "add", "va", "vb", "--addr", "10.9.0.1/24", check=True)
    vnetctl("bridge", "addif", "br0", "tap0", check=True)
    vnetctl("route", "add", "10.8.0.0/24", "--via", "10.9.0.2", check=True)
    assert {x["name"] for x in _run("link show")} >= {"lo", "tap0", "br0", "va", "vb"}
    _run("link show", "-n", "ns1")
    assert "10.9.0.1/24" in _run("addr show", "va")[0]["addresses"]
    assert any(r["dst"] == "10.8.0.0/24" and r["gateway"] == "10.9.0.2" for r in _run("route show"))
    assert _run("route get", "10.8.0.7")["gateway"] == "10.9.0.2"
    assert _run("bridge show")[0]["ports"] == ["tap0"]
    assert [p["name"] for p in _run("bridge link show")] == ["tap0"]
    vnetctl("bridge", "fdb", "add", "02:00:00:00:00:aa", "tap0", "--master", check=True)
    assert any(e["mac"] == "02:00:00:00:00:aa" for e in _run("bridge fdb show", "tap0"))
    vnetctl("link", "set", "va", "--rate", "10mbit", check=True)
    detailed = {x["name"]: x for x in _run("link show", "-d", "-s")}
    assert detailed["va"]["details"]["qdisc"]["kind"] == "tbf" and detailed["tap0"]["details"]["port"] is not None
    assert _run("tuntap list")[0]["mode"] == "tap"
    assert {(v["name"], v["netns"]) for v in _run("veth list", "--all")} >= {("vethDemo0", "ns1"), ("va", None)}
    assert {n["name"] for n in _run("netns list", "--all")} >= {"ns1", "ns2", None}
    _run("doctor")
    _run("inspect")
    assert _run("inspect peer", "vethDemo0", "-n", "ns1")["peer"]["netns"] == "ns2"
    _run("inspect driver", "tap0")
    _kind_shows()
    assert _run("inspect who", "vethDemo0", "-n", "ns1")["peer"]["netns"] == "ns2"
    _monitor()
    _guest_and_holders()
    assert all(r["ok"] for r in _run("lab check", lab))
    _run("lab status")
    _run("lab status", lab)
    _run("lab list")
    assert [n["name"] for n in _run("lab export")["lab"]["namespaces"]] == ["ns1", "ns2"]
    dry = _run("cleanup", "--dry-run")
    planned = {(a["object"], a["name"]) for a in dry["actions"]}
    # by default the lab's leftovers (its journal undone as lab down would), not what plain commands made
    assert dry["dry_run"] and ("lab", "veth-netns") in planned and ("device", "tap0") not in planned
    assert ("device", "tap0") in {(a["object"], a["name"]) for a in _run("cleanup", "--dry-run", "--all")["actions"]}
    down = _run("lab down", "veth-netns")
    assert down["result"] == "down" and len(down["removed"]) == len(up["steps"])
    assert _run("lab down", "veth-netns") == {"lab": "veth-netns", "result": "not-up", "removed": []}
    _reader_and_tunnel()


def _kind_shows() -> None:
    from vnetctl import kinds
    vnetctl("vxlan", "add", "vx9", "--vni", "9", "--remote", "192.0.2.9", "--dev", "va", check=True)
    vnetctl("macvlan", "add", "mv9", "--link", "va", check=True)
    for kind in kinds.with_cli():
        found = _run(f"{kind.name} show")
        for entry in found:
            lower = {kind.lower_flag} if kind.lower_attr else set()
            assert set(entry) == {"name", "ifindex", "state"} | lower | set(kind.names()), (kind.name, entry)
    assert [d["vni"] for d in _run("vxlan show", "vx9")] == [9]
    assert [d["link"] for d in _run("macvlan show")] == ["va"]


def _monitor() -> None:
    mon = subprocess.Popen(VNETCTL + ["monitor", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert mon.stderr is not None and "watching" in mon.stderr.readline()
        vnetctl("addr", "add", "10.6.0.1/24", "br0", check=True)
        assert mon.stdout is not None
        first = mon.stdout.readline()
    finally:
        mon.send_signal(signal.SIGTERM)
        rest, _ = mon.communicate(timeout=20)
    events = S.check_output("monitor", first + rest, SHAPES)
    assert any(e["event"] == "addr-add" and e.get("address") == "10.6.0.1/24" for e in events)


def _guest_and_holders() -> None:
    vnetctl("addr", "add", "10.7.0.1/24", "br0", check=True)
    guest = subprocess.Popen(VNETCTL + ["tuntap", "guest", "tap0", "--ip", "10.7.0.5/24", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _run("inspect holders", "tap0"), what="the guest to hold tap0")
        assert ping("10.7.0.5")
    finally:
        guest.send_signal(signal.SIGTERM)
        out, err = guest.communicate(timeout=20)
    assert guest.returncode == 0, err
    events = S.check_output("tuntap guest", out, SHAPES)
    assert [e["event"] for e in events][0] == "ready" and events[-1]["event"] == "summary"
    assert {"arp", "echo"} <= {e["event"] for e in events}


def _reader_and_tunnel() -> None:
    sh("ip", "tuntap", "add", "tun0", "mode", "tun")
    sh("ip", "addr", "add", "192.168.10.11/24", "dev", "tun0")
    sh("ip", "link", "set", "tun0", "up")
    reader = subprocess.Popen(VNETCTL + ["tuntap", "read", "tun0", "--count", "2", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: _held("tun0"), what="the reader to attach")
    sh("ping", "-c", "2", "-i", "0.2", "-W", "1", "192.168.10.12", check=False)
    out, err = reader.communicate(timeout=20)
    assert reader.returncode == 0, err
    assert len(S.check_output("tuntap read", out, SHAPES)) == 2
    tunnel = subprocess.Popen(VNETCTL + ["tuntap", "tunnel", "tun0", "--local", "127.0.0.1:18285", "--remote",
                                         "127.0.0.1:18286", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    wait_for(lambda: _held("tun0"), what="the tunnel to attach")
    tunnel.send_signal(signal.SIGTERM)
    out, err = tunnel.communicate(timeout=20)
    assert tunnel.returncode == 0, err
    S.check_output("tuntap tunnel", out, SHAPES)


def _held(dev: str) -> bool:
    return bool(json.loads(vnetctl("inspect", "holders", dev, "--json", check=True).stdout))


@pytest.mark.kernel
def test_json_is_indented_on_a_terminal_and_with_pretty() -> None:
    piped = vnetctl("link", "show", "--json", check=True).stdout
    assert len(piped.splitlines()) == 1
    pretty = vnetctl("link", "show", "--pretty", check=True).stdout
    assert json.loads(pretty) == json.loads(piped) and pretty.startswith("[\n  {")
    assert vnetctl("-j", "--pretty", "link", "show", check=True).stdout == pretty
    assert vnetctl("link", "show", "-j", check=True).stdout == piped == vnetctl("-j", "link", "show", check=True).stdout
    assert tty_run("link", "show", "--json").startswith("[\r\n  {")


def tty_run(*args: str, columns: int = 200) -> str:
    """Run vnetctl with stdout on a pseudo-terminal of `columns` columns; returns what it printed."""
    master, slave = pty.openpty()
    env = dict(os.environ, COLUMNS=str(columns), TERM="xterm", NO_COLOR="1")
    proc = subprocess.Popen(VNETCTL + list(args), stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.wait(timeout=30)
    return b"".join(chunks).decode()
