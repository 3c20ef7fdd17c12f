"""Benchmark: a ring lab across hosts — N namespaces over 3 hosts against N/3 on one host.

Run inside the sandbox; the hosts are simulated (tests/simhosts.py: namespaces with their
own sshd, all on this machine):

    tests/sandbox.sh .venv/bin/python bench/bench_multihost.py [--per-host 300] [--repeat 3]

The lab is a ring r0 - r1 - ... - r(N-1) - r0 of veths with a /30 each; with H hosts,
host k holds N/H consecutive namespaces, so H links of the ring cross hosts (VXLAN) and
the rest are plain veths. Timed as whole `vnetctl lab up` / `lab down` processes on the
controller (SSH, the agents' start and every host's part included), interleaved:

  one:   per-host namespaces on h1 alone (through SSH, as any lab with `hosts:`);
  three: 3 x per-host namespaces over h1, h2, h3 (each host brings its part up at once);
  local: per-host namespaces with no `hosts:` at all (the one-host lab, no SSH).

The target of issue 15 is three/one <= 1.3 on separate machines. Simulated hosts share
one kernel — its rtnl lock serialises every device change of all three — and this
machine's CPUs, so here the ratio is an upper bound of what separate machines show.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from simhosts import Hosts  # noqa: E402

VNETCTL = [sys.executable, "-m", "vnetctl"]


def ring(n: int, hosts: int) -> str:
    """The ring lab of n namespaces over `hosts` hosts (0: a one-host lab without `hosts:`)."""
    per = n // max(hosts, 1)
    head = f"name: ring\nparams:\n  n: {n}\n"
    if hosts:
        head += "hosts:\n" + "".join(f"  h{k}: {{ssh: root@192.168.200.{k}}}\n" for k in range(1, hosts + 1))
    place = f', host: "h{{i // {per} + 1}}"' if hosts else ""
    return head + f"""namespaces:
  - {{for: {{var: i, range: n}}, name: "r{{i}}"{place}}}
veths:
  - for: {{var: i, range: n}}
    name: "x{{i}}"
    netns: "r{{i}}"
    addresses: ["10.{{i // 16384}}.{{i // 64 % 256}}.{{i % 64 * 4 + 1}}/30"]
    peer: {{name: "y{{i}}", netns: "r{{(i + 1) % n}}", addresses: ["10.{{i // 16384}}.{{i // 64 % 256}}.{{i % 64 * 4 + 2}}/30"]}}
checks:
  - {{name: r0 pings its ring neighbour r1, ping: {{from: r0, to: 10.0.0.2}}}}
"""


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {out.returncode}: {out.stderr}")
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-host", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vnetctl-bench-"))
    files = {}
    for label, hosts, n in (("one", 1, args.per_host), ("three", 3, 3 * args.per_host), ("local", 0, args.per_host)):
        files[label] = tmp / f"{label}.yaml"
        files[label].write_text(ring(n, hosts))
    hs = Hosts(tmp / "hosts", 3)
    env = hs.env()
    times: dict[str, dict[str, list[float]]] = {k: {"up": [], "down": []} for k in files}
    try:
        for _ in range(args.repeat):
            for label, path in files.items():
                times[label]["up"].append(timed(VNETCTL + ["lab", "up", str(path)], env))
                if subprocess.run(VNETCTL + ["lab", "check", str(path)], capture_output=True, env=env).returncode != 0:
                    raise SystemExit(f"lab check of {label} failed")
                times[label]["down"].append(timed(VNETCTL + ["lab", "down", "ring"], env))
    finally:
        hs.stop()
    med = {k: {op: statistics.median(v) for op, v in t.items()} for k, t in times.items()}
    n = args.per_host
    print(f"ring lab, {args.repeat} runs each, median seconds (whole processes):")
    print(f"  {'':38} {'up':>7} {'down':>7}")
    for label, what in (("local", f"{n} namespaces, one host, no SSH"), ("one", f"{n} namespaces on h1 through SSH"),
                        ("three", f"{3 * n} namespaces over h1, h2, h3")):
        print(f"  {what:38} {med[label]['up']:7.2f} {med[label]['down']:7.2f}")
    print(f"  three / one: up {med['three']['up'] / med['one']['up']:.2f}x, down {med['three']['down'] / med['one']['down']:.2f}x"
          " (target on separate machines: <= 1.3x)")


if __name__ == "__main__":
    main()
