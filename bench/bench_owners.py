"""What owner resolution costs: `vnetctl inspect --json` with and without owners, at 100 and 1000 namespaces.

Run inside the sandbox (it builds namespaces and processes):
    tests/sandbox.sh .venv/bin/python bench/bench_owners.py [--sizes 100,1000] [--repeat 5]

The host of bench_inspect (n namespaces, each with a veth to bridge br0 here), and in each
namespace a container-like process: a `sleep` whose parent's command line is conmon's
(`conmon -c ID -n cN -b ROOT/overlay-containers/ID/userdata`), so every namespace is resolved
through its cgroup, its command line, its supervisor and a (missing) podman store — the
longest path a namespace without a runtime cgroup takes. The two variants are timed in
alternation in the same run; the ratio is the figure (the budget: at most 1.30).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_inspect import VNETCTL, build, reset  # noqa: E402


def containers(n: int) -> list[subprocess.Popen[bytes]]:
    """One conmon-named supervisor per namespace, its child sleeping inside namespace nsI."""
    script = Path(tempfile.mkdtemp()) / "supervise.sh"
    script.write_text('ip netns exec "$NS" sleep 100000\n')
    procs = []
    for i in range(n):
        cid = f"{i:064x}"
        procs.append(subprocess.Popen(["conmon", str(script), "--api-version", "1", "-c", cid, "-n", f"c{i}", "-b",
                                       f"/nonexistent/overlay-containers/{cid}/userdata"],
                                      executable="/bin/sh", env=dict(os.environ, NS=f"ns{i}"), start_new_session=True))
    deadline = time.monotonic() + 120
    while sum(1 for i in range(n) if _has_pid(f"ns{i}")) < n:
        if time.monotonic() > deadline:
            sys.exit("the container-like processes did not start")
        time.sleep(0.2)
    return procs


def _has_pid(ns: str) -> bool:
    return bool(subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.strip())


def once(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t0, out


def main() -> None:
    """Build each size, time inspect with and without owners in alternation, print the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if os.environ.get("VNETCTL_SANDBOX") != "1":
        sys.exit("run me inside tests/sandbox.sh: I create namespaces")
    print(f"kernel {os.uname().release}, python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    for n in (int(s) for s in args.sizes.split(",")):
        reset()
        build(n)
        procs = containers(n)
        try:
            with_o, without = [], []
            out = ""
            for _ in range(args.repeat):
                t, out = once(VNETCTL + ["inspect", "--json"])
                with_o.append(t)
                without.append(once(VNETCTL + ["inspect", "--json", "--no-owners"])[0])
            named = sum(1 for ns in json.loads(out)["namespaces"]
                        if any(o["runtime"] == "podman" and o["name"] == f"c{ns['name'][2:]}" for o in ns["owners"]))
            assert named == n, f"{named} of {n} namespaces resolved to their container"
            a, b = statistics.median(with_o), statistics.median(without)
            print(f"\n{n} namespaces, each with a conmon-supervised process; load average {os.getloadavg()[0]:.2f}")
            print(f"  vnetctl inspect --json --no-owners  {b * 1000:8.0f} ms  (median of {args.repeat})")
            print(f"  vnetctl inspect --json              {a * 1000:8.0f} ms  -> owners add {(a / b - 1) * 100:4.0f}% "
                  f"(ratio {a / b:.2f})")
        finally:
            for p in procs:
                os.killpg(p.pid, signal.SIGKILL)  # the supervisor and its sleeping child
            for p in procs:
                p.wait()
    reset()


if __name__ == "__main__":
    main()
