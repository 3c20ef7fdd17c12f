"""Shaping: link set --rate with tc tbf, checked with tc -j and iperf3; netem where the kernel lacks it."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest
import yaml

from tests.helpers import sh, vnetctl, wait_for

pytestmark = pytest.mark.kernel


def _root(dev: str, netns: str | None = None) -> dict | None:
    """The device's root qdisc as tc -j shows it, None when it is the kernel's default (noqueue for a veth)."""
    out = sh("tc", "-j", "qdisc", "show", "dev", dev, netns=netns).stdout
    roots = [q for q in json.loads(out or "[]") if q.get("root") and q["kind"] != "noqueue"]
    return roots[0] if roots else None


@pytest.fixture
def pair() -> Iterator[None]:
    """ns1 (sa, 10.5.0.1) <-> ns2 (sb, 10.5.0.2)."""
    for ns in ("ns1", "ns2"):
        vnetctl("netns", "add", ns, check=True)
    vnetctl("veth", "add", "sa", "sb", "-n", "ns1", "--peer-netns", "ns2", "--addr", "10.5.0.1/24",
            "--peer-addr", "10.5.0.2/24", check=True)
    yield


def test_rate_sets_and_removes_a_token_bucket(pair: None) -> None:
    dry = vnetctl("link", "set", "sa", "-n", "ns1", "--rate", "10mbit", "--dry-run", check=True)
    assert dry.stdout == "ip netns exec ns1 tc qdisc replace dev sa root tbf rate 10mbit burst 32768b latency 50ms\n"
    assert _root("sa", "ns1") is None
    vnetctl("link", "set", "sa", "-n", "ns1", "--rate", "10mbit", "--burst", "64kb", check=True)
    q = _root("sa", "ns1")
    assert q["kind"] == "tbf" and q["options"]["rate"] == 10_000_000 // 8 and abs(q["options"]["burst"] - 65536) < 16
    shown = json.loads(vnetctl("link", "show", "sa", "-n", "ns1", "-d", "--json", check=True).stdout)[0]["details"]["qdisc"]
    assert shown["kind"] == "tbf" and shown["rate"] == 10_000_000 and abs(shown["burst"] - 65536) < 16
    assert "qdisc tbf rate 10mbit" in vnetctl("link", "show", "sa", "-n", "ns1", "-d", check=True).stdout
    vnetctl("link", "set", "sa", "-n", "ns1", "--rate", "1gbit", check=True)  # replaced, not stacked
    assert _root("sa", "ns1")["options"]["rate"] == 10**9 // 8
    vnetctl("link", "set", "sa", "-n", "ns1", "--rate", "none", check=True)
    assert _root("sa", "ns1") is None
    vnetctl("link", "set", "sa", "-n", "ns1", "--rate", "none", check=True)  # nothing to remove: a no-op
    for args, word in ((["--rate", "10parsec"], "invalid rate"), (["--rate", "3bit"], "out of range"),
                       (["--burst", "32kb"], "go with --rate"), (["--rate", "1mbit", "--burst", "x"], "invalid burst")):
        res = vnetctl("link", "set", "sa", "-n", "ns1", *args)
        assert res.returncode == 2 and word in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert _root("sa", "ns1") is None


def _netem_works() -> bool:
    return subprocess.run(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"], capture_output=True).returncode == 0


def test_delay_loss_jitter_need_netem(pair: None) -> None:
    if _netem_works():
        sh("tc", "qdisc", "del", "dev", "lo", "root")
        pytest.skip("this kernel has sch_netem")
    for args in (["--delay", "20ms"], ["--loss", "1%"], ["--delay", "20ms", "--jitter", "5ms", "--dry-run"]):
        res = vnetctl("link", "set", "sa", "-n", "ns1", *args)
        assert res.returncode == 69 and "kernel lacks sch_netem" in res.stderr, res.stderr
    assert _root("sa", "ns1") is None


def _iperf(seconds: int = 2) -> float:
    """Bits per second received by ns2 from ns1 over a TCP stream."""
    out = sh("iperf3", "-c", "10.5.0.2", "-t", str(seconds), "-J", netns="ns1", timeout=seconds + 20).stdout
    return float(json.loads(out)["end"]["sum_received"]["bits_per_second"])


@pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 not installed (make deps installs it)")
def test_rate_limits_throughput_measured_by_iperf3(pair: None) -> None:
    server = subprocess.Popen(["ip", "netns", "exec", "ns2", "iperf3", "-s"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: ":5201" in sh("ss", "-ltnH", netns="ns2").stdout, what="iperf3 server listening")
        unshaped = _iperf()
        limit = 20_000_000
        vnetctl("link", "set", "sa", "-n", "ns1", "--rate", "20mbit", check=True)
        shaped = _iperf()
        print(f"unshaped {unshaped / 1e6:.0f} Mbit/s, shaped at 20mbit: {shaped / 1e6:.1f} Mbit/s")
        assert unshaped > 5 * limit  # the same path unshaped, in the same run, is far above the limit
        assert 0.3 * limit < shaped < 1.5 * limit
    finally:
        server.terminate()
        server.wait(timeout=10)


LAB = """\
name: shaped
namespaces: [{name: s1}, {name: s2}]
veths:
  - name: sa
    netns: s1
    addresses: [10.5.0.1/24]
    rate: RATE
    peer: {name: sb, netns: s2, addresses: [10.5.0.2/24]}
"""


def test_a_lab_shapes_a_veth_end(tmp_path) -> None:
    lab = tmp_path / "shaped.yaml"
    lab.write_text(LAB.replace("RATE", "20mbit"))
    plan = vnetctl("lab", "plan", str(lab), check=True).stdout
    assert "ip netns exec s1 tc qdisc replace dev sa root tbf rate 20mbit burst 32768b latency 50ms" in plan
    vnetctl("lab", "up", str(lab), check=True)
    q = _root("sa", "s1")
    assert q["kind"] == "tbf" and q["options"]["rate"] == 20_000_000 // 8 and _root("sb", "s2") is None
    assert vnetctl("lab", "status", str(lab)).returncode == 0
    exported = yaml.safe_load(vnetctl("lab", "export", check=True).stdout)
    assert [(v["name"], v.get("rate"), v["peer"].get("rate")) for v in exported["veths"]] == [("sa", "20mbit", None)]
    vnetctl("lab", "down", str(lab), check=True)
    assert "s1" not in sh("ip", "netns", "list").stdout


def test_a_lab_with_a_bad_rate_is_refused_before_anything(tmp_path) -> None:
    lab = tmp_path / "shaped.yaml"
    lab.write_text(LAB.replace("RATE", "20parsec"))
    res = vnetctl("lab", "up", str(lab))
    assert res.returncode == 65 and "shaped.yaml:7:" in res.stderr and "invalid rate" in res.stderr, res.stderr
    assert "s1" not in sh("ip", "netns", "list").stdout
