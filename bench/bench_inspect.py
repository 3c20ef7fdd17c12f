"""Benchmark `vnetctl inspect --json` against the articles' way on hosts of 100 and 1000 namespaces.

Run inside the sandbox (it builds namespaces):
    tests/sandbox.sh .venv/bin/python bench/bench_inspect.py [--sizes 100,1000] [--repeat 5]

Each namespace gets a veth whose other end is a port of bridge br0 in the current
namespace. Timed, as whole processes with interpreter start-up:
  - vnetctl inspect --json (every namespace, drivers, peers, holders);
  - the articles' way: a shell loop of `ip netns exec NS ethtool -S eth0` (peer_ifindex)
    plus the `ip a | grep '^IDX:'` lookup of the peer's name (and the loop without the lookup);
  - `ip -all netns exec ip -j -d link show`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

VNETCTL = [sys.executable, "-m", "vnetctl"]
ETHTOOL_ONLY_LOOP = r"""
for ns in $(ip netns list | cut -d' ' -f1); do
    ip netns exec "$ns" ethtool -S eth0 | awk '/peer_ifindex/ {print $2}' >/dev/null
done
"""
ARTICLES_LOOP = r"""
for ns in $(ip netns list | cut -d' ' -f1); do
    idx=$(ip netns exec "$ns" ethtool -S eth0 | awk '/peer_ifindex/ {print $2}')
    ip a | grep "^$idx:" >/dev/null
done
"""


def sh(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    """Run a command, failing loudly."""
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload]


def reset() -> None:
    """Delete every namespace and device the previous size made."""
    subprocess.run(["ip", "-all", "netns", "delete"], capture_output=True)
    subprocess.run(["ip", "link", "del", "br0"], capture_output=True)
    deadline = time.monotonic() + 60
    # veth ends here go away asynchronously after their namespaces are deleted
    while len(sh(["ip", "-o", "link", "show"]).stdout.splitlines()) > 1:
        if time.monotonic() > deadline:
            sys.exit("devices of the previous size did not go away")
        time.sleep(0.1)


def build(n: int) -> None:
    """n namespaces ns0..ns(n-1), each with eth0 whose peer vhN is a port of br0 here."""
    lines = ["link add br0 type bridge", "link set br0 up"]
    for i in range(n):
        lines += [f"netns add ns{i}",
                  f"link add vh{i} type veth peer name eth0 netns ns{i}",
                  f"link set vh{i} master br0 up"]
    with tempfile.NamedTemporaryFile("w", suffix=".ip", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    try:
        sh(["ip", "-batch", f.name])
    finally:
        os.unlink(f.name)
    for i in range(n):  # a batch file cannot switch namespace: one `ip -n` per namespace
        sh(["ip", "-n", f"ns{i}", "-batch", "-"],
           input=f"link set eth0 up\naddr add 10.{i // 250}.{i % 250}.2/24 dev eth0\n")


CPU: dict[str, float] = {}


def timed(cmd: list[str], repeat: int) -> tuple[float, str]:
    """Median wall time of cmd over `repeat` runs, and its last stdout (median CPU time kept in CPU)."""
    times, cpus, out = [], [], ""
    for _ in range(repeat):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = sh(cmd).stdout
        times.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    CPU[" ".join(cmd)] = statistics.median(cpus)
    return statistics.median(times), out


def check(out: str, n: int) -> None:
    """The answer must be complete: every namespace, every peer resolved to its namespace."""
    data = json.loads(out)
    spaces = data["namespaces"]
    names = {ns["name"] for ns in spaces}
    assert all(f"ns{i}" in names for i in range(n)), "namespaces missing"
    by_inode = {ns["inode"]: ns for ns in spaces}
    peers = 0
    for ns in spaces:
        for d in ns["devices"]:
            if d["kind"] == "veth":
                p = d["peer"]
                assert p and p["netns_inode"] in by_inode, f"unresolved peer of {d['name']} in {ns['name']}"
                other = next(x for x in by_inode[p["netns_inode"]]["devices"] if x["ifindex"] == p["ifindex"])
                assert other["name"] == p["name"] and other["driver"] == "veth"
                peers += 1
    assert peers == 2 * n, f"{peers} veth ends resolved, expected {2 * n}"


def main() -> None:
    """Build each size, time the three ways, print figures and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-articles", action="store_true", help="skip the slow shell loop")
    args = ap.parse_args()
    if os.environ.get("VNETCTL_SANDBOX") != "1":
        sys.exit("run me inside tests/sandbox.sh: I create namespaces")
    print(f"kernel {os.uname().release}, python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    startup, _ = timed([sys.executable, "-c", "pass"], args.repeat)
    print(f"python start-up alone: {startup * 1000:.0f} ms; load average {os.getloadavg()[0]:.2f}")
    for n in (int(s) for s in args.sizes.split(",")):
        reset()
        build(n)
        ours, out = timed(VNETCTL + ["inspect", "--json"], args.repeat)
        check(out, n)
        all_ip, _ = timed(["ip", "-all", "netns", "exec", "ip", "-j", "-d", "link", "show"], 1 if n > 100 else 3)
        print(f"\n{n} namespaces (+ bridge br0 with {n} ports here); load average {os.getloadavg()[0]:.2f}")
        cpu = CPU[" ".join(VNETCTL + ["inspect", "--json"])]
        print(f"  vnetctl inspect --json              {ours * 1000:8.0f} ms  (median of {args.repeat}; "
              f"CPU user+sys {cpu * 1000:.0f} ms)")
        print(f"  ip -all netns exec ip -j -d link    {all_ip * 1000:8.0f} ms  -> vnetctl is {all_ip / ours:5.1f}x faster")
        if not args.skip_articles:
            loop, _ = timed(["sh", "-c", ARTICLES_LOOP], 1)
            print(f"  shell loop: ethtool -S + ip a grep  {loop * 1000:8.0f} ms  -> vnetctl is {loop / ours:5.1f}x faster")
            bare, _ = timed(["sh", "-c", ETHTOOL_ONLY_LOOP], 1)
            print(f"  shell loop: ethtool -S alone        {bare * 1000:8.0f} ms  -> vnetctl is {bare / ours:5.1f}x faster")
    reset()


if __name__ == "__main__":
    main()
