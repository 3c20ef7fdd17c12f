"""Simulated hosts for labs across hosts, all on this machine (inside tests/sandbox.sh).

Each host is its own network, mount, pid and UTS namespace with a private /run (so its
own /run/netns and /run/vnetctl), running a real OpenSSH sshd on an underlay bridge
(192.168.200.0/24; the controller is .254). The controller reaches them with a key made
for the test, through an ssh_config of its own (VNETCTL_SSH_CONFIG), and checks their
host keys against a known_hosts file written here.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

UNDERLAY = "vnet-ul"
PREFIX = "192.168.200"
SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
_serial = itertools.count(1)

SSHD_CONFIG = """ListenAddress {addr}
HostKey {dir}/hostkey
PidFile /run/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel FATAL
"""

# pid 1 of the host: its own /run and /sys, waits for its underlay end, then runs sshd (not as pid 1,
# so a test can kill sshd without killing the host)
HOST_INIT = """
set -e
mount -t tmpfs -o mode=0755 {name}-run /run
mkdir -p /run/netns /run/vnetctl /run/sshd
mount -t sysfs {name}-sys /sys
hostname {name}
ip link set lo up
i=0; while ! ip link show ul0 >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 1000 ] || exit 1; sleep 0.01; done
ip addr add {addr}/24 dev ul0
ip link set ul0 up
{sshd} -D -e -f {dir}/sshd_config &
echo $! > /run/sshd.main
while :; do sleep 3600; done
"""


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _listening(addr: str) -> bool:
    try:
        with socket.create_connection((addr, 22), timeout=0.5):
            return True
    except OSError:
        return False


class Host:
    """One simulated host: its pid 1 (in the host's namespaces) and its sshd."""

    def __init__(self, name: str, index: int, d: Path) -> None:
        self.name, self.addr, self.dir = name, f"{PREFIX}.{index}", d
        self.ssh = f"root@{self.addr}"
        d.mkdir()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "hostkey")], check=True)
        shutil.copy(d.parent / "id.pub", d / "authorized_keys")
        (d / "sshd_config").write_text(SSHD_CONFIG.format(addr=self.addr, dir=d))
        script = HOST_INIT.format(name=name, addr=self.addr, dir=d, sshd=SSHD)
        self.proc = subprocess.Popen(["unshare", "--net", "--mount", "--pid", "--uts", "--fork", "--mount-proc",
                                      "--propagation", "private", "sh", "-c", script])
        _wait(lambda: self._child() is not None, 5, f"{name}'s pid 1")
        self.pid = self._child()
        self.port = f"ul{next(_serial)}{name}"[:15]
        subprocess.run(["ip", "link", "add", self.port, "type", "veth", "peer", "name", "ul0", "netns", str(self.pid)],
                       check=True)
        subprocess.run(["ip", "link", "set", self.port, "master", UNDERLAY, "up"], check=True)
        _wait(lambda: _listening(self.addr), 30, f"sshd of {name} on {self.addr}")

    def _child(self) -> int | None:
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return None
        return int(kids[0]) if kids else None

    def run(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """A command inside this host (its network and mount namespaces)."""
        return subprocess.run(["nsenter", "-t", str(self.pid), "-n", "-m", *argv], capture_output=True, text=True,
                              timeout=timeout)

    def popen(self, *argv: str) -> subprocess.Popen[str]:
        """A command started inside this host."""
        return subprocess.Popen(["nsenter", "-t", str(self.pid), "-n", "-m", *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def snapshot(self) -> dict[str, object]:
        """What a lab could leave behind: devices (name, kind), named namespaces, lab state directories."""
        links = json.loads(self.run("ip", "-d", "-j", "link", "show").stdout)
        labs = self.run("find", "/run/vnetctl/labs", "-type", "f", "!", "-name", "lock").stdout.split()
        return {"links": sorted((lk["ifname"], lk.get("linkinfo", {}).get("info_kind", "")) for lk in links),
                "netns": sorted(self.run("ip", "netns", "list").stdout.split()), "labs": labs}

    def pids(self, comm: str, cmdline: str = "") -> list[int]:
        """The pids (as this machine sees them) of this host's processes whose name starts with comm (and command line has cmdline)."""
        mine = os.readlink(f"/proc/{self.pid}/ns/pid")
        found = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{p}/ns/pid") == mine and Path(f"/proc/{p}/comm").read_text().startswith(comm) \
                        and cmdline.encode() in Path(f"/proc/{p}/cmdline").read_bytes():
                    found.append(int(p))
            except OSError:
                continue
        return found

    def kill_sshd(self) -> None:
        """Kill -9 this host's sshd, listener and sessions: the controller's connection drops."""
        for pid in self.pids("sshd"):
            os.kill(pid, signal.SIGKILL)

    def kill_agents(self) -> None:
        """Kill -9 vnetctl's agents on this host: their work stops mid-way, with no rollback."""
        for pid in self.pids("python", "base64"):
            os.kill(pid, signal.SIGKILL)

    def start_sshd(self) -> None:
        """Start sshd again (after kill_sshd), inside the host's namespaces."""
        subprocess.run(["nsenter", "-t", str(self.pid), "-n", "-m", "-p", "-u", "--", SSHD, "-f",
                        str(self.dir / "sshd_config")], check=True)  # without -D it forks into the background
        _wait(lambda: _listening(self.addr), 30, f"sshd of {self.name} on {self.addr}")

    def stop(self) -> None:
        """Kill the host: its pid 1, and with it every process and namespace of the host."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)


class Hosts:
    """n simulated hosts h1..hn and the controller's ssh configuration for them."""

    def __init__(self, tmp: Path, n: int) -> None:
        self.dir = tmp
        tmp.mkdir(exist_ok=True)
        if subprocess.run(["ip", "link", "show", UNDERLAY], capture_output=True).returncode != 0:
            subprocess.run(["ip", "link", "add", UNDERLAY, "type", "bridge"], check=True)
            subprocess.run(["ip", "addr", "add", f"{PREFIX}.254/24", "dev", UNDERLAY], check=True)
            subprocess.run(["ip", "link", "set", UNDERLAY, "up"], check=True)
        subprocess.run(["ip", "neigh", "flush", "dev", UNDERLAY], check=True)  # MACs of earlier tests' hosts
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "id")], check=True)
        self.hosts: list[Host] = []
        try:
            for i in range(1, n + 1):
                self.hosts.append(Host(f"h{i}", i, tmp / f"h{i}"))
        except BaseException:
            self.stop()
            raise
        known = "".join(f"{h.addr} {(h.dir / 'hostkey.pub').read_text().split(' ', 2)[0]} "
                        f"{(h.dir / 'hostkey.pub').read_text().split(' ', 2)[1]}\n" for h in self.hosts)
        (tmp / "known_hosts").write_text(known)
        (tmp / "ssh_config").write_text(f"Host *\n  IdentityFile {tmp}/id\n  IdentitiesOnly yes\n"
                                        f"  UserKnownHostsFile {tmp}/known_hosts\n  StrictHostKeyChecking yes\n"
                                        "  LogLevel ERROR\n")
        (tmp / "home").mkdir()

    def __getitem__(self, i: int) -> Host:
        return self.hosts[i]

    def env(self) -> dict[str, str]:
        """The controller's environment: its own ssh_config and a private HOME."""
        return {**os.environ, "VNETCTL_SSH_CONFIG": str(self.dir / "ssh_config"), "HOME": str(self.dir / "home")}

    def stop(self) -> None:
        """Kill every host."""
        for h in self.hosts:
            h.stop()
