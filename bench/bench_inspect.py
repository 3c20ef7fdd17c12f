"""Benchmark `vnetctl inspect --json` on hosts of many namespaces in several topologies, against `ip -all`.

Run inside the sandbox (it builds the hosts with one `ip -batch` each, tests/topologies.py):
    tests/sandbox.sh .venv/bin/python bench/bench_inspect.py [--sizes 1000] [--long] [--kinds star,ring]
        [--repeat 3] [--articles]

Topologies: star (every peer on bridge br0 here), ring (nsI <-> nsI+1), mesh (full meshes of
30), tree (fan-out 4), router (one namespace with 200 ports, the other hosts hanging off
those). In each, 2% of the namespaces are unnamed: half held only by a sleeping process,
half only by a bind mount. Timed, as whole processes with interpreter start-up:
  - vnetctl inspect --json (every namespace, drivers, peers, holders), median of --repeat;
  - `ip -all netns exec ip -j -d link show` (named namespaces only, once);
  - with --baseline DIR, the vnetctl of another checkout, run from DIR, in rounds with the two above (`python -m` puts the
    working directory first on sys.path, so PYTHONPATH alone would import this tree's vnetctl);
  - with --articles, for the star: the articles' shell loop of `ip netns exec NS ethtool -S eth0`
    plus the `ip a | grep '^IDX:'` lookup of the peer's name.
--long (or BENCH_LONG=1 in the environment: `make bench BENCH_ARGS=inspect BENCH_LONG=1`) adds 3000
namespaces to the sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import topologies  # noqa: E402

VNETCTL = [sys.executable, "-m", "vnetctl"]
IP_ALL = ["ip", "-all", "netns", "exec", "ip", "-j", "-d", "link", "show"]
ARTICLES_LOOP = r"""
for ns in $(ip netns list | cut -d' ' -f1); do
    idx=$(ip netns exec "$ns" ethtool -S eth0 | awk '/peer_ifindex/ {print $2}')
    ip a | grep "^$idx:" >/dev/null
done
"""


def timed(cmd: list[str], repeat: int, env: dict[str, str] | None = None, cwd: str | None = None) -> tuple[float, float, str]:
    """Median wall time and CPU time (user+sys) of cmd over `repeat` runs (in cwd), and its last stdout."""
    times, cpus, out = [], [], ""
    for _ in range(repeat):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=cwd).stdout
        times.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return statistics.median(times), statistics.median(cpus), out


def check(out: str, pairs: list[topologies.Pair], inode: dict[str | None, int]) -> None:
    """The answer must be complete: every veth end built, its peer the one built, in the right namespace."""
    data = json.loads(out)
    devices = {(ns["inode"], d["name"]): d for ns in data["namespaces"] for d in ns["devices"]}
    for a, b in pairs:
        for (ns1, dev1), (ns2, dev2) in ((a, b), (b, a)):
            peer = devices[(inode[ns1], dev1)]["peer"]
            assert peer and (peer["netns_inode"], peer["name"]) == (inode[ns2], dev2), f"{dev1} in {ns1}: {peer}"


def setup(kind: str, n: int) -> tuple[list[topologies.Pair], dict[str | None, int], list[subprocess.Popen[bytes]]]:
    """Build `kind` with n namespaces, 2% of them made unnamed; its pairs, inodes and holder processes."""
    lines, pairs = topologies.KINDS[kind](n)
    t0 = time.monotonic()
    topologies.build(lines)
    named = sorted({ns for pair in pairs for ns, _ in pair if ns})
    inode: dict[str | None, int] = {name: os.stat(f"/run/netns/{name}").st_ino for name in named}
    inode[None] = os.stat("/proc/self/ns/net").st_ino
    k = max(1, n // 100)
    procs = topologies.unname(named[1:1 + k], "process")
    topologies.unname(named[1 + k:1 + 2 * k], "mount")
    print(f"  built {kind} of {n} ({len(pairs)} veth pairs, {k} held by a process, {k} bind-mounted) "
          f"in {time.monotonic() - t0:.1f} s", flush=True)
    return pairs, inode, procs


def interleaved(kind: str, n: int, pairs: list[topologies.Pair], inode: dict[str | None, int], args: argparse.Namespace) -> str:
    """Rounds of vnetctl, the baseline and ip -all, one run each per round (the load moves alike for all three); medians."""
    got: dict[str, list[tuple[float, float]]] = {"ours": [], "base": [], "ip": []}
    for _ in range(args.repeat):
        for name, cmd, cwd in (("ours", VNETCTL + ["inspect", "--json"], None),
                               ("base", VNETCTL + ["inspect", "--json"], args.baseline), ("ip", IP_ALL, None)):
            wall, cpu, out = timed(cmd, 1, cwd=cwd)
            if name != "ip":
                check(out, pairs, inode)
            got[name].append((wall, cpu))
    (ours, cpu), (base, base_cpu), (all_ip, ip_cpu) = (
        (statistics.median(w for w, _ in got[k]), statistics.median(c for _, c in got[k])) for k in ("ours", "base", "ip"))
    return (f"| {kind} | {n} | {len(pairs)} | {ours * 1000:.0f} ms | {cpu * 1000:.0f} ms | "
            f"{all_ip * 1000:.0f} ms | {ip_cpu * 1000:.0f} ms | **{all_ip / ours:.1f}x** | "
            f"{base * 1000:.0f} ms, CPU {base_cpu * 1000:.0f} ms, ip -all / base **{all_ip / base:.1f}x** "
            f"(vnetctl / base {ours / base:.2f}) | {os.getloadavg()[0]:.1f} |")


def measure(kind: str, n: int, pairs: list[topologies.Pair], inode: dict[str | None, int], args: argparse.Namespace) -> str:
    """Time vnetctl (checking its answer) and ip -all (and the baseline, the articles' loop) on the built host; a table row."""
    if args.baseline and n <= 1000:  # the quadratic baseline takes minutes at 3000
        return interleaved(kind, n, pairs, inode, args)
    ours, cpu, out = timed(VNETCTL + ["inspect", "--json"], args.repeat)
    check(out, pairs, inode)
    all_ip, ip_cpu, _ = timed(IP_ALL, 1)
    row = (f"| {kind} | {n} | {len(pairs)} | {ours * 1000:.0f} ms | {cpu * 1000:.0f} ms | "
           f"{all_ip * 1000:.0f} ms | {ip_cpu * 1000:.0f} ms | **{all_ip / ours:.1f}x** |")
    if args.baseline:
        row += " |"
    if args.articles and kind == "star":
        loop, _, _ = timed(["sh", "-c", ARTICLES_LOOP], 1)
        row += f" articles' loop {loop * 1000:.0f} ms ({loop / ours:.0f}x) |"
    return row + f" {os.getloadavg()[0]:.1f} |"


def main() -> None:
    """Build each topology at each size, time both ways, print a table row each."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000")
    ap.add_argument("--long", action="store_true", default=os.environ.get("BENCH_LONG") == "1",
                    help="add 3000 namespaces (also BENCH_LONG=1, as in `make bench BENCH_ARGS=inspect BENCH_LONG=1`)")
    ap.add_argument("--kinds", default="ring,star,tree,router,mesh")
    ap.add_argument("--long-kinds", default="ring,star", help="the topologies built at 3000 (--long)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", metavar="DIR", help="also time the vnetctl of another checkout (e.g. before a change)")
    ap.add_argument("--articles", action="store_true", help="also time the articles' shell loop (star only, slow)")
    args = ap.parse_args()
    if os.environ.get("VNETCTL_SANDBOX") != "1":
        sys.exit("run me inside tests/sandbox.sh: I create namespaces")
    plan = [(n, kind) for n in (int(s) for s in args.sizes.split(",")) for kind in args.kinds.split(",")]
    plan += [(3000, kind) for kind in args.long_kinds.split(",")] if args.long else []
    print(f"kernel {os.uname().release}, python {sys.version.split()[0]}, {os.cpu_count()} cpus; "
          f"load average {os.getloadavg()[0]:.2f}")
    rows = []
    for n, kind in plan:
        topologies.reset()
        pairs, inode, procs = setup(kind, n)
        try:
            rows.append(measure(kind, n, pairs, inode, args))
            print(rows[-1], flush=True)
        finally:
            topologies.reset(procs)
    print("\n| topology | namespaces | veth pairs | `vnetctl inspect --json` | CPU | `ip -all netns exec ip -j -d link show` "
          "| CPU | ip -all / vnetctl |" + (" baseline (--baseline) |" if args.baseline else "") + " load |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if args.baseline else "") + " ---: |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
