"""Interleaved `lab up` + `lab down` of one shipped lab with the vnetctl of several trees (e.g. before and after a change).

Run inside the sandbox, from this tree:
    tests/sandbox.sh nice .venv/bin/python bench/bench_lab_trees.py star 100 5 /tmp/vnetctl-before /tmp/vnetctl-mid .

Each round runs every tree once, in order: `python -m vnetctl lab up labs/LAB.yaml --set hosts=N` and
`lab down LAB` from that tree's directory (so its package is the one imported) with this tree's lab
file, `down` timed until the sandbox is clean. Prints medians and ratios to the first tree.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], cwd: str) -> float:
    """Seconds cmd takes, run in cwd."""
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.monotonic() - t0


def wait_clean() -> None:
    """Until only lo is left and no namespace is named (veth ends vanish asynchronously)."""
    while len(subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines()) > 1 \
            or os.listdir("/run/netns"):
        time.sleep(0.02)


def main() -> int:
    """Time every tree in rounds; print medians and ratios to the first."""
    if len(sys.argv) < 5 or os.environ.get("VNETCTL_SANDBOX") != "1":
        print(__doc__, file=sys.stderr)
        return 2
    lab, n, rounds, trees = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    vnetctl = [sys.executable, "-m", "vnetctl"]
    got: dict[str, dict[str, list[float]]] = {t: {"up": [], "down": []} for t in trees}
    for _ in range(rounds):
        for t in trees:
            got[t]["up"].append(timed(vnetctl + ["lab", "up", str(ROOT / "labs" / f"{lab}.yaml"), "--set", f"hosts={n}"], t))
            t0 = time.monotonic()
            timed(vnetctl + ["lab", "down", lab], t)
            wait_clean()
            got[t]["down"].append(time.monotonic() - t0)
    med = {t: {k: statistics.median(v) for k, v in got[t].items()} for t in trees}
    first = med[trees[0]]
    for t in trees:
        m = med[t]
        print(f"{lab} {n} {t}: up {m['up']:.2f} s  down {m['down']:.2f} s  / first: up {m['up'] / first['up']:.2f} "
              f"down {m['down'] / first['down']:.2f} up+down {(m['up'] + m['down']) / (first['up'] + first['down']):.2f}"
              f"  load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
