"""tuntap read attaches to an existing device as what it is: tun or tap, single- or multi-queue (ip -d link as oracle)."""

from __future__ import annotations

import signal

import pytest

from tests.helpers import link, sh, vnetctl, wait_for
from tests.userspace_helpers import json_lines, start, stop, tx_stats, wait_attached

pytestmark = pytest.mark.kernel

SEND_FLOWS = """
import socket, sys
for i in range(int(sys.argv[2])):
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", (sys.argv[1], 5000 + i))
"""


def _device(name: str, mode: str, cidr: str, *extra: str) -> None:
    sh("ip", "netns", "add", "ns1")
    sh("ip", "-n", "ns1", "tuntap", "add", "mode", mode, name, *extra)
    sh("ip", "-n", "ns1", "addr", "add", cidr, "dev", name)
    sh("ip", "netns", "exec", "ns1", "sysctl", "-qw", f"net.ipv6.conf.{name}.disable_ipv6=1")
    sh("ip", "-n", "ns1", "link", "set", name, "up")


def _info(name: str) -> dict:
    return link(name, "ns1")["linkinfo"]["info_data"]


def test_an_existing_tap_is_read_as_a_tap_without_mode() -> None:
    _device("tap7", "tap", "10.7.0.1/24")
    assert _info("tap7")["type"] == "tap"
    proc = start("tuntap", "read", "tap7", "-n", "ns1", "--json", "--count", "1")
    wait_attached(proc, "tap7", "ns1")
    sh("ping", "-c", "1", "-W", "1", "10.7.0.2", netns="ns1", check=False)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert err.startswith("reading tap tap7 in namespace ns1;")
    (row,) = json_lines(out)
    mac = link("tap7", "ns1")["address"]
    assert row["proto"] == "ARP" and row["eth_src"] == mac and row["dst"] == "10.7.0.2"
    assert row["time"].endswith("+00:00")


def test_an_existing_tun_is_read_as_a_tun_and_a_wrong_mode_says_what_it_is() -> None:
    _device("tun7", "tun", "10.7.0.1/24")
    wrong = vnetctl("tuntap", "read", "tun7", "-n", "ns1", "--mode", "tap")
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("Error: 'tun7' is a tun device, not tap — leave out --mode (it is detected)")
    proc = start("tuntap", "read", "tun7", "-n", "ns1", "--count", "1")
    wait_attached(proc, "tun7", "ns1")
    sh("ping", "-c", "1", "-W", "1", "10.7.0.2", netns="ns1", check=False)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert out.startswith("Read 84 bytes from tun/tap device: ICMP 10.7.0.1 > 10.7.0.2 echo request")


def test_multi_queue_device_two_readers_share_its_queues_and_every_packet_is_read_once() -> None:
    _device("mq0", "tun", "10.8.0.1/24", "multi_queue")
    assert _info("mq0")["multi_queue"] is True and _info("mq0")["numqueues"] == 0
    first = start("tuntap", "read", "mq0", "-n", "ns1", "--queues", "2", "--json")
    wait_attached(first, "mq0", "ns1")
    second = start("tuntap", "read", "mq0", "-n", "ns1", "--json")
    wait_for(lambda: _info("mq0")["numqueues"] == 3, what="three queues attached (two readers)")
    sh("python3", "-c", SEND_FLOWS, "10.8.0.2", "60", netns="ns1")
    wait_for(lambda: tx_stats("mq0", "ns1")["packets"] >= 60, what="60 packets queued")
    (c1, out1, err1), (c2, out2, err2) = stop(first, signal.SIGTERM), stop(second, signal.SIGTERM)
    assert c1 == 0 and c2 == 0, err1 + err2
    assert "reading tun mq0 in namespace ns1 (2 queues)" in err1
    rows1, rows2 = json_lines(out1), json_lines(out2)
    ports = sorted(r["dport"] for r in rows1 + rows2 if r["proto"] == "UDP")
    assert ports == list(range(5000, 5060))  # each flow read once, by one reader or the other
    assert rows1 and rows2  # 60 flows hashed over 3 queues: both readers got some
    assert tx_stats("mq0", "ns1")["packets"] == len(rows1) + len(rows2)


def test_queues_on_a_single_queue_device_and_a_busy_one_say_how_to_share() -> None:
    _device("tun8", "tun", "10.7.0.1/24")
    proc = vnetctl("tuntap", "read", "tun8", "-n", "ns1", "--queues", "2")
    assert proc.returncode == 2
    assert "'tun8' is a single-queue tun device: --queues 2 needs a multi-queue one" in proc.stderr
    holder = start("tuntap", "read", "tun8", "-n", "ns1", "-q")
    wait_attached(holder, "tun8", "ns1")
    busy = vnetctl("tuntap", "read", "tun8", "-n", "ns1")
    assert stop(holder)[0] == 0
    assert busy.returncode == 5
    assert f"held by vnetctl-read[{holder.pid}]" in busy.stderr
    assert "'vnetctl tuntap add tun8 --mode tun --multi-queue'" in busy.stderr and "(--multi-queue)" not in busy.stderr
