"""Oracles and waiting for kernel tests: ip -j, bridge -j, ethtool, ping — never vnetctl itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Callable

VNETCTL = [sys.executable, "-m", "vnetctl"]


def vnetctl(*args: str, check: bool = False, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the vnetctl CLI as a real process; returns stdout, stderr and the exit code."""
    full_env = dict(os.environ, COLUMNS="200", **(env or {}))
    proc = subprocess.run(VNETCTL + list(args), capture_output=True, text=True, env=full_env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"vnetctl {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def sh(*argv: str, netns: str | None = None, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a system tool (inside a named namespace with netns)."""
    cmd = (["ip", "netns", "exec", netns] if netns else []) + list(argv)
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=timeout)


def ip_json(*args: str, netns: str | None = None) -> Any:
    """`ip -j [-n NS] ARGS` parsed."""
    cmd = ["ip", "-j"] + (["-n", netns] if netns else []) + list(args)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out) if out.strip() else []


def link(name: str, netns: str | None = None) -> dict[str, Any] | None:
    """`ip -j -d link show NAME` or None if it does not exist."""
    cmd = ["ip", "-j", "-d"] + (["-n", netns] if netns else []) + ["link", "show", name]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)[0]


def names(netns: str | None = None) -> set[str]:
    """Device names in a namespace, according to ip."""
    return {d["ifname"] for d in ip_json("link", "show", netns=netns)}


def netns_names() -> set[str]:
    """Named namespaces, according to `ip netns list`."""
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True).stdout
    return {n["name"] for n in json.loads(out)} if out.strip() else set()


def ethtool_info(dev: str, netns: str | None = None) -> dict[str, str]:
    """`ethtool -i DEV` as a dict."""
    out = sh("ethtool", "-i", dev, netns=netns).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if k}


def ethtool_stats(dev: str, netns: str | None = None) -> dict[str, str]:
    """`ethtool -S DEV` as a dict (peer_ifindex for a veth)."""
    out = sh("ethtool", "-S", dev, netns=netns).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()[1:]) if k}


def ping(addr: str, netns: str | None = None, count: int = 1, timeout_s: int = 2) -> bool:
    """True if `ping` gets a reply."""
    return sh("ping", "-c", str(count), "-W", str(timeout_s), addr, netns=netns, check=False).returncode == 0


def wait_for(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll cond until it returns something truthy, or fail after timeout (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        result = cond()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def snapshot() -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """Named namespaces and the devices in each (and here): to compare before/after."""
    spaces = netns_names()
    devs = {"": frozenset(names())}
    for ns in spaces:
        try:
            devs[ns] = frozenset(names(ns))
        except subprocess.CalledProcessError:  # listed but not a namespace (an empty mount point), or going away
            devs[ns] = frozenset({"<unreadable>"})
    return frozenset(spaces), devs


BUSYBOX = "/bin/busybox"


def busybox_rootfs(root: Any, applets: tuple[str, ...] = ("sh", "sleep", "ip", "cat")) -> Any:
    """A minimal container rootfs at `root` (a Path): busybox-static and its applets, no image pulled."""
    import shutil

    for d in ("bin", "proc", "sys", "dev", "etc", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for applet in applets:
        (root / "bin" / applet).symlink_to("busybox")
    return root


def tar_of(root: Any, tar: Any) -> Any:
    """`root`'s contents as an uncompressed tar at `tar` (what `podman import` and `docker import` take)."""
    import tarfile

    with tarfile.open(tar, "w") as t:
        t.add(root, arcname=".")
    return tar
