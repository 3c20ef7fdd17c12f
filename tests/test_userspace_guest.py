"""tuntap guest on a tap in a bridge: answers ARP and ping, gets a lease from dnsmasq, shows up as the holder."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.helpers import ping, sh, vnetctl, wait_for
from tests.userspace_helpers import start, stop, wait_attached

pytestmark = pytest.mark.kernel

GUEST_MAC = "02:00:00:00:00:05"


def _bridge_with_tap_and_namespace() -> None:
    """br0 with tap0 and one end of a veth whose other end is in ns1 (10.0.0.1/24)."""
    sh("ip", "link", "add", "br0", "type", "bridge")
    sh("ip", "tuntap", "add", "mode", "tap", "tap0")
    sh("ip", "link", "set", "tap0", "master", "br0")
    sh("ip", "netns", "add", "ns1")
    sh("ip", "link", "add", "vb", "type", "veth", "peer", "name", "vn", "netns", "ns1")
    sh("ip", "link", "set", "vb", "master", "br0")
    sh("ip", "-n", "ns1", "addr", "add", "10.0.0.1/24", "dev", "vn")
    for dev in ("br0", "tap0", "vb"):
        sh("ip", "link", "set", dev, "up")
    sh("ip", "-n", "ns1", "link", "set", "vn", "up")


def _neigh(addr: str, netns: str) -> dict:
    out = sh("ip", "-j", "-n", netns, "neigh", "show", addr).stdout
    found = json.loads(out) if out.strip() else []
    return found[0] if found else {}


def test_guest_answers_arp_and_ping_and_is_the_named_holder() -> None:
    _bridge_with_tap_and_namespace()
    proc = start("tuntap", "guest", "tap0", "--ip", "10.0.0.5/24", "--mac", GUEST_MAC)
    wait_attached(proc, "tap0")
    assert ping("10.0.0.5", netns="ns1", count=3)
    assert _neigh("10.0.0.5", "ns1").get("lladdr") == GUEST_MAC
    assert not ping("10.0.0.6", netns="ns1", timeout_s=1)  # nobody answers for another address
    lsof = [line.split() for line in sh("lsof", "-p", str(proc.pid)).stdout.splitlines() if "/dev/net/tun" in line]
    holders = vnetctl("inspect", "holders", "tap0", "--json", check=True)
    code, out, err = stop(proc, signal.SIGTERM)  # as `lab down` stops it
    assert code == 0, err
    assert f"guest {GUEST_MAC} at 10.0.0.5/24 on tap0" in out
    assert "ARP who-has 10.0.0.5 tell 10.0.0.1: is-at " + GUEST_MAC in out
    assert sum("ICMP echo request from 10.0.0.1" in line for line in out.splitlines()) == 3
    assert "3 echo replies" in err and "address 10.0.0.5/24" in err
    assert len(lsof) == 1
    assert [(h["pid"], h["fd"]) for h in json.loads(holders.stdout)] == [(proc.pid, int(lsof[0][3].rstrip("urw")))]


def test_guest_obtains_a_dnsmasq_lease(tmp_path) -> None:
    _bridge_with_tap_and_namespace()
    leases = tmp_path / "dnsmasq.leases"
    dnsmasq = subprocess.Popen(
        ["ip", "netns", "exec", "ns1", "dnsmasq", "--keep-in-foreground", "--user=root", "--log-dhcp", "--bind-interfaces", "--interface=vn",
         "--except-interface=lo", "--port=0", "--no-resolv", "--no-hosts",
         "--dhcp-range=10.0.0.50,10.0.0.60,255.255.255.0,1h", f"--dhcp-leasefile={leases}",
         f"--pid-file={tmp_path / 'dnsmasq.pid'}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def up() -> bool:
            if dnsmasq.poll() is not None:
                raise AssertionError(f"dnsmasq exited: {dnsmasq.communicate()[1]}")
            return os.path.exists(tmp_path / "dnsmasq.pid")

        wait_for(up, what="dnsmasq up")
        proc = start("tuntap", "guest", "tap0", "--dhcp", "--mac", GUEST_MAC)

        def leased() -> list[str]:
            if not leases.exists():
                return []
            return [line.split() for line in leases.read_text().splitlines() if GUEST_MAC in line]

        lease = wait_for(leased, timeout=30, what="a lease for the guest in dnsmasq's lease file")[0]
        addr = lease[2]
        assert addr.startswith("10.0.0.") and 50 <= int(addr.rsplit(".", 1)[1]) <= 60
        assert wait_for(lambda: ping(addr, netns="ns1"), what="ping to the leased address")
        code, out, err = stop(proc)
        assert code == 0, err
        assert "DHCP DISCOVER" in out and f"DHCP OFFER {addr} from 10.0.0.1; REQUEST" in out
        assert f"DHCP ACK {addr}/24 from 10.0.0.1 lease 3600s" in out
        assert f"address {addr}/24" in err
    finally:
        dnsmasq.terminate()
        dnsmasq.wait(timeout=10)


def test_guest_without_a_dhcp_server_fails_cleanly() -> None:
    _bridge_with_tap_and_namespace()
    proc = start("tuntap", "guest", "tap0", "--dhcp")
    out, err = proc.communicate(timeout=40)
    assert proc.returncode == 1
    assert "Error: no DHCP server answered on the tap" in err and "Traceback" not in err


def test_guest_refuses_a_tun_and_bad_arguments() -> None:
    sh("ip", "tuntap", "add", "mode", "tun", "tun0")
    proc = vnetctl("tuntap", "guest", "tun0", "--ip", "10.0.0.5/24")
    assert proc.returncode == 2 and "'tun0' is a tun device, not tap" in proc.stderr
    assert vnetctl("tuntap", "guest", "tap9", "--ip", "10.0.0.5/24", "--dhcp").returncode == 2
    bad_mac = vnetctl("tuntap", "guest", "tap9", "--ip", "10.0.0.5/24", "--mac", "03:00:00:00:00:01")
    assert bad_mac.returncode == 2 and "multicast" in bad_mac.stderr
    assert "tap9" not in sh("ip", "-br", "link").stdout
