"""Run every benchmark (bench/bench_*.py) in turn inside the sandbox and print their figures.

Usage: make bench [BENCH_ARGS="inspect lab"]   (names select benchmarks; default: all but soak)
       make bench BENCH_ARGS="scale lab --long"   (--long: the long sizes, e.g. 10,000 namespaces)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SKIP = {"soak"}


def main(argv: list[str]) -> int:
    """Run the selected benchmarks; exit non-zero if one fails."""
    scripts = sorted(HERE.glob("bench_*.py"))
    wanted = {a for a in argv if not a.startswith("-")}
    env = dict(os.environ, VNETCTL_BENCH_LONG="1") if "--long" in argv else None
    failed = []
    for script in scripts:
        name = script.stem[len("bench_"):]
        if (wanted and name not in wanted) or (not wanted and name in DEFAULT_SKIP):
            continue
        print(f"\n=== bench {name} ===", flush=True)
        start = time.monotonic()
        rc = subprocess.call([sys.executable, str(script)], env=env)
        print(f"=== bench {name}: exit {rc} in {time.monotonic() - start:.1f} s ===", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
