"""vnetctl trace on a routed lab: the healthy paths reach, each injected fault gets its verdict at its hop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.helpers import VNETCTL, sh, vnetctl, wait_for

pytestmark = pytest.mark.kernel

LAB = "labs/trace-routed.yaml"
TRACEFS = "/sys/kernel/tracing"


def lab_up(path: str) -> Iterator[None]:
    """A lab up (tracefs mounted in the sandbox's private mount namespace) for a fixture, down afterwards."""
    if not os.path.ismount(TRACEFS):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=False)
    vnetctl("lab", "up", path, check=True)
    yield
    vnetctl("lab", "down", path)


@pytest.fixture
def lab():
    """The routed lab."""
    yield from lab_up(LAB)


def trace(*args: str) -> tuple[int, dict]:
    """Run `vnetctl trace --json ARGS`; (exit code, parsed JSON)."""
    proc = vnetctl("trace", "--json", *args)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def kill_guest() -> None:
    """Stop the lab's tap guest (found by its argv, inside the sandbox only) and wait until tap0 has no holder."""
    os.kill(_guest_pid(), signal.SIGKILL)
    wait_for(lambda: "NO-CARRIER" in sh("ip", "-n", "rt", "link", "show", "tap0").stdout, what="tap0 without holder")


@pytest.mark.parametrize("dst", ["10.0.2.2", "10.0.3.2", "10.0.4.5", "hb:eth0"])
def test_healthy_paths_reach(lab, dst):
    code, r = trace("-n", "ha", dst)
    assert code == 0 and r["reached"] and r["replied"] and r["verdict"] is None, r
    assert r["hops"] and all(h["seen"] for h in r["hops"]), r["hops"]
    assert {h["leg"] for h in r["hops"]} == {"forward", "reply"}


def test_vxlan_leg_is_predicted_through_the_underlay(lab):
    _, r = trace("-n", "ha", "10.0.3.2")
    fwd = [(h["netns"], h["device"], h["direction"]) for h in r["hops"] if h["leg"] == "forward"]
    assert fwd[-4:] == [("rt", "vxl7", "out"), ("rt", "ul0", "out"), ("vx", "ul0", "in"), ("vx", "vxl7", "in")]


FAULTS = [
    ("admin-down-port", [["ip", "-n", "sw", "link", "set", "rt2-p", "down"]], [], ("rt", "eth2", "link-down")),
    ("source-down", [["ip", "-n", "ha", "link", "set", "eth0", "down"]], [], ("ha", "eth0", "link-down")),
    ("vxlan-down", [["ip", "-n", "vx", "link", "set", "vxl7", "down"]], ["10.0.3.2"], ("vx", "vxl7", "link-down")),
    ("no-route", [["ip", "-n", "rt", "route", "del", "10.0.2.0/24"]], [], ("rt", "eth1", "no-route")),
    ("unreachable", [["ip", "-n", "rt", "route", "add", "unreachable", "10.0.2.2/32"]], [], ("rt", "eth1", "unreachable-route")),
    ("prohibit", [["ip", "-n", "ha", "route", "add", "prohibit", "10.0.2.0/24"]], [], ("ha", "-", "unreachable-route")),
    ("neighbour", [["ip", "-n", "ha", "route", "replace", "default", "via", "10.0.1.99"]], [], (None, None, "neighbour-failed")),
    ("forwarding", [["ip", "netns", "exec", "rt", "sysctl", "-qw", "net.ipv4.ip_forward=0"]], [], ("rt", "eth1", "forwarding-off")),
    ("rp-filter", [["ip", "netns", "exec", "rt", "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"],
                   ["ip", "-n", "rt", "route", "add", "10.0.1.2/32", "dev", "ul0"]], [], ("rt", "eth1", "rp-filter")),
    ("mtu", [["ip", "-n", "rt", "link", "set", "eth2", "mtu", "1000"]], ["--size", "1400", "--df"], ("rt", "eth2", "mtu")),
    ("port-disabled", [["bridge", "-n", "sw", "link", "set", "dev", "rt1-p", "state", "0"]], [],
     ("sw", "rt1-p", "bridge-port")),
    ("not-member", [["ip", "-n", "sw", "link", "set", "rt1-p", "nomaster"]], [], ("sw", "rt1-p", "bridge-port")),
    ("udp-no-listener", [], ["--proto", "udp:9999"], ("hb", "eth0", "no-listener")),
    ("tcp-no-listener", [], ["--proto", "tcp:9999"], ("hb", "eth0", "no-listener")),
]


@pytest.mark.parametrize("name,inject,extra,expect", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_matrix(lab, name, inject, extra, expect):
    for argv in inject:
        subprocess.run(argv, check=True, capture_output=True)
    dst = extra[0] if extra and not extra[0].startswith("-") else "10.0.2.2"
    opts = [a for a in extra if a != dst]
    code, r = trace("-n", "ha", dst, *opts)
    assert code == 1 and not r["replied"], r
    v = r["verdict"]
    netns, dev, reason = expect
    assert v["reason"] == reason, v
    if netns is not None:
        assert (v["netns"], v["device"]) == (netns, dev), v
    if reason == "mtu":
        assert "at most 1000 bytes fit" in v["detail"], v


def test_tap_without_holder(lab):
    kill_guest()
    code, r = trace("-n", "ha", "10.0.4.5")
    assert code == 1, r
    assert (r["verdict"]["netns"], r["verdict"]["device"], r["verdict"]["reason"]) == ("rt", "tap0", "no-holder")


def test_mtu_again_once_the_path_mtu_is_learned(lab):
    sh("ip", "-n", "rt", "link", "set", "eth2", "mtu", "1000")
    trace("-n", "ha", "10.0.2.2", "--size", "1400", "--df")
    code, r = trace("-n", "ha", "10.0.2.2", "--size", "1400", "--df")
    assert code == 1 and (r["verdict"]["device"], r["verdict"]["reason"]) == ("eth2", "mtu"), r["verdict"]


def _have(cmd: str) -> bool:
    return subprocess.run(["sh", "-c", f"command -v {cmd}"], capture_output=True).returncode == 0


def test_firewall_class_is_skipped_with_a_reason_without_tools(lab):
    if _have("iptables-save") or _have("nft"):
        pytest.skip("iptables-save or nft is installed: the firewall class is checked (test_firewall_*)")
    _, r = trace("-n", "ha", "10.0.2.2")
    assert "not installed" in r["skipped"]["firewall"]


@pytest.mark.parametrize("netns,rule,proto,expect", [
    ("rt", ["-A", "FORWARD", "-d", "10.0.2.2", "-j", "DROP"], "icmp", ("rt", "eth1")),
    ("hb", ["-A", "INPUT", "-p", "udp", "--dport", "9", "-j", "REJECT"], "udp:9", ("hb", "eth0")),
], ids=["forward-drop", "input-reject"])
def test_firewall_rule_that_counted_the_probe(lab, netns, rule, proto, expect):
    if not _have("iptables"):
        pytest.skip("iptables is not installed (Debian package iptables)")
    sh("ip", "netns", "exec", netns, "iptables", *rule)
    code, r = trace("-n", "ha", "10.0.2.2", "--proto", proto)
    v = r["verdict"]
    assert code == 1 and (v["netns"], v["device"], v["reason"]) == (*expect, "firewall"), v
    assert rule[-1] in v["detail"] and "counted" in v["detail"]
    assert "firewall" not in r["skipped"]


def _tcpdump(netns: str, dev: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(["ip", "netns", "exec", netns, "tcpdump", "--immediate-mode", "-p", "-n", "-l", "-i", dev, "icmp"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines = [proc.stderr.readline() for _ in range(2)]
    assert any("listening on" in ln for ln in lines), lines
    return proc


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    return out


@pytest.mark.parametrize("fault", [False, True], ids=["healthy", "forwarding-off"])
def test_captures_agree_with_tcpdump(lab, fault):
    if fault:
        sh("ip", "netns", "exec", "rt", "sysctl", "-qw", "net.ipv4.ip_forward=0")
    dumps = {(ns, dev): _tcpdump(ns, dev) for ns, dev in [("sw", "rt1-p"), ("rt", "eth2"), ("hb", "eth0")]}
    _, r = trace("-n", "ha", "10.0.2.2")
    texts = {k: _stop(p) for k, p in dumps.items()}
    tag = f"id {r['probe']['icmp_id']}, seq {r['probe']['icmp_seq']}"
    for (ns, dev), text in texts.items():
        for leg, what in (("forward", "echo request"), ("reply", "echo reply")):
            seen_by_trace = any(h["seen"] for h in r["hops"] if (h["netns"], h["device"], h["leg"]) == (ns, dev, leg))
            seen_by_tcpdump = any(what in ln and tag in ln for ln in text.splitlines())
            assert seen_by_trace == seen_by_tcpdump, (ns, dev, leg, text, r["hops"])
    assert any(tag in ln for ln in texts[("sw", "rt1-p")].splitlines())
    assert fault == (not any(tag in ln for ln in texts[("hb", "eth0")].splitlines()))


def _sysctls(netns: str) -> str:
    return sh("ip", "netns", "exec", netns, "sysctl", "-a", "-r", r"^net\.ipv4\.(ip_forward|conf\.)").stdout


def test_nothing_left_behind(lab, monkeypatch):
    from vnetctl import trace as tracer
    from vnetctl.backend import tracefs

    made: list[str | None] = []  # tracefs is one for the whole machine: watch only the instances made here
    real_init = tracefs.DropWatch.__init__

    def recording_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        made.append(self.path)

    monkeypatch.setattr(tracefs.DropWatch, "__init__", recording_init)

    tracer.run("ha", "10.0.2.2")  # warm up: the namespace worker thread keeps one fd for good
    spaces = ["ha", "hb", "rt", "sw", "vx"]
    before = {ns: _sysctls(ns) for ns in spaces}
    fds = sorted(os.listdir("/proc/self/fd"))
    with open("/proc/thread-self/comm") as f:
        comm = f.read()
    for args in (("10.0.2.2",), ("10.0.3.2",), ("10.0.2.2", "tcp:9")):
        tracer.run("ha", args[0], proto=args[1] if len(args) > 1 else "icmp")
    assert set(os.listdir("/proc/self/fd")) <= set(fds)
    assert {ns: _sysctls(ns) for ns in spaces} == before
    assert made and not [p for p in made if p and os.path.exists(p)], made
    for ns in spaces:
        assert sh("ip", "netns", "exec", ns, "cat", "/proc/net/packet").stdout.count("\n") == 1  # the header only
    with open("/proc/thread-self/comm") as f:
        assert f.read() == comm


def test_kernel_drop_reason_from_tracefs(lab):
    sh("ip", "netns", "exec", "rt", "sysctl", "-qw", "net.ipv4.ip_forward=0")
    _, r = trace("-n", "ha", "10.0.2.2")
    assert r["verdict"]["reason"] == "forwarding-off"
    # forwarding off: the input route is an error route and ip_error drops the packet
    assert "ip_error" in (r["verdict"]["kernel_drop_reason"] or ""), r


def test_without_tracefs_the_drop_reason_is_null_and_said(lab):
    if os.path.ismount(TRACEFS):
        subprocess.run(["umount", TRACEFS], check=True)
    _, r = trace("-n", "ha", "10.0.2.2", "--proto", "udp:9")
    assert r["verdict"]["kernel_drop_reason"] is None and "tracefs is not mounted" in r["skipped"]["kernel_drop_reason"]


@pytest.mark.parametrize("fmt,marker", [("mermaid", "style h"), ("dot", "color=red")])
def test_drawings_mark_the_failing_hop(lab, fmt, marker):
    sh("ip", "netns", "exec", "rt", "sysctl", "-qw", "net.ipv4.ip_forward=0")
    proc = vnetctl("trace", "-n", "ha", "10.0.2.2", "--format", fmt)
    assert proc.returncode == 1 and marker in proc.stdout and "forwarding-off" in proc.stdout
    if fmt == "dot" and subprocess.run(["sh", "-c", "command -v dot"], capture_output=True).returncode == 0:
        assert subprocess.run(["dot", "-Tsvg"], input=proc.stdout, capture_output=True, text=True).returncode == 0


@pytest.mark.parametrize("args,code", [(["-n", "ha", "10.0.2.2", "--proto", "sctp:1"], 2),
                                       (["-n", "ha", "10.0.2.2", "--size", "10"], 2),
                                       (["-n", "nosuch", "10.0.2.2"], 4),
                                       (["-n", "ha", "nosuch:eth0"], 4)])
def test_bad_input(lab, args, code):
    proc = vnetctl("trace", *args)
    assert proc.returncode == code and proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1, proc.stderr



SHIPPED = [
    ("labs/veth-netns.yaml", "ns1", "10.1.1.3", [], None),
    # the near end without carrier, or the far end itself admin down: which one the walk meets first
    # depends on whether the kernel's linkwatch has already dropped vethDemo0's carrier
    ("labs/veth-netns.yaml", "ns1", "10.1.1.3", [["ip", "-n", "ns2", "link", "set", "vethDemo1", "down"]],
     [("ns1", "vethDemo0", "link-down"), ("ns2", "vethDemo1", "link-down")]),
    ("labs/vxlan-overlay.yaml", "node1", "10.42.0.2", [], None),
    ("labs/vxlan-overlay.yaml", "node1", "10.42.0.2", [["ip", "-n", "node2", "link", "set", "vxlan42", "down"]],
     ("node2", "vxlan42", "link-down")),
    ("labs/tap-guest-bridge.yaml", "host1", "10.0.0.5", [], None),
    ("labs/tun-reader.yaml", "tunread", "192.168.10.12", [], ("tunread", "tun0", "no-listener")),
]


@pytest.mark.parametrize("path,src,dst,inject,expect", SHIPPED,
                         ids=["veth", "veth-peer-down", "vxlan", "vxlan-down", "tap-guest", "tun-reader"])
def test_shipped_labs(path, src, dst, inject, expect):
    vnetctl("lab", "up", path, check=True)
    try:
        for argv in inject:
            subprocess.run(argv, check=True, capture_output=True)
        code, r = trace("-n", src, dst)
    finally:
        vnetctl("lab", "down", path)
    if expect is None:
        assert code == 0 and r["replied"] and all(h["seen"] for h in r["hops"]), r
    else:
        v = r["verdict"]
        assert code == 1 and (v["netns"], v["device"], v["reason"]) in (expect if isinstance(expect, list) else [expect]), v


def test_lab_check_trace_kind_and_failed_ping_detail(lab):
    proc = vnetctl("lab", "check", LAB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no-listener at eth0 in hb" in proc.stdout
    sh("ip", "netns", "exec", "rt", "sysctl", "-qw", "net.ipv4.ip_forward=0")
    proc = vnetctl("lab", "check", LAB)
    assert proc.returncode != 0
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("ha reaches hb through rt"))
    assert "trace: forwarding-off at eth1 in rt" in line, line


def test_kernel_drop_in_softirq_on_another_cpu_is_the_probes(lab):
    """RPS sends rt's receive work to CPU 1 while trace runs on CPU 0: the drop is raised there, not by the sender."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs (the drop must happen on another CPU than the sender's)")
    rps = "/sys/class/net/eth1/queues/rx-0/rps_cpus"
    sh("ip", "netns", "exec", "rt", "sh", "-c", f"echo 2 > {rps}")
    assert sh("ip", "netns", "exec", "rt", "cat", rps).stdout.strip().endswith("2")
    sh("ip", "netns", "exec", "rt", "sysctl", "-qw", "net.ipv4.ip_forward=0")
    for _ in range(3):  # whatever the scheduler does, each run is pinned to CPU 0
        proc = subprocess.run(["taskset", "-c", "0", *VNETCTL, "trace", "--json", "-n", "ha", "10.0.2.2"],
                              capture_output=True, text=True)
        r = json.loads(proc.stdout)
        assert r["verdict"]["reason"] == "forwarding-off", r
        assert "ip_error" in (r["verdict"]["kernel_drop_reason"] or ""), r


def _guest_pid() -> int:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if b"tuntap" in argv and b"guest" in argv:
                return int(entry)
    raise AssertionError("the lab's guest is not running")


def test_tap_holder_stopped_is_not_reading(lab):
    wait_for(lambda: sh("ip", "netns", "exec", "rt", "ping", "-c", "1", "-W", "1", "10.0.4.5", check=False).returncode == 0,
             what="the guest answering on tap0")
    pid = _guest_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: sh("ps", "-o", "stat=", "-p", str(pid)).stdout.startswith("T"), what="guest stopped")
        code, r = trace("-n", "ha", "10.0.4.5", "--timeout", "1")
    finally:
        os.kill(pid, signal.SIGCONT)
    v = r["verdict"]
    assert code == 1 and (v["netns"], v["device"], v["reason"]) == ("rt", "tap0", "holder-not-reading"), v
    assert f"[{pid}]" in v["detail"] and "state T" in v["detail"], v


HOLD = """
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH22x", b"tap0", 0x0002 | 0x1000))
print("held", flush=True)
time.sleep(120)
"""


def _tx(netns: str, dev: str) -> tuple[int, int]:
    stats = json.loads(sh("ip", "-n", netns, "-s", "-j", "link", "show", dev).stdout)[0]["stats64"]["tx"]
    return stats["packets"], stats["dropped"]


def test_tap_holder_that_never_reads(lab):
    kill_guest()
    holder = subprocess.Popen(["ip", "netns", "exec", "rt", sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        sh("ip", "-n", "rt", "neigh", "replace", "10.0.4.5", "lladdr", "02:00:00:00:04:05", "dev", "tap0", "nud", "permanent")
        before = _tx("rt", "tap0")
        code, r = trace("-n", "ha", "10.0.4.5", "--timeout", "1")
        v = r["verdict"]
        assert code == 1 and (v["netns"], v["device"], v["reason"]) == ("rt", "tap0", "holder-not-reading"), v
        assert "tx_packets" in v["detail"] and _tx("rt", "tap0")[0] == before[0], (v, before)
        assert any(h["seen"] for h in r["hops"] if (h["netns"], h["device"], h["direction"]) == ("rt", "tap0", "out"))
        # a queue of one, already full: the next probe is dropped by the tap itself
        sh("ip", "-n", "rt", "link", "set", "tap0", "txqueuelen", "1")
        before = _tx("rt", "tap0")
        code, r = trace("-n", "ha", "10.0.4.5", "--timeout", "1")
        v = r["verdict"]
        assert code == 1 and v["reason"] == "holder-not-reading" and "tx_dropped" in v["detail"], v
        assert _tx("rt", "tap0")[1] > before[1]
    finally:
        holder.kill()
        holder.wait()
