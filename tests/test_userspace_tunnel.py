"""tuntap tunnel between namespaces: ping and a TCP transfer (sha256 on both ends), routes, transient errors."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests.helpers import ping, sh, wait_for
from tests.userspace_helpers import start, stop, wait_attached

pytestmark = pytest.mark.kernel

RECEIVER = """
import hashlib, socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], 7000)); srv.listen(1)
print("listening", flush=True)
conn, _ = srv.accept()
h, n = hashlib.sha256(), 0
while chunk := conn.recv(1 << 16):
    h.update(chunk); n += len(chunk)
print(n, h.hexdigest(), flush=True)
"""

SENDER = """
import hashlib, socket, sys
data = open(sys.argv[2], "rb").read()
s = socket.create_connection((sys.argv[1], 7000), timeout=20)
s.sendall(data); s.shutdown(socket.SHUT_WR); s.recv(1)
print(len(data), hashlib.sha256(data).hexdigest(), flush=True)
"""


def _node(ns: str, underlay: str, tun_dev: str, overlay: str) -> None:
    sh("ip", "-n", ns, "addr", "add", underlay, "dev", f"u-{ns}")
    sh("ip", "-n", ns, "link", "set", f"u-{ns}", "up")
    sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", ns, "tuntap", "add", "mode", "tun", tun_dev)
    # No IPv6 router solicitations: the counts below are the test's own packets.
    sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{tun_dev}.disable_ipv6=1")
    sh("ip", "-n", ns, "addr", "add", overlay, "dev", tun_dev)
    sh("ip", "-n", ns, "link", "set", tun_dev, "up", "mtu", "1400")


def _two_nodes() -> None:
    """n1 and n2 joined by a veth underlay (192.168.0.1/2), each with a tun in 10.99.0.0/24."""
    for ns in ("n1", "n2"):
        sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", "u-n1", "netns", "n1", "type", "veth", "peer", "name", "u-n2", "netns", "n2")
    _node("n1", "192.168.0.1/24", "tun1", "10.99.0.1/24")
    _node("n2", "192.168.0.2/24", "tun2", "10.99.0.2/24")


def _tunnel(ns: str, dev: str, local: str, *rest: str) -> subprocess.Popen[str]:
    proc = start("tuntap", "tunnel", dev, "-n", ns, "--local", local, *rest)
    wait_attached(proc, dev, ns)
    return proc


def _transfer(tmp_path, size: int, src_ns: str, dst_ns: str, dst_ip: str) -> tuple[str, str]:
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(size))
    rx = subprocess.Popen(["ip", "netns", "exec", dst_ns, "python3", "-c", RECEIVER, dst_ip], stdout=subprocess.PIPE,
                          text=True)
    try:
        assert rx.stdout is not None and rx.stdout.readline().strip() == "listening"
        tx = sh("python3", "-c", SENDER, dst_ip, str(blob), netns=src_ns, timeout=60)
        received = rx.communicate(timeout=60)[0].strip()
    finally:
        rx.kill()
    return tx.stdout.strip(), received


@pytest.mark.parametrize("offload", ["--offload", "--no-offload", "--udp-gso", "--no-udp-gso"])
def test_tunnel_carries_ping_and_a_tcp_transfer_intact(tmp_path, offload: str) -> None:
    _two_nodes()
    a = _tunnel("n1", "tun1", "192.168.0.1:8285", "--remote", "192.168.0.2:8285", offload)
    b = _tunnel("n2", "tun2", "192.168.0.2:8285", "--remote", "192.168.0.1:8285", offload)
    assert wait_for(lambda: ping("10.99.0.2", netns="n1"), what="ping across the tunnel")
    sent, received = _transfer(tmp_path, 8 * 1024 * 1024, "n1", "n2", "10.99.0.2")
    assert sent == received and sent.startswith(str(8 * 1024 * 1024) + " ")
    # The packets really went through the programs: the underlay carries them as UDP to port 8285.
    dump = subprocess.Popen(["ip", "netns", "exec", "n2", "tcpdump", "-l", "-c", "4", "-ni", "u-n2", "udp port 8285"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert dump.stderr is not None and "listening on u-n2" in dump.stderr.readline() + dump.stderr.readline()
    assert ping("10.99.0.2", netns="n1", count=2)
    lines = dump.communicate(timeout=20)[0].splitlines()
    assert len(lines) == 4 and all("192.168.0.1.8285 > 192.168.0.2.8285: UDP" in ln
                                   or "192.168.0.2.8285 > 192.168.0.1.8285: UDP" in ln for ln in lines)
    for proc in (a, b):
        code, _, err = stop(proc)
        assert code == 0, err
        assert "tun->udp" in err and "udp->tun" in err
        assert "pieces" not in err, err  # a veth keeps UDP GSO packets whole: no fallback
        assert ("udp gso 1472" in err) == (offload in ("--offload", "--udp-gso")), err


def test_routes_pick_the_remote_by_destination_subnet() -> None:
    """flannel's subnet map: node a sends 10.99.2.0/24 to b and 10.99.3.0/24 to c over one underlay bridge."""
    sh("ip", "link", "add", "ul", "type", "bridge")
    sh("ip", "link", "set", "ul", "up")
    nodes = {"a": ("192.168.0.1", "10.99.1.1"), "b": ("192.168.0.2", "10.99.2.1"), "c": ("192.168.0.3", "10.99.3.1")}
    for ns, (under, over) in nodes.items():
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", f"ul-{ns}", "type", "veth", "peer", "name", f"u-{ns}", "netns", ns)
        sh("ip", "link", "set", f"ul-{ns}", "master", "ul", "up")
        _node(ns, f"{under}/24", "flannel0", f"{over}/16")
    procs = [_tunnel("a", "flannel0", "192.168.0.1:8285", "--route", "10.99.2.0/24=192.168.0.2:8285",
                     "--route", "10.99.3.0/24=192.168.0.3:8285")]
    for ns in ("b", "c"):
        procs.append(_tunnel(ns, "flannel0", f"{nodes[ns][0]}:8285", "--route", "10.99.1.0/24=192.168.0.1:8285"))
    assert ping("10.99.2.1", netns="a") and ping("10.99.3.1", netns="a")
    assert not ping("10.99.4.1", netns="a", timeout_s=1)  # no route: the tunnel drops it
    results = [stop(p, signal.SIGTERM) for p in procs]
    assert all(code == 0 for code, _, _ in results)
    a_err = results[0][2]
    assert "1 dropped" in a_err.split("udp->tun")[0]
    for _, _, err in results[1:]:
        assert "udp->tun 1 packets" in err  # each of b and c received exactly its one echo request


def test_tunnel_survives_a_down_tun_and_a_peer_not_yet_listening() -> None:
    _two_nodes()
    a = _tunnel("n1", "tun1", "192.168.0.1:8285", "--remote", "192.168.0.2:8285")
    # Nobody listens on n2 yet: an ICMP port unreachable comes back, the next send gets ECONNREFUSED.
    sh("ping", "-c", "3", "-i", "0.2", "-W", "1", "10.99.0.2", netns="n1", check=False)
    b = _tunnel("n2", "tun2", "192.168.0.2:8285", "--remote", "192.168.0.1:8285")
    assert wait_for(lambda: ping("10.99.0.2", netns="n1"), what="ping once the peer listens")
    # n1's tun goes down while n2 keeps sending to it: writing to a down tun gives EIO.
    sh("ip", "-n", "n1", "link", "set", "tun1", "down")
    sh("ping", "-c", "3", "-i", "0.2", "-W", "1", "10.99.0.1", netns="n2", check=False)
    sh("ip", "-n", "n1", "link", "set", "tun1", "up")
    sh("ip", "-n", "n1", "route", "replace", "10.99.0.0/24", "dev", "tun1")
    assert wait_for(lambda: ping("10.99.0.2", netns="n1"), what="ping after the tun came back")
    assert a.poll() is None and b.poll() is None
    (code_a, _, err_a), (code_b, _, err_b) = stop(a), stop(b)
    assert code_a == 0 and code_b == 0
    summary = err_a.splitlines()[-1]
    # Both kinds of transient error happened, were counted, and the tunnel carried on.
    assert "ECONNREFUSED" in summary and "EIO" in summary, summary


def test_udp_gso_tunnel_drops_what_is_not_a_whole_packet() -> None:
    _two_nodes()
    a = _tunnel("n1", "tun1", "192.168.0.1:8285", "--remote", "192.168.0.2:8285", "--udp-gso")
    # With --route the socket is not connected: it hears datagrams from anyone, not only the peer.
    b = _tunnel("n2", "tun2", "192.168.0.2:8285", "--route", "10.99.0.0/24=192.168.0.1:8285", "--udp-gso")
    assert wait_for(lambda: ping("10.99.0.2", netns="n1"), what="ping across the tunnel")
    # A piece of a packet, as an underlay that splits UDP GSO packets would deliver it: a header
    # announcing 1500 bytes of IP packet in a 100-byte datagram, and bytes that are no header at all.
    piece = bytes(10) + bytes.fromhex("450005dc") + bytes(86)
    send = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "[s.sendto(d, ('192.168.0.2', 8285)) for d in (bytes.fromhex('%s'), b'x' * 1400)]" % piece.hex())
    sh("python3", "-c", send, netns="n1")
    assert ping("10.99.0.2", netns="n1")
    (code_a, _, err_a), (code_b, _, err_b) = stop(a), stop(b)
    assert code_a == 0 and code_b == 0
    assert "udp gso 1472" in err_b
    assert "errors, 2 dropped)" in err_b.splitlines()[-1].split("udp->tun")[1], err_b


def test_tunnel_bad_input() -> None:
    _two_nodes()
    from tests.helpers import vnetctl
    no_peer = vnetctl("tuntap", "tunnel", "tun1", "-n", "n1", "--local", "192.168.0.1:8285")
    assert no_peer.returncode == 2 and "nowhere to send" in no_peer.stderr
    bad_ep = vnetctl("tuntap", "tunnel", "tun1", "-n", "n1", "--local", "192.168.0.1", "--remote", "x:1")
    assert bad_ep.returncode == 2 and "invalid endpoint '192.168.0.1'" in bad_ep.stderr
    bad_route = vnetctl("tuntap", "tunnel", "tun1", "-n", "n1", "--local", "192.168.0.1:1", "--route", "10.0.0.0/8")
    assert bad_route.returncode == 2 and "CIDR=IP:PORT" in bad_route.stderr
    not_here = vnetctl("tuntap", "tunnel", "tun1", "-n", "n1", "--local", "192.168.0.2:8285", "--remote",
                       "192.168.0.1:8285")
    assert not_here.returncode == 1 and "EADDRNOTAVAIL" in not_here.stderr
    sh("ip", "-n", "n1", "tuntap", "add", "mode", "tap", "tap1")
    gso = vnetctl("tuntap", "tunnel", "tun1", "-n", "n1", "--local", "192.168.0.1:1", "--remote", "192.168.0.2:1",
                  "--udp-gso", "--no-offload")
    assert gso.returncode == 2 and "--udp-gso needs --offload" in gso.stderr
    tap = vnetctl("tuntap", "tunnel", "tap1", "-n", "n1", "--local", "192.168.0.1:8285", "--remote", "192.168.0.2:1")
    assert tap.returncode == 2 and "'tap1' is a tap device, not tun" in tap.stderr


def test_udp_gso_is_the_default_and_falls_back_when_the_underlay_delivers_pieces(tmp_path) -> None:
    """With UDP segmentation off on the underlay the kernel cuts each packet in software and the
    datagrams arrive one by one: the receiver asks the sender for IP fragments, both say so, and
    the transfer still arrives intact."""
    _two_nodes()
    sh("ethtool", "-K", "u-n1", "tx-udp-segmentation", "off", netns="n1")
    feats = sh("ethtool", "-k", "u-n1", netns="n1").stdout
    assert "tx-udp-segmentation: off" in feats, feats
    a = _tunnel("n1", "tun1", "192.168.0.1:8285", "--remote", "192.168.0.2:8285")
    b = _tunnel("n2", "tun2", "192.168.0.2:8285", "--remote", "192.168.0.1:8285")
    assert wait_for(lambda: ping("10.99.0.2", netns="n1"), what="ping across the tunnel")
    sent, received = _transfer(tmp_path, 8 * 1024 * 1024, "n1", "n2", "10.99.0.2")
    assert sent == received and sent.startswith(str(8 * 1024 * 1024) + " ")
    (code_a, _, err_a), (code_b, _, err_b) = stop(a), stop(b)
    assert code_a == 0 and code_b == 0
    assert "udp gso 1472" in err_a and "udp gso 1472" in err_b  # the default, on both ends
    assert "UDP GSO packets from 192.168.0.1:8285 arrive in pieces" in err_b, err_b
    assert "peer 192.168.0.2:8285 receives UDP GSO packets in pieces: sending IP fragments instead" in err_a, err_a
