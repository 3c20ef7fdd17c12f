"""Soak and scale: repeated lab up/down in one process (fd and memory growth), and a
1000-namespace lab under `ulimit -n 256`, against the same lab built with `ip -batch`.

Run inside the sandbox (it creates and removes the namespaces itself):

    tests/sandbox.sh .venv/bin/python bench/bench_soak.py [--cycles 20] [--hosts 100] [--big 1000]

Part 1, in this process: `cycles` times vnetctl.lab.load(star, hosts).up() then .down();
after each cycle the open fds (/proc/self/fd) and RSS (VmRSS), and what is left in the
kernel (ip netns list, ip link). Each cycle is interleaved with the same lab made and
removed by `ip -batch` (one root batch, one `ip -n NS -batch` per namespace), for a ratio.
Part 2, whole processes with `ulimit -n 256`: lab up, lab check, inspect --json and lab
down of the star lab with `big` hosts, each timed, and the peak fd count of `lab up`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
STAR = str(ROOT / "labs" / "star.yaml")
VNETCTL = [sys.executable, "-m", "vnetctl"]


def fds() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def rss_kib() -> int:
    """Resident set size of this process."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def kernel_left() -> tuple[int, int]:
    """(named namespaces, devices other than lo) according to ip."""
    spaces = json.loads(subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True).stdout or "[]")
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True).stdout)
    return len(spaces), sum(1 for d in links if d["ifname"] != "lo")


def ip_batch_cycle(n: int, d: str) -> float:
    """The star lab made and removed with ip -batch; seconds."""
    root = ["link add br-star type bridge", "link set br-star up"]
    for i in range(n):
        root += [f"netns add h{i}", f"link add vs{i} type veth peer name eth0 netns h{i}",
                 f"link set vs{i} master br-star up"]
    Path(d, "root").write_text("\n".join(root) + "\n")
    for i in range(n):
        Path(d, f"h{i}").write_text(f"addr add 10.10.{i // 250}.{i % 250 + 1}/16 dev eth0\nlink set eth0 up\n")
    Path(d, "down").write_text("".join(f"netns del h{i}\n" for i in range(n)) + "link del br-star\n")
    start = time.monotonic()
    subprocess.run(["ip", "-batch", f"{d}/root"], check=True)
    for i in range(n):
        subprocess.run(["ip", "-n", f"h{i}", "-batch", f"{d}/h{i}"], check=True)
    subprocess.run(["ip", "-batch", f"{d}/down"], check=True)
    while kernel_left() != (0, 0):
        time.sleep(0.01)
    return time.monotonic() - start


def soak(cycles: int, hosts: int) -> list[dict[str, float]]:
    """Part 1: up/down cycles in this process, interleaved with ip -batch cycles."""
    from vnetctl import lab as labs

    lab = labs.load(STAR, {"hosts": str(hosts)})
    lab.up()
    lab.down()  # warm-up: imports, caches, the first handles
    gc.collect()
    rows = [{"cycle": 0, "fds": fds(), "rss": rss_kib(), "up": 0.0, "down": 0.0, "ip": 0.0, "left": 0}]
    with tempfile.TemporaryDirectory() as d:
        for c in range(1, cycles + 1):
            lab = labs.load(STAR, {"hosts": str(hosts)})
            t0 = time.monotonic()
            lab.up()
            t1 = time.monotonic()
            lab.down()
            t2 = time.monotonic()
            left = sum(kernel_left())
            gc.collect()
            rows.append({"cycle": c, "fds": fds(), "rss": rss_kib(), "up": t1 - t0, "down": t2 - t1,
                         "ip": ip_batch_cycle(hosts, d), "left": left})
    return rows


def peak_fds(proc: subprocess.Popen[str]) -> int:
    """Sample a child's open fds until it exits; the highest count seen."""
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, len(os.listdir(f"/proc/{proc.pid}/fd")))
        except OSError:
            pass
        time.sleep(0.005)
    return peak


def limited(nofile: int, *args: str) -> tuple[float, int, str]:
    """Run vnetctl under ulimit -n; (seconds, exit code, stderr); the peak fd count goes in stderr's place for up."""
    cmd = ["sh", "-c", f'ulimit -n {nofile} && exec "$@"', "sh", *VNETCTL, *args]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak: list[int] = []
    watcher = threading.Thread(target=lambda: peak.append(peak_fds(proc)))
    watcher.start()
    out, err = proc.communicate()
    watcher.join()
    return time.monotonic() - start, proc.returncode, f"{peak[0] if peak else 0} fds peak; {err.strip()[:200]}"


def big(hosts: int, nofile: int = 256) -> list[tuple[str, float, int, str]]:
    """Part 2: a `hosts`-namespace star lab under ulimit -n nofile."""
    sets = ("--set", f"hosts={hosts}")
    out = []
    for what, args in (("lab up", ("lab", "up", STAR, *sets)), ("lab check", ("lab", "check", STAR, *sets)),
                       ("inspect --json", ("inspect", "--json")), ("lab down", ("lab", "down", "star"))):
        secs, rc, note = limited(nofile, *args)
        out.append((what, secs, rc, note))
    return out


def main() -> int:
    """Run both parts and print markdown tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--big", type=int, default=1000)
    args = ap.parse_args()
    if os.environ.get("VNETCTL_SANDBOX") != "1":
        print("run inside tests/sandbox.sh", file=sys.stderr)
        return 77
    print(f"load average {os.getloadavg()[0]:.1f}; {args.cycles} cycles of a {args.hosts}-namespace star lab")
    rows = soak(args.cycles, args.hosts)
    print("\n| cycle | fds | RSS KiB | up s | down s | ip -batch up+down s | left in kernel |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['cycle']} | {r['fds']} | {r['rss']} | {r['up']:.2f} | {r['down']:.2f} | {r['ip']:.2f} | {r['left']} |")
    body = rows[1:]
    vn = statistics.median(r["up"] + r["down"] for r in body)
    ipb = statistics.median(r["ip"] for r in body)
    grow_fd = rows[-1]["fds"] - rows[0]["fds"]
    grow_rss = rows[-1]["rss"] - rows[0]["rss"]
    half = len(body) // 2
    late = rows[-1]["rss"] - body[half - 1]["rss"] if half else 0
    print(f"\nfd growth over {args.cycles} cycles: {grow_fd}; RSS growth: {grow_rss} KiB "
          f"(second half alone: {late} KiB); left in kernel after every cycle: {max(r['left'] for r in body)}")
    print(f"median cycle: vnetctl {vn:.2f} s (journaled, marked, in-process) vs ip -batch {ipb:.2f} s: "
          f"{vn / ipb:.2f}x")
    print(f"\n{args.big}-namespace star lab, ulimit -n 256, load average {os.getloadavg()[0]:.1f}:\n")
    print("| command | seconds | exit | notes |")
    print("| --- | ---: | ---: | --- |")
    failed = grow_fd > 0 or any(r["left"] for r in body)
    for what, secs, rc, note in big(args.big):
        print(f"| `vnetctl {what}` | {secs:.2f} | {rc} | {note} |")
        failed |= rc != 0
    print(f"left in kernel: {kernel_left()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
