"""Benchmark: `vnetctl trace` on the routed lab, healthy and broken, against doing it by hand.

Run inside the sandbox (it brings labs/trace-routed.yaml up and down itself):

    tests/sandbox.sh .venv/bin/python bench/bench_trace.py [--repeat 5]

Each figure is the median wall clock of whole processes (interpreter start-up included):

  trace healthy:  `vnetctl trace -n ha 10.0.2.2` (8 hops forward, 8 back; answered);
  trace broken:   the same with ip_forward=0 in rt (--timeout 2: waits for an answer that never comes);
  ping:           `ip netns exec ha ping -c 1 -W 2 10.0.2.2` (only says yes or no);
  by hand:        what trace replaces: `ip route get` in ha and rt, `bridge fdb show` in sw,
                  a tcpdump started on each of the 8 forward devices, one ping, tcpdumps stopped;
  trace in-process: `vnetctl.trace.run("ha", "10.0.2.2")` called again in one warm interpreter
                  (the trace's own work, without interpreter start-up and imports).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VNETCTL = [sys.executable, "-m", "vnetctl"]
LAB = str(ROOT / "labs" / "trace-routed.yaml")
PATH = [("ha", "eth0"), ("sw", "ha-p"), ("sw", "rt1-p"), ("rt", "eth1"), ("rt", "eth2"), ("sw", "rt2-p"), ("sw", "hb-p"),
        ("hb", "eth0")]


def timed(argv: list[str]) -> tuple[float, int]:
    """Seconds and exit code of one process."""
    t0 = time.monotonic()
    rc = subprocess.run(argv, capture_output=True).returncode
    return time.monotonic() - t0, rc


def by_hand() -> tuple[float, int]:
    """Routes, FDB, a tcpdump per device, one ping: the manual way of answering the same question."""
    t0 = time.monotonic()
    for ns in ("ha", "rt"):
        subprocess.run(["ip", "-n", ns, "route", "get", "10.0.2.2"], capture_output=True)
    subprocess.run(["bridge", "-n", "sw", "fdb", "show"], capture_output=True)
    dumps = []
    for ns, dev in PATH:
        p = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-p", "-n", "-l", "-c", "1", "-i", dev, "icmp"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while "listening on" not in (p.stderr.readline() if p.stderr else "listening on"):
            pass
        dumps.append(p)
    rc = subprocess.run(["ip", "netns", "exec", "ha", "ping", "-c", "1", "-W", "2", "10.0.2.2"], capture_output=True).returncode
    for p in dumps:
        try:
            p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            p.terminate()
            p.wait()
    return time.monotonic() - t0, rc


IN_PROCESS = """
import statistics, sys, time
from vnetctl import trace
trace.run("ha", "10.0.2.2")
times = []
for _ in range(int(sys.argv[1])):
    t0 = time.monotonic()
    assert trace.run("ha", "10.0.2.2").replied
    times.append(time.monotonic() - t0)
print(statistics.median(times))
"""


def main() -> int:
    """Bring the lab up, time every variant --repeat times (interleaved), print a Markdown table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], capture_output=True)
    subprocess.run(VNETCTL + ["lab", "up", LAB], check=True, capture_output=True)
    times: dict[str, list[float]] = {k: [] for k in ("trace healthy", "trace broken", "ping", "by hand")}
    try:
        for _ in range(args.repeat):
            t, rc = timed(VNETCTL + ["trace", "-n", "ha", "10.0.2.2"])
            assert rc == 0, "healthy trace not answered"
            times["trace healthy"].append(t)
            t, rc = timed(["ip", "netns", "exec", "ha", "ping", "-c", "1", "-W", "2", "10.0.2.2"])
            times["ping"].append(t)
            t, rc = by_hand()
            times["by hand"].append(t)
            subprocess.run(["ip", "netns", "exec", "rt", "sysctl", "-qw", "net.ipv4.ip_forward=0"], check=True)
            t, rc = timed(VNETCTL + ["trace", "-n", "ha", "10.0.2.2", "--timeout", "2"])
            assert rc == 1, "broken trace answered"
            times["trace broken"].append(t)
            subprocess.run(["ip", "netns", "exec", "rt", "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        warm = float(subprocess.run([sys.executable, "-c", IN_PROCESS, str(args.repeat)], check=True, capture_output=True,
                                    text=True).stdout)
    finally:
        subprocess.run(VNETCTL + ["lab", "down", LAB], capture_output=True)
    base = statistics.median(times["ping"])
    print(f"load average {os.getloadavg()[0]:.1f}; median of {args.repeat}")
    print("| variant | median | vs ping |\n| --- | ---: | ---: |")
    for k, v in times.items():
        m = statistics.median(v)
        print(f"| {k} | {m * 1000:.0f} ms | {m / base:.1f}x |")
    print(f"| trace in-process | {warm * 1000:.0f} ms | {warm / base:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
