"""What owner resolution costs: `vnetctl inspect --json` with and without owners, at 100 and 1000 namespaces.

Run inside the sandbox (it builds namespaces and processes):
    tests/sandbox.sh .venv/bin/python bench/bench_owners.py [--sizes 100,1000] [--repeat 5]

The star of tests/topologies.py (n namespaces sI, each eth0's peer a port of a bridge here),
and in each namespace a container-like process: a `sleep` whose parent's command line is conmon's
(`conmon -c ID -n cN -b ROOT/overlay-containers/ID/userdata`), so every namespace is resolved
through its cgroup, its command line, its supervisor and a (missing) podman store — the
longest path a namespace without a runtime cgroup takes. The two variants are timed in
alternation in the same run; the ratio is the figure (the budget: at most 1.30).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import topologies  # noqa: E402

VNETCTL = [sys.executable, "-m", "vnetctl"]


def containers(n: int) -> list[subprocess.Popen[bytes]]:
    """One conmon-named supervisor per namespace, its child sleeping inside namespace sI."""
    script = Path(tempfile.mkdtemp()) / "supervise.sh"
    script.write_text('ip netns exec "$NS" sleep 100000\n')
    procs = []
    for i in range(n):
        cid = f"{i:064x}"
        procs.append(subprocess.Popen(["conmon", str(script), "--api-version", "1", "-c", cid, "-n", f"c{i}", "-b",
                                       f"/nonexistent/overlay-containers/{cid}/userdata"],
                                      executable="/bin/sh", env=dict(os.environ, NS=f"s{i}"), start_new_session=True))
    wanted = {os.stat(f"/run/netns/s{i}").st_ino for i in range(n)}
    deadline = time.monotonic() + 120
    while not wanted <= _entered():
        if time.monotonic() > deadline:
            sys.exit("the container-like processes did not start")
        time.sleep(0.2)
    return procs


def _entered() -> set[int]:
    """The network namespaces some process is in (one pass over /proc)."""
    out = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            out.add(os.stat(f"/proc/{pid}/ns/net").st_ino)
        except OSError:
            continue
    return out


def once(cmd: list[str]) -> tuple[float, str, float]:
    """(wall seconds, stdout, CPU seconds: user+sys of the process) of one whole run."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, out, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


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
        topologies.reset()
        topologies.build(topologies.star(n)[0])
        procs = containers(n)
        try:
            with_o, without, cpu_o, cpu = [], [], [], []
            out = ""
            for _ in range(args.repeat):
                t, out, c = once(VNETCTL + ["inspect", "--json"])
                with_o.append(t)
                cpu_o.append(c)
                t, _, c = once(VNETCTL + ["inspect", "--json", "--no-owners"])
                without.append(t)
                cpu.append(c)
            named = sum(1 for ns in json.loads(out)["namespaces"]
                        if any(o["runtime"] == "podman" and o["name"] == f"c{ns['name'][1:]}" for o in ns["owners"]))
            assert named == n, f"{named} of {n} namespaces resolved to their container"
            a, b = statistics.median(with_o), statistics.median(without)
            ca, cb = statistics.median(cpu_o), statistics.median(cpu)
            print(f"\n{n} namespaces, each with a conmon-supervised process; load average {os.getloadavg()[0]:.2f}")
            print(f"  vnetctl inspect --json --no-owners  {b * 1000:8.0f} ms  CPU {cb * 1000:6.0f} ms  (medians of {args.repeat})")
            print(f"  vnetctl inspect --json              {a * 1000:8.0f} ms  CPU {ca * 1000:6.0f} ms  -> owners add "
                  f"{(a / b - 1) * 100:4.0f}% wall (ratio {a / b:.2f}), {(ca / cb - 1) * 100:4.0f}% CPU (ratio {ca / cb:.2f})")
        finally:
            for p in procs:
                os.killpg(p.pid, signal.SIGKILL)  # the supervisor and its sleeping child
            for p in procs:
                p.wait()
    topologies.reset()


if __name__ == "__main__":
    main()
