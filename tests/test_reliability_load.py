"""Scale: labs of hundreds to a thousand namespaces under a small file-descriptor limit, and
no fd or memory growth over repeated up/down cycles. The big ones are @pytest.mark.slow
(VNETCTL_SLOW=1); figures live in bench/bench_soak.py, never in assertions on time.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import VNETCTL, ip_json, netns_names, snapshot
from vnetctl import lab as labs

pytestmark = pytest.mark.kernel

STAR = str(Path(__file__).resolve().parent.parent / "labs" / "star.yaml")


def _limited(nofile: int, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run vnetctl with `ulimit -n nofile`."""
    cmd = f"ulimit -n {nofile} && exec \"$@\""
    return subprocess.run(["sh", "-c", cmd, "sh", *VNETCTL, *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, COLUMNS="200"))


def _up_check_inspect_down(hosts: int, nofile: int) -> None:
    before = snapshot()
    sets = ("--set", f"hosts={hosts}")
    up = _limited(nofile, "lab", "up", STAR, *sets)
    assert up.returncode == 0, up.stderr
    assert {f"h{i}" for i in range(hosts)} <= netns_names()
    ports = {d["ifname"] for d in ip_json("link", "show", "master", "br-star")}
    assert ports == {f"vs{i}" for i in range(hosts)}
    last = ip_json("addr", "show", "dev", "eth0", netns=f"h{hosts - 1}")[0]["addr_info"]
    assert any(a["local"] == f"10.10.{(hosts - 1) // 250}.{(hosts - 1) % 250 + 1}" for a in last)
    check = _limited(nofile, "lab", "check", STAR, *sets)
    assert check.returncode == 0, check.stdout + check.stderr
    view = _limited(nofile, "inspect", "--json")
    assert view.returncode == 0, view.stderr
    found = json.loads(view.stdout)
    assert sum(1 for ns in found["namespaces"] if (ns["name"] or "").startswith("h")) == hosts
    assert not found["warnings"], found["warnings"][:3]
    down = _limited(nofile, "lab", "down", "star")
    assert down.returncode == 0, down.stderr
    assert snapshot() == before


def test_hundred_namespaces_with_64_fds() -> None:
    """100 namespaces with `ulimit -n 64`: handles are recycled, nothing runs out."""
    _up_check_inspect_down(100, 64)


@pytest.mark.slow
def test_thousand_namespaces_with_256_fds() -> None:
    """The star lab with 1000 hosts comes up, checks, is inspected and goes down with `ulimit -n 256`."""
    _up_check_inspect_down(1000, 256)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


@pytest.mark.slow
def test_no_fd_or_memory_growth_over_twenty_cycles() -> None:
    """20 up/down cycles of a 100-namespace lab in one process: fds return to the baseline, memory plateaus."""
    lab = labs.load(STAR, {"hosts": "100"})
    lab.up()
    lab.down()
    gc.collect()
    fds0, rss0 = _fds(), _rss_kib()
    for _ in range(20):
        lab = labs.load(STAR, {"hosts": "100"})
        lab.up()
        lab.down()
    gc.collect()
    assert _fds() <= fds0, f"fds grew from {fds0} to {_fds()}"
    assert _rss_kib() - rss0 < 16 * 1024, f"RSS grew by {_rss_kib() - rss0} KiB over 20 cycles"
    assert netns_names() == set()
