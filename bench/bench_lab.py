"""Benchmark: `vnetctl lab up` + `lab down` of the star or ring lab against the shell ways of doing it.

Run inside the sandbox (it creates and removes N namespaces itself):

    tests/sandbox.sh .venv/bin/python bench/bench_lab.py [--lab star,ring] [--sizes 100,1000] [--repeat 3]
    make bench BENCH_ARGS="lab --long"     # sizes 1000,3000

The star (labs/star.yaml) puts every veth's peer in the current namespace, on a bridge; the
ring (labs/ring.yaml) joins namespace i to namespace i+1, so both ends of every veth sit in
lab namespaces and each namespace holds two of them.

Variants, all in one run and interleaved, each timed as whole processes (interpreter
start-up included) until the lab is usable (up) or completely gone (down):

  (a) the articles' way: one `ip`/`brctl` command per action, from a shell script
      (ip link add ... peer, ip link set PEER netns NS, brctl addif, ip netns exec NS ip ...);
  (b) the fastest hand-written form: one root `ip -batch` file, then one
      `ip -n NS -batch` per namespace for what happens inside it;
  lab: `vnetctl lab up labs/LAB.yaml --set hosts=N` and `vnetctl lab down LAB`
       (journaled, ownership-marked, transactional).
(a) is run for the star up to 1000 namespaces only (--articles for the rest).
With --baseline DIR, a fourth variant "base" runs the vnetctl of another checkout (e.g. `git archive
REV vnetctl | tar -x -C DIR`) the same way, interleaved with the others, from DIR (so that its
package, not this one, is the one `python -m vnetctl` imports), with this tree's lab files.

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


def ring_addr(k: int) -> str:
    """Address k of the ring: link i has 2i (e1 in r{i}) and 2i+1 (e0 in r{i+1}), as labs/ring.yaml computes it."""
    return f"10.100.{k // 256}.{k % 256}"


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


def ring_a(n: int) -> tuple[str, str]:
    """The articles' per-command scripts for the ring (up, down)."""
    up = ["set -e"] + [f"ip netns add r{i}" for i in range(n)]
    for i in range(n):
        j = (i + 1) % n
        up += [f"ip link add e1 netns r{i} type veth peer name e0 netns r{j}",
               f"ip netns exec r{i} ip addr add {ring_addr(2 * i)}/31 dev e1", f"ip netns exec r{i} ip link set e1 up",
               f"ip netns exec r{j} ip addr add {ring_addr(2 * i + 1)}/31 dev e0", f"ip netns exec r{j} ip link set e0 up"]
    return "\n".join(up) + "\n", "".join(f"ip netns del r{i}\n" for i in range(n))


def ring_b(n: int, d: str) -> tuple[list[list[str]], list[list[str]]]:
    """The ring by hand: one root batch (namespaces, then each veth with both ends placed), one batch per namespace."""
    root = [f"netns add r{i}" for i in range(n)]
    root += [f"link add e1 netns r{i} type veth peer name e0 netns r{(i + 1) % n}" for i in range(n)]
    Path(d, "root").write_text("\n".join(root) + "\n")
    up = [["ip", "-batch", f"{d}/root"]]
    for i in range(n):
        prev = (i - 1) % n
        Path(d, f"ns{i}").write_text(f"addr add {ring_addr(2 * i)}/31 dev e1\naddr add {ring_addr(2 * prev + 1)}/31 dev e0\n"
                                     "link set e1 up\nlink set e0 up\n")
        up.append(["ip", "-n", f"r{i}", "-batch", f"{d}/ns{i}"])
    Path(d, "down").write_text("".join(f"netns del r{i}\n" for i in range(n)))
    return up, [["ip", "-batch", f"{d}/down"]]


def run(cmds: list[list[str]], cwd: Path = ROOT) -> tuple[float, int]:
    """Run commands one after the other in cwd; (seconds, peak RSS in KiB of the largest)."""
    t0 = time.monotonic()
    peak = 0
    for cmd in cmds:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
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


def verify(lab: str, n: int) -> None:
    """The lab is usable: N namespaces, and the first host reaches the last (the ring: its next and its last)."""
    got = len(os.listdir("/run/netns"))
    if got != n:
        raise SystemExit(f"expected {n} namespaces, found {got}")
    pings = [("h0", addr(n - 1))] if lab == "star" else [("r0", ring_addr(1)), ("r0", ring_addr(2 * n - 2))]
    for ns, to in pings:
        ping = subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "5", to], capture_output=True)
        if ping.returncode != 0:
            raise SystemExit(f"{ns} cannot ping {to}")


def variant(lab: str, name: str, n: int, d: str, baseline: str | None = None) -> dict[str, float]:
    """One up + down of one variant."""
    cwd = ROOT
    if name == "a":
        up_sh, down_sh = script_a(n) if lab == "star" else ring_a(n)
        Path(d, "a-up.sh").write_text(up_sh)
        Path(d, "a-down.sh").write_text(down_sh)
        up_cmds, down_cmds = [["sh", f"{d}/a-up.sh"]], [["sh", f"{d}/a-down.sh"]]
    elif name == "b":
        up_cmds, down_cmds = batch_b(n, d) if lab == "star" else ring_b(n, d)
    else:
        up_cmds = [VNETCTL + ["lab", "up", str(ROOT / "labs" / f"{lab}.yaml"), "--set", f"hosts={n}"]]
        down_cmds = [VNETCTL + ["lab", "down", lab]]
        cwd = Path(baseline) if name == "base" and baseline else ROOT
    up_s, rss = run(up_cmds, cwd)
    verify(lab, n)
    down_s, _ = run(down_cmds, cwd)
    down_s += wait_clean()
    return {"up": up_s, "down": down_s, "total": up_s + down_s, "rss": rss}


def one_size(lab_name: str, n: int, args: argparse.Namespace) -> tuple[dict[str, dict[str, float]], float, float]:
    """Every variant at one size, interleaved; (medians, load low, load high)."""
    reps = args.repeat if n <= 100 else 1
    names = ("lab", "b", "a") if (lab_name == "star" and n <= 1000) or args.articles else ("lab", "b")
    names += ("base",) if args.baseline else ()
    got: dict[str, list[dict[str, float]]] = {k: [] for k in names}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as d:
        for _ in range(reps):
            for name in names:
                got[name].append(variant(lab_name, name, n, d, args.baseline))
                load.append(os.getloadavg()[0])
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in got.items()}
    lab, b = med["lab"], med["b"]
    print(f"{lab_name} N={n} (median of {reps}, load average {min(load):.1f}-{max(load):.1f})")
    for k in names:
        m = med[k]
        print(f"  {k:>3}: up {m['up']:7.2f} s  down {m['down']:6.2f} s  up+down {m['total']:7.2f} s"
              + (f"  peak RSS {m['rss'] / 1024:.0f} MiB" if k in ("lab", "base") else ""))
    if "a" in med:
        a = med["a"]
        print(f"  (a)/lab up+down {a['total'] / lab['total']:.1f}x (up {a['up'] / lab['up']:.1f}x)")
    print(f"  lab/(b) up+down {lab['total'] / b['total']:.2f} (up {lab['up'] / b['up']:.2f})", flush=True)
    if "base" in med:
        base = med["base"]
        print(f"  base/(b) up+down {base['total'] / b['total']:.2f} (up {base['up'] / b['up']:.2f}); "
              f"lab/base up+down {lab['total'] / base['total']:.2f}", flush=True)
    return med, min(load), max(load)


def main() -> int:
    """Run every variant at every size and print the figures and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lab", default="star,ring", help="star, ring or both (comma-separated)")
    ap.add_argument("--articles", action="store_true", help="run (a) for the ring and above 1000 too (~45 s per 1000)")
    ap.add_argument("--sizes", default="1000,3000" if os.environ.get("VNETCTL_BENCH_LONG") == "1" else "100,1000")
    ap.add_argument("--repeat", type=int, default=3, help="runs per variant at sizes up to 100 (1 above)")
    ap.add_argument("--baseline", metavar="DIR", help="also run the vnetctl of another checkout (e.g. before a change)")
    args = ap.parse_args()
    if os.environ.get("VNETCTL_SANDBOX") != "1":
        print("run inside the sandbox: tests/sandbox.sh .venv/bin/python bench/bench_lab.py", file=sys.stderr)
        return 2
    wait_clean()
    rows = []
    for lab_name in args.lab.split(","):
        for n in (int(x) for x in args.sizes.split(",")):
            rows.append((lab_name, n, *one_size(lab_name, n, args)))
    print("\n| lab | N | lab up | lab down | lab up+down | (b) ip -batch up+down | lab/(b) up | lab/(b) up+down "
          "| (a) per-command up+down | (a)/lab | lab peak RSS | load |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for lab_name, n, med, lo, hi in rows:
        lab, b = med["lab"], med["b"]
        a = med.get("a")
        arts = f"{a['total']:.2f} s (up {a['up']:.2f}) | {a['total'] / lab['total']:.1f}x" if a else "— | —"
        print(f"| {lab_name} | {n} | {lab['up']:.2f} s | {lab['down']:.2f} s | {lab['total']:.2f} s | {b['total']:.2f} s "
              f"(up {b['up']:.2f}) | **{lab['up'] / b['up']:.2f}** | {lab['total'] / b['total']:.2f} | {arts} | "
              f"{lab['rss'] / 1024:.0f} MiB | {lo:.1f}–{hi:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
