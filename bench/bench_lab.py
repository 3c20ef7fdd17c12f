"""Benchmark: `vnetctl lab up` + `lab down` of the star lab against the shell ways of doing it.

Run inside the sandbox (it creates and removes N namespaces itself):

    tests/sandbox.sh .venv/bin/python bench/bench_lab.py [--sizes 100,1000] [--repeat 3]

Variants, all in one run and interleaved, each timed as whole processes (interpreter
start-up included) until the lab is usable (up) or completely gone (down):

  (a) the articles' way: one `ip`/`brctl` command per action, from a shell script
      (ip link add ... peer, ip link set PEER netns NS, brctl addif, ip netns exec NS ip ...);
  (b) the fastest hand-written form: one root `ip -batch` file, then one
      `ip -n NS -batch` per namespace for what happens inside it;
  lab: `vnetctl lab up labs/star.yaml --set hosts=N` and `vnetctl lab down star`
       (journaled, ownership-marked, transactional).

Each `up` is checked (N namespaces, first host pings the last) before its `down`; each
`down` waits until no device of the lab is left. Peak RSS of `lab up` is reported too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VNETCTL = [sys.executable, "-m", "vnetctl"]
BRIDGE = "br-star"


def addr(i: int) -> str:
    """The address of host i (as labs/star.yaml computes it)."""
    return f"10.10.{i // 250}.{i % 250 + 1}"


def script_a(n: int) -> tuple[str, str]:
    """The articles' per-command shell scripts (up, down)."""
    up = ["set -e", f"brctl addbr {BRIDGE}", f"ip link set {BRIDGE} up"]
    for i in range(n):
        # as the articles do it: make the pair, move one end, enslave, address and raise each end
        up += [f"ip netns add h{i}", f"ip link add vs{i} type veth peer name vp{i}", f"ip link set vp{i} netns h{i}",
               f"brctl addif {BRIDGE} vs{i}", f"ip link set vs{i} up",
               f"ip netns exec h{i} ip addr add {addr(i)}/16 dev vp{i}", f"ip netns exec h{i} ip link set vp{i} up"]
    down = [f"ip netns del h{i}" for i in range(n)] + [f"ip link set {BRIDGE} down", f"brctl delbr {BRIDGE}"]
    return "\n".join(up) + "\n", "\n".join(down) + "\n"


def batch_b(n: int, d: str) -> tuple[list[list[str]], list[list[str]]]:
    """The hand-written batch form: command lists for up and down."""
    root = [f"link add {BRIDGE} type bridge", f"link set {BRIDGE} up"]
    for i in range(n):
        root += [f"netns add h{i}", f"link add vs{i} type veth peer name eth0 netns h{i}",
                 f"link set vs{i} master {BRIDGE} up"]
    Path(d, "root").write_text("\n".join(root) + "\n")
    up = [["ip", "-batch", f"{d}/root"]]
    for i in range(n):
        Path(d, f"ns{i}").write_text(f"addr add {addr(i)}/16 dev eth0\nlink set eth0 up\n")
        up.append(["ip", "-n", f"h{i}", "-batch", f"{d}/ns{i}"])
    Path(d, "down").write_text("".join(f"netns del h{i}\n" for i in range(n)) + f"link del {BRIDGE}\n")
    return up, [["ip", "-batch", f"{d}/down"]]


def run(cmds: list[list[str]]) -> tuple[float, int]:
    """Run commands one after the other; (seconds, peak RSS in KiB of the largest)."""
    t0 = time.monotonic()
    peak = 0
    for cmd in cmds:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"failed: {' '.join(cmd[:6])}: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}")
        peak = max(peak, usage.ru_maxrss)
    return time.monotonic() - t0, peak


def wait_clean(timeout: float = 120) -> float:
    """Seconds until only lo is left and no namespace is named (veth ends vanish asynchronously)."""
    t0 = time.monotonic()
    delay = 0.005
    while time.monotonic() - t0 < timeout:
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout.splitlines()
        if len(links) <= 1 and not os.listdir("/run/netns"):
            return time.monotonic() - t0
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    raise SystemExit("the sandbox did not come clean")


def verify(n: int) -> None:
    """The star is usable: N namespaces, and the first host reaches the last."""
    got = len(os.listdir("/run/netns"))
    if got != n:
        raise SystemExit(f"expected {n} namespaces, found {got}")
    ping = subprocess.run(["ip", "netns", "exec", "h0", "ping", "-c", "1", "-W", "5", addr(n - 1)], capture_output=True)
    if ping.returncode != 0:
        raise SystemExit("h0 cannot ping the last host")


def variant(name: str, n: int, d: str) -> dict[str, float]:
    """One up + down of one variant."""
    if name == "a":
        up_sh, down_sh = script_a(n)
        Path(d, "a-up.sh").write_text(up_sh)
        Path(d, "a-down.sh").write_text(down_sh)
        up_cmds, down_cmds = [["sh", f"{d}/a-up.sh"]], [["sh", f"{d}/a-down.sh"]]
    elif name == "b":
        up_cmds, down_cmds = batch_b(n, d)
    else:
        up_cmds = [VNETCTL + ["lab", "up", "labs/star.yaml", "--set", f"hosts={n}"]]
        down_cmds = [VNETCTL + ["lab", "down", "star"]]
    up_s, rss = run(up_cmds)
    verify(n)
    down_s, _ = run(down_cmds)
    down_s += wait_clean()
    return {"up": up_s, "down": down_s, "total": up_s + down_s, "rss": rss}


def main() -> int:
    """Run every variant at every size and print the figures and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--repeat", type=int, default=3, help="runs per variant at sizes up to 100 (1 above)")
    args = ap.parse_args()
    if os.environ.get("VNETCTL_SANDBOX") != "1":
        print("run inside the sandbox: tests/sandbox.sh .venv/bin/python bench/bench_lab.py", file=sys.stderr)
        return 2
    wait_clean()
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        reps = args.repeat if n <= 100 else 1
        got: dict[str, list[dict[str, float]]] = {"a": [], "b": [], "lab": []}
        load = [os.getloadavg()[0]]
        with tempfile.TemporaryDirectory() as d:
            for _ in range(reps):
                for name in ("lab", "b", "a"):
                    got[name].append(variant(name, n, d))
                    load.append(os.getloadavg()[0])
        med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in got.items()}
        rows.append((n, med, min(load), max(load), reps))
        lab, a, b = med["lab"], med["a"], med["b"]
        print(f"N={n} (median of {reps}, load average {min(load):.1f}-{max(load):.1f})")
        for k in ("lab", "b", "a"):
            m = med[k]
            print(f"  {k:>3}: up {m['up']:7.2f} s  down {m['down']:6.2f} s  up+down {m['total']:7.2f} s"
                  + (f"  peak RSS {m['rss'] / 1024:.0f} MiB" if k == "lab" else ""))
        print(f"  (a)/lab up+down {a['total'] / lab['total']:.1f}x (up {a['up'] / lab['up']:.1f}x);"
              f" lab/(b) up+down {lab['total'] / b['total']:.2f} (up {lab['up'] / b['up']:.2f})", flush=True)
    print("\n| N | lab up | lab down | lab up+down | (b) ip -batch up+down | (a) per-command up+down | (a)/lab | lab/(b) | lab peak RSS |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, med, lo, hi, reps in rows:
        lab, a, b = med["lab"], med["a"], med["b"]
        print(f"| {n} | {lab['up']:.2f} s | {lab['down']:.2f} s | {lab['total']:.2f} s | {b['total']:.2f} s "
              f"(up {b['up']:.2f}) | {a['total']:.2f} s (up {a['up']:.2f}) | {a['total'] / lab['total']:.1f}x | "
              f"{lab['total'] / b['total']:.2f} | {lab['rss'] / 1024:.0f} MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
