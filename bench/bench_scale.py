"""Benchmark: every lab command on labs of thousands of namespaces (ring and tree), time and peak RSS.

Run inside the sandbox (it brings the labs up and down itself):

    tests/sandbox.sh .venv/bin/python bench/bench_scale.py [--labs ring,tree] [--sizes 1000,3000] [--nofile 1024]
    make bench BENCH_ARGS="scale --long"        # sizes 3000,10000

For each lab and size, in one run: `lab up FILE --set hosts=N`, `inspect --json`,
`lab status NAME`, `lab status FILE`, `lab check FILE` and `lab down NAME`, each a whole
process (interpreter start-up included) under `ulimit -n NOFILE` (1024, the usual default:
no limit is raised), with its own peak RSS. Checked, not assumed: inspect sees every namespace and no warning,
status reports no drift, every check passes, and afterwards `ip netns list` is empty and
`ip -j link` shows only lo. The growth column divides the time at the largest size by the
time at the one before it (linear: the ratio of the sizes). With --ip-down the lab is brought up
once more and deleted by one `ip -batch` (`netns del` of each namespace, `link del` of each
device here), timed the same way: the kernel's share of `lab down`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VNETCTL = [sys.executable, "-m", "vnetctl"]
COMMANDS = ("up", "inspect", "status NAME", "status FILE", "check", "down", "ip down")


# Linux keeps a process's peak RSS across exec, and a forked child starts with its parent's pages:
# a command started straight from this process (which holds a 10,000-namespace inspect) would
# report at least this process's size. This small launcher forks the command and reports its wall
# time and its own peak RSS (KiB) on the descriptor it is given.
LAUNCHER = """
import os, resource, sys, time
nofile, report, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    os.close(report)
    os.execvp(argv[0], argv)
_, status, usage = os.wait4(pid, 0)
os.write(report, f"{time.monotonic() - t0} {usage.ru_maxrss}".encode())
sys.exit(os.waitstatus_to_exitcode(status))
"""


def timed(argv: list[str], nofile: int) -> tuple[float, int, str]:
    """Run one command under `ulimit -n nofile`: (seconds, its peak RSS in KiB, stdout); exit on failure."""
    r, w = os.pipe()
    try:
        done = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, str(nofile), str(w), *argv], cwd=ROOT,
                              capture_output=True, pass_fds=(w,))
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as f:
        report = f.read().split()
    if done.returncode != 0 or len(report) != 2:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(argv[2:7])}: {done.stderr.decode()[-800:]}")
    return float(report[0]), int(report[1]), done.stdout.decode()


def clean() -> None:
    """Fail unless the sandbox holds no namespace and no device but lo (waiting for asynchronous removals)."""
    deadline = time.monotonic() + 120
    while True:
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
        links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout)
        if not names and [lk["ifname"] for lk in links] == ["lo"]:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"left behind: {len(names)} namespaces, {len(links)} devices")
        time.sleep(0.1)


def one(lab: str, n: int, nofile: int, skip: set[str], ip_down: bool) -> dict[str, tuple[float, int]]:
    """Every command once on lab of n namespaces; verified; the sandbox is clean afterwards."""
    f, sets = f"labs/{lab}.yaml", ["--set", f"hosts={n}"]
    got: dict[str, tuple[float, int]] = {}
    s, rss, _ = timed(VNETCTL + ["lab", "up", f, *sets], nofile)
    got["up"] = (s, rss)
    if "inspect" not in skip:
        s, rss, out = timed(VNETCTL + ["inspect", "--json"], nofile)
        view = json.loads(out)
        seen = sum(1 for ns in view["namespaces"] if ns.get("name"))
        named = len(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines())
        if seen != named or named < n or view["warnings"]:
            raise SystemExit(f"inspect saw {seen} of {named} namespaces; warnings {view['warnings'][:3]}")
        got["inspect"] = (s, rss)
    for key, target in (("status NAME", [lab]), ("status FILE", [f, *sets])):
        s, rss, out = timed(VNETCTL + ["lab", "status", *target, "--json"], nofile)
        st = json.loads(out)[0]
        if st["status"] != "up" or st["drift"] or st["file_drift"]:
            raise SystemExit(f"status: {st['status']}, drift {st['drift'][:3]}, file drift {st['file_drift']}")
        got[key] = (s, rss)
    got["check"] = timed(VNETCTL + ["lab", "check", f, *sets], nofile)[:2]
    got["down"] = timed(VNETCTL + ["lab", "down", lab], nofile)[:2]
    clean()
    if ip_down:
        timed(VNETCTL + ["lab", "up", f, *sets], nofile)
        got["ip down"] = ip_batch_down(nofile)
        subprocess.run(VNETCTL + ["cleanup", "--all"], cwd=ROOT, check=True, capture_output=True)
        clean()
    return got


def ip_batch_down(nofile: int) -> tuple[float, int]:
    """`lab down` by hand, the fastest way: one `ip -batch` deleting every namespace and every device here
    but lo and veths (the kernel removes a veth with its peer's namespace), as `lab down` leaves them."""
    links = json.loads(subprocess.run(["ip", "-j", "-d", "link"], capture_output=True, text=True, check=True).stdout)
    lines = [f"netns del {name.split()[0]}" for name in
             subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.splitlines()]
    lines += [f"link del {lk['ifname']}" for lk in links
              if lk["ifname"] != "lo" and lk.get("linkinfo", {}).get("info_kind") != "veth"]
    batch = ROOT / "bench" / ".scale-down.ip"
    batch.write_text("\n".join(lines) + "\n")
    try:
        s, rss, _ = timed(["ip", "-batch", str(batch)], nofile)
    finally:
        batch.unlink()
    return s, rss


def main() -> int:
    """Bring each lab up at each size, run every command, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labs", default="ring,tree")
    ap.add_argument("--sizes", default=None, help="default 1000,3000; with --long 3000,10000")
    ap.add_argument("--long", action="store_true", default=os.environ.get("VNETCTL_BENCH_LONG") == "1",
                    help="the long sizes: 3000,10000 (also VNETCTL_BENCH_LONG=1, set by make bench BENCH_ARGS=--long)")
    ap.add_argument("--nofile", type=int, default=1024, help="ulimit -n of every command")
    ap.add_argument("--skip", default="", help="commands to leave out, e.g. inspect")
    ap.add_argument("--ip-down", action="store_true",
                    help="also bring the lab up again and time `ip -batch` deleting it (the kernel's share of `lab down`)")
    args = ap.parse_args()
    if os.environ.get("VNETCTL_SANDBOX") != "1":
        print("run inside the sandbox: tests/sandbox.sh .venv/bin/python bench/bench_scale.py", file=sys.stderr)
        return 2
    sizes = [int(x) for x in (args.sizes or ("3000,10000" if args.long else "1000,3000")).split(",")]
    clean()
    rows = []
    for lab in args.labs.split(","):
        prev: dict[str, tuple[float, int]] | None = None
        for n in sizes:
            load0 = os.getloadavg()[0]
            got = one(lab, n, args.nofile, set(args.skip.split(",")), args.ip_down)
            load = (load0, os.getloadavg()[0])
            print(f"{lab} N={n} (load {load[0]:.1f}-{load[1]:.1f}): "
                  + ", ".join(f"{k} {got[k][0]:.2f} s {got[k][1] // 1024} MiB" for k in COMMANDS if k in got), flush=True)
            rows.append((lab, n, got, load, prev))
            prev = got
    print(f"\n| lab | N | {' | '.join(COMMANDS)} | growth (time vs previous N) | load |")
    print("| --- | ---: |" + " ---: |" * len(COMMANDS) + " --- | --- |")
    for lab, n, got, load, prev in rows:
        cells = " | ".join(f"{got[k][0]:.2f} s ({got[k][1] // 1024} MiB)" if k in got else "—" for k in COMMANDS)
        growth = "—"
        if prev is not None:
            growth = ", ".join(f"{ {'status NAME': 'status', 'status FILE': 'status F'}.get(k, k)} {got[k][0] / prev[k][0]:.1f}x"
                               for k in COMMANDS if k in got and k in prev)
        print(f"| {lab} | {n} | {cells} | {growth} | {load[0]:.1f}–{load[1]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
