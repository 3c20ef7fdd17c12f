"""tuntap read against real traffic: what it prints and captures matches what was sent (tcpdump as oracle)."""

from __future__ import annotations

import signal

import pytest

from tests.helpers import sh, vnetctl, wait_for
from tests.userspace_helpers import json_lines, start, stop, tx_stats, wait_attached

pytestmark = pytest.mark.kernel

SEND_UDP = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(b"x" * (10 + i), (sys.argv[1], 5000 + i))
"""


def _tun(ns: str = "ns1", dev: str = "tun0", addr: str = "192.168.10.11/24") -> None:
    sh("ip", "netns", "add", ns)
    sh("ip", "-n", ns, "tuntap", "add", "mode", "tun", dev)
    sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
    sh("ip", "-n", ns, "link", "set", dev, "up")
    # Keep IPv6 router solicitations out of the count: only the traffic the test sends.
    sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")


def test_reader_prints_each_ping_and_udp_packet_as_sent_and_pcap_matches_tcpdump(tmp_path) -> None:
    _tun()
    cap = str(tmp_path / "tun0.pcap")
    proc = start("tuntap", "read", "tun0", "-n", "ns1", "--json", "--pcap", cap)
    wait_attached(proc, "tun0", "ns1")
    sh("ping", "-c", "3", "-i", "0.2", "-W", "1", "192.168.10.12", netns="ns1", check=False)
    sh("python3", "-c", SEND_UDP, "192.168.10.12", "4", netns="ns1")
    wait_for(lambda: tx_stats("tun0", "ns1")["packets"] >= 7, what="7 packets queued to the reader")
    code, out, err = stop(proc)
    assert code == 0, err
    rows = json_lines(out)
    assert len(rows) == tx_stats("tun0", "ns1")["packets"] == 7
    pings = [r for r in rows if r["proto"] == "ICMP"]
    assert len(pings) == 3
    assert all(r["len"] == 84 and r["src"] == "192.168.10.11" and r["dst"] == "192.168.10.12"
               and r["icmp_type"] == 8 for r in pings)
    udp = [r for r in rows if r["proto"] == "UDP"]
    assert [(r["dport"], r["len"]) for r in udp] == [(5000 + i, 20 + 8 + 10 + i) for i in range(4)]
    assert "7 packets" in err and "packets/s" in err
    dump = sh("tcpdump", "-nr", cap).stdout.splitlines()
    assert len(dump) == 7
    assert sum("ICMP echo request" in line for line in dump) == 3
    assert [line.split()[4].rstrip(":") for line in dump if "UDP" in line] == [f"192.168.10.12.{5000 + i}" for i in range(4)]
    assert "link-type RAW" in sh("tcpdump", "-nr", cap).stderr


def test_reader_text_lines_say_read_84_bytes_and_count_stops_it() -> None:
    _tun()
    proc = start("tuntap", "read", "tun0", "-n", "ns1", "--count", "2")
    wait_attached(proc, "tun0", "ns1")
    sh("ping", "-c", "2", "-i", "0.2", "-W", "1", "192.168.10.12", netns="ns1", check=False)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    for seq, line in enumerate(lines, 1):
        assert line.startswith("Read 84 bytes from tun/tap device: ICMP 192.168.10.11 > 192.168.10.12 echo request")
        assert line.endswith(f"seq {seq}")


def test_tap_reader_sees_arp_frames_and_writes_en10mb_pcap(tmp_path) -> None:
    sh("ip", "netns", "add", "ns1")
    sh("ip", "-n", "ns1", "tuntap", "add", "mode", "tap", "tap0")
    sh("ip", "-n", "ns1", "addr", "add", "10.0.0.1/24", "dev", "tap0")
    sh("ip", "-n", "ns1", "link", "set", "tap0", "up")
    sh("ip", "netns", "exec", "ns1", "sysctl", "-qw", "net.ipv6.conf.tap0.disable_ipv6=1")
    cap = str(tmp_path / "tap0.pcap")
    proc = start("tuntap", "read", "tap0", "--mode", "tap", "-n", "ns1", "--json", "--pcap", cap)
    wait_attached(proc, "tap0", "ns1")
    sh("ping", "-c", "1", "-W", "1", "10.0.0.2", netns="ns1", check=False)
    wait_for(lambda: tx_stats("tap0", "ns1")["packets"] >= 1, what="an ARP request queued to the reader")
    code, out, err = stop(proc, signal.SIGTERM)
    assert code == 0, err
    rows = json_lines(out)
    mac = sh("ip", "-n", "ns1", "-br", "link", "show", "tap0").stdout.split()[2]
    assert rows and all(r["proto"] == "ARP" for r in rows)
    assert rows[0]["src"] == "10.0.0.1" and rows[0]["dst"] == "10.0.0.2" and rows[0]["eth_src"] == mac
    dump = sh("tcpdump", "-enr", cap)
    assert "link-type EN10MB" in dump.stderr
    assert "Request who-has 10.0.0.2 tell 10.0.0.1" in dump.stdout.splitlines()[0]


def test_reader_creates_a_missing_device_for_its_lifetime() -> None:
    proc = start("tuntap", "read", "tunx", "--quiet")
    wait_for(lambda: "tunx" in sh("ip", "-br", "link").stdout, what="tunx created by the reader")
    code, out, err = stop(proc)
    assert code == 0 and out == "" and "0 packets" in err
    wait_for(lambda: "tunx" not in sh("ip", "-br", "link").stdout, what="tunx gone with the reader")


def test_mode_mismatch_is_a_clear_usage_error() -> None:
    _tun()
    proc = vnetctl("tuntap", "read", "tun0", "--mode", "tap", "-n", "ns1")
    assert proc.returncode == 2
    assert "'tun0' is a tun device, not tap" in proc.stderr and "--mode tun" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_busy_device_names_the_holder_pid() -> None:
    _tun()
    _tun("ns2")  # a tun0 of the same name elsewhere, held by another process: not the holder
    other = start("tuntap", "read", "tun0", "-n", "ns2", "--quiet")
    first = start("tuntap", "read", "tun0", "-n", "ns1", "--quiet")
    wait_attached(first, "tun0", "ns1")
    wait_attached(other, "tun0", "ns2")
    proc = vnetctl("tuntap", "read", "tun0", "-n", "ns1")
    lsof = [line.split() for line in sh("lsof", "-p", str(first.pid)).stdout.splitlines() if "/dev/net/tun" in line]
    code, _, _ = stop(first)
    assert code == 0 and stop(other)[0] == 0
    assert f"[{other.pid}]" not in proc.stderr
    assert proc.returncode == 5
    assert len(lsof) == 1
    fd = lsof[0][3].rstrip("urw")
    assert f"busy: held by " in proc.stderr and f"[{first.pid}] fd {fd}" in proc.stderr


def test_missing_dev_net_tun_exits_69() -> None:
    proc = vnetctl("tuntap", "read", "tun0", env={"VNETCTL_TUN_PATH": "/nonexistent/tun"})
    assert proc.returncode == 69
    assert proc.stderr.startswith("Error: /nonexistent/tun is missing")


def test_quiet_reader_counts_what_the_kernel_queued() -> None:
    _tun()
    proc = start("tuntap", "read", "tun0", "-n", "ns1", "-q")
    wait_attached(proc, "tun0", "ns1")
    sh("python3", "-c", SEND_UDP, "192.168.10.12", "200", netns="ns1")
    wait_for(lambda: tx_stats("tun0", "ns1")["packets"] >= 200, what="200 packets queued")
    code, out, err = stop(proc)
    tx = tx_stats("tun0", "ns1")
    assert code == 0 and out == "" and tx["dropped"] == 0
    assert err.splitlines()[-1].startswith(f"{tx['packets']} packets, {tx['bytes']} bytes")


def test_unwritable_pcap_is_a_one_line_error(tmp_path) -> None:
    _tun()
    (tmp_path / "link.pcap").symlink_to(tmp_path / "elsewhere")
    proc = vnetctl("tuntap", "read", "tun0", "-n", "ns1", "--pcap", str(tmp_path / "link.pcap"))
    assert proc.returncode == 2  # refused: vnetctl never writes through a link
    assert proc.stderr.startswith(f"Error: refusing to write the capture file {tmp_path / 'link.pcap'}: it is a symlink")
    assert not (tmp_path / "elsewhere").exists()
