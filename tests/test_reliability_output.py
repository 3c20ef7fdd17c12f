"""Output and files on a shared host: no terminal escapes from names or comms, capture files made
exclusively, exit codes that agree with the table, held tun/taps and their holders.

Oracles: the bytes on stdout/stderr, stat(2) of files, ip -j link, the holders' own exit codes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import link, sh, vnetctl, wait_for
from tests.userspace_helpers import start, stop, wait_attached

pytestmark = pytest.mark.kernel

ESC_NAMES = ["\x1b[8mhid", "\x1b]0;pwn\x07"]  # hides what follows / retitles the terminal
HOLDER = r"""
import ctypes, fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", b"etap0", 0x0002 | 0x1000))
ctypes.CDLL(None).prctl(15, b"\x1b]0;pwn\x07x", 0, 0, 0)
print("ready", flush=True)
time.sleep(120)
"""


def test_control_characters_in_names_and_comms_are_printed_escaped() -> None:
    for name in ESC_NAMES:
        sh("ip", "link", "add", name, "type", "bridge")
    holder = subprocess.Popen(["unshare", "--net", sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        runs = [vnetctl("inspect"), vnetctl("inspect", "--format", "table"), vnetctl("inspect", "--format", "dot"),
                vnetctl("inspect", "--format", "mermaid"), vnetctl("netns", "list", "--all"), vnetctl("link", "show"),
                vnetctl("bridge", "show"), vnetctl("inspect", "holders", "etap0", "-n", f"pid:{holder.pid}"),
                vnetctl("link", "set", ESC_NAMES[0], "--up")]
        for proc in runs:
            assert "\x1b" not in proc.stdout + proc.stderr and "\x07" not in proc.stdout + proc.stderr, proc.args
        assert all(r.returncode == 0 for r in runs[:-1]), [(r.args, r.stderr) for r in runs if r.returncode]
        assert "\\x1b[8mhid" in runs[0].stdout and "\\x1b]0;pwn\\x07" in runs[5].stdout
        assert "\\x1b]0;pwn\\x07x" in runs[4].stdout  # the holder's comm, in its unnamed namespace
        assert "\\x1b]0;pwn\\x07x" in runs[7].stdout
        assert runs[-1].returncode == 2 and "\\x1b[8mhid" in runs[-1].stderr  # errors too (vnetctl refuses such names)
        as_json = vnetctl("link", "show", "--json")
        assert "\\u001b[8mhid" in as_json.stdout  # JSON escapes on its own
    finally:
        holder.kill()
        holder.wait()
        for name in ESC_NAMES:
            sh("ip", "link", "del", name)


def _tun_with_traffic() -> subprocess.Popen[str]:
    sh("ip", "tuntap", "add", "mode", "tun", "ptun0")
    sh("ip", "addr", "add", "10.77.0.1/24", "dev", "ptun0")
    sh("ip", "link", "set", "ptun0", "up")
    return subprocess.Popen(["ping", "-i", "0.2", "-c", "100", "10.77.0.2"], stdout=subprocess.DEVNULL)


@pytest.fixture
def traffic() -> object:
    ping = _tun_with_traffic()
    yield ping
    ping.kill()
    ping.wait()
    sh("ip", "link", "del", "ptun0")


def _read_pcap(path: str) -> subprocess.CompletedProcess[str]:
    return vnetctl("tuntap", "read", "ptun0", "--count", "1", "--quiet", "--pcap", path, timeout=20)


def test_pcap_replaces_a_file_of_ours_with_a_new_private_one(tmp_path: Path, traffic: object) -> None:
    target = tmp_path / "cap.pcap"
    target.write_bytes(b"old")
    os.chmod(target, 0o666)
    reader = open(target, "rb")  # someone who opened the old file keeps the old file, not the capture
    proc = _read_pcap(str(target))
    assert proc.returncode == 0, proc.stderr
    st = target.stat()
    assert st.st_mode & 0o777 == 0o600 and st.st_size > 24
    assert reader.read() == b"old"
    reader.close()
    assert sh("tcpdump", "-nr", str(target)).returncode == 0


@pytest.mark.parametrize("case", ["foreign", "fifo", "foreign-symlink-dir"])
def test_pcap_refuses_fifos_and_other_users_files(tmp_path: Path, case: str, traffic: object) -> None:
    os.chmod(tmp_path, 0o755)
    target = tmp_path / "cap.pcap"
    if case == "foreign":
        target.write_bytes(b"theirs")
        os.chmod(target, 0o666)
        os.chown(target, 65534, 65534)
    elif case == "fifo":
        os.mkfifo(target)
    else:
        real = tmp_path / "real"
        real.mkdir()
        (tmp_path / "their-link").symlink_to(real)
        os.chown(tmp_path / "their-link", 65534, 65534, follow_symlinks=False)
        target = tmp_path / "their-link" / "cap.pcap"
    proc = _read_pcap(str(target))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("Error: refusing to write the capture file") and len(proc.stderr.splitlines()) == 1
    if case == "foreign":
        assert target.read_bytes() == b"theirs" and target.stat().st_mode & 0o777 == 0o666
    if case == "foreign-symlink-dir":
        assert not (tmp_path / "real" / "cap.pcap").exists()


def test_exit_codes_agree_with_the_table() -> None:
    sh("ip", "netns", "add", "xc")
    sh("ip", "link", "add", "xbr", "type", "bridge")
    sh("ip", "link", "add", "xv0", "type", "veth", "peer", "name", "xv1")
    try:
        assert vnetctl("netns", "exec", "xc", "--", "no-such-command-x").returncode == 127
        assert vnetctl("netns", "exec", "xc", "--", "/etc/hostname").returncode == 126
        gone = vnetctl("addr", "del", "10.66.0.1/24", "xv0")
        assert gone.returncode == 4 and "is not on xv0" in gone.stderr, gone.stderr
        assert vnetctl("bridge", "delif", "xbr", "xv0").returncode == 4
        # one rule: adding what is already there is a conflict (5), for addresses and ports alike
        vnetctl("addr", "add", "10.66.0.1/24", "xv0", check=True)
        assert vnetctl("addr", "add", "10.66.0.1/24", "xv0").returncode == 5
        vnetctl("bridge", "addif", "xbr", "xv0", check=True)
        twice = vnetctl("bridge", "addif", "xbr", "xv0")
        assert twice.returncode == 5 and "already a port" in twice.stderr, twice.stderr
        for args in (["link", "set", "lo", "--up", "--down"],
                     ["vxlan", "add", "vx9", "--vni", "9", "--remote", "10.0.0.1", "--group", "239.1.1.1"]):
            proc = vnetctl(*args)
            assert proc.returncode == 2, (args, proc.stderr)
            assert proc.stderr.startswith("Error:") and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert link("lo")["operstate"] == "UNKNOWN" and link("vx9") is None  # type: ignore[index]
    finally:
        sh("ip", "netns", "del", "xc")
        sh("ip", "link", "del", "xbr")
        sh("ip", "link", "del", "xv0")


PROGRAMS = {
    "read": ("tun", ["tuntap", "read", "hold0"]),
    "guest": ("tap", ["tuntap", "guest", "hold0", "--ip", "10.55.0.2/24"]),
    "tunnel": ("tun", ["tuntap", "tunnel", "hold0", "--local", "127.0.0.1:47001", "--remote", "127.0.0.1:47002"]),
}


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_deleting_a_held_tuntap_names_the_holder_and_the_holder_ends_cleanly(program: str) -> None:
    mode, args = PROGRAMS[program]
    vnetctl("tuntap", "add", "hold0", "--mode", mode, check=True)
    sh("ip", "link", "set", "hold0", "up")  # up, its NO-CARRIER flag tells when the holder has attached
    holder = start(*args)
    try:
        wait_attached(holder, "hold0")
        refused = vnetctl("tuntap", "del", "hold0")
        assert refused.returncode == 5, refused.stderr
        assert f"vnetctl-{program}[{holder.pid}]" in refused.stderr and "--force" in refused.stderr
        assert link("hold0") is not None
        vnetctl("tuntap", "del", "hold0", "--force", check=True)
        wait_for(lambda: holder.poll() is not None, what="the holder to end")
        code, _, err = stop(holder)
        assert code == 0, err
        assert "internal error" not in err and "stopped: the device was deleted" in err, err
    finally:
        if holder.poll() is None:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
        if link("hold0") is not None:
            sh("ip", "link", "del", "hold0")


def test_tunnel_count_ends_with_one_way_traffic() -> None:
    """--count N counts both directions together: a peer that never answers still lets it end."""
    sh("ip", "tuntap", "add", "mode", "tun", "ctun0")
    sh("ip", "addr", "add", "10.88.0.1/24", "dev", "ctun0")
    sh("ip", "link", "set", "ctun0", "up")
    tunnel = start("tuntap", "tunnel", "ctun0", "--local", "127.0.0.1:47010", "--remote", "127.0.0.1:47011",
                   "--count", "3")
    ping = subprocess.Popen(["ping", "-i", "0.2", "-c", "50", "10.88.0.2"], stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: tunnel.poll() is not None, timeout=20, what="the tunnel to stop after 3 packets")
        code, _, err = stop(tunnel)
        assert code == 0, err
        assert "udp->tun 0 packets" in err and "tun->udp 0 packets" not in err, err
    finally:
        ping.kill()
        ping.wait()
        if tunnel.poll() is None:
            tunnel.kill()
            tunnel.wait()
        sh("ip", "link", "del", "ctun0")
