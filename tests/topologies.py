"""Hosts of many namespaces built in one `ip -batch` (tests and bench/bench_inspect.py share them).

Each builder returns the veth pairs it made, ((ns, dev), (ns, dev)) with ns None for the
current namespace, so a reader's answer can be checked against what was built. Devices
are left down and without addresses: these hosts are for reading, not for traffic.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time

Pair = tuple[tuple[str | None, str], tuple[str | None, str]]


def _veth(a: str | None, an: str, b: str | None, bn: str) -> str:
    where_a = f" netns {a}" if a else ""
    where_b = f" netns {b}" if b else ""
    return f"link add {an}{where_a} type veth peer name {bn}{where_b}"


def star(n: int) -> tuple[list[str], list[Pair]]:
    """n namespaces s0..; each eth0's peer vhI is a port of a bridge here (br0, br1... of 1000 ports: a bridge holds 1024)."""
    lines: list[str] = []
    pairs: list[Pair] = []
    for i in range(n):
        if i % 1000 == 0:
            lines.append(f"link add br{i // 1000} type bridge")
        lines += [f"netns add s{i}", _veth(None, f"vh{i}", f"s{i}", "eth0"), f"link set vh{i} master br{i // 1000}"]
        pairs.append(((None, f"vh{i}"), (f"s{i}", "eth0")))
    return lines, pairs


def ring(n: int) -> tuple[list[str], list[Pair]]:
    """n namespaces r0..; east in rI is the peer of west in rI+1 (same names and ifindexes everywhere)."""
    lines = [f"netns add r{i}" for i in range(n)]
    pairs: list[Pair] = []
    for i in range(n):
        j = (i + 1) % n
        lines.append(_veth(f"r{i}", "east", f"r{j}", "west"))
        pairs.append(((f"r{i}", "east"), (f"r{j}", "west")))
    return lines, pairs


def mesh(n: int, size: int = 30) -> tuple[list[str], list[Pair]]:
    """n namespaces m0.. in full meshes of `size`: in each, every two joined by a veth (mI has pJ toward mJ)."""
    lines = [f"netns add m{i}" for i in range(n)]
    pairs: list[Pair] = []
    for i in range(n):
        for j in range(i + 1, min(n, (i // size + 1) * size)):
            lines.append(_veth(f"m{i}", f"p{j}", f"m{j}", f"p{i}"))
            pairs.append(((f"m{i}", f"p{j}"), (f"m{j}", f"p{i}")))
    return lines, pairs


def tree(n: int, fanout: int = 4) -> tuple[list[str], list[Pair]]:
    """n namespaces t0.. in a tree: tI's parent is t((I-1)//fanout); the child has up, the parent dI."""
    lines = [f"netns add t{i}" for i in range(n)]
    pairs: list[Pair] = []
    for i in range(1, n):
        parent = (i - 1) // fanout
        lines.append(_veth(f"t{parent}", f"d{i}", f"t{i}", "up"))
        pairs.append(((f"t{parent}", f"d{i}"), (f"t{i}", "up")))
    return lines, pairs


def router(n: int, ports: int = 200) -> tuple[list[str], list[Pair]]:
    """A router namespace rtr with `ports` veths, one to each of the first hosts h0..; the other hosts
    (n in all) hang off those, hI's eth0 toward h(I mod ports)'s dI."""
    lines = ["netns add rtr"] + [f"netns add h{i}" for i in range(n)]
    pairs: list[Pair] = []
    for i in range(n):
        if i < ports:
            lines.append(_veth("rtr", f"port{i}", f"h{i}", "eth0"))
            pairs.append((("rtr", f"port{i}"), (f"h{i}", "eth0")))
        else:
            lines.append(_veth(f"h{i % ports}", f"d{i}", f"h{i}", "eth0"))
            pairs.append(((f"h{i % ports}", f"d{i}"), (f"h{i}", "eth0")))
    return lines, pairs


KINDS = {"star": star, "ring": ring, "mesh": mesh, "tree": tree, "router": router}


BATCH = 2000  # lines per `ip -batch`: one ip process keeps each namespace it opens for `netns X` open


def build(lines: list[str]) -> None:
    """Run the lines as `ip -batch` runs of BATCH lines in the current namespace."""
    for start in range(0, len(lines), BATCH):
        with tempfile.NamedTemporaryFile("w", suffix=".ip", delete=False) as f:
            f.write("\n".join(lines[start:start + BATCH]) + "\n")
        try:
            done = subprocess.run(["ip", "-batch", f.name], capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"ip -batch failed: {done.stderr.strip()[-500:]}")
        finally:
            os.unlink(f.name)


def unname(names: list[str], how: str, where: str = "/run/vnetctl-bench") -> list[subprocess.Popen[bytes]]:
    """Make named namespaces unnamed: held by a sleeping process ('process') or bind-mounted elsewhere ('mount')."""
    procs = []
    os.makedirs(where, exist_ok=True)
    for name in names:
        if how == "process":
            procs.append(subprocess.Popen(["ip", "netns", "exec", name, "sleep", "infinity"]))
        else:
            path = os.path.join(where, name)
            open(path, "w").close()
            subprocess.run(["mount", "--bind", f"/run/netns/{name}", path], check=True)
    for name, proc in zip(names, procs or [None] * len(names), strict=True):
        if proc is not None:  # wait until the process is inside before the name goes
            deadline = time.monotonic() + 10
            while os.readlink(f"/proc/{proc.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sleep did not enter {name}")
                time.sleep(0.005)
        subprocess.run(["ip", "netns", "delete", name], check=True)
    return procs


def reset(procs: list[subprocess.Popen[bytes]] = (), where: str = "/run/vnetctl-bench") -> None:  # type: ignore[assignment]
    """Remove every namespace, holder, bind mount and device the builders made."""
    for p in procs:
        p.kill()
        p.wait()
    if os.path.isdir(where):
        for name in os.listdir(where):
            subprocess.run(["umount", os.path.join(where, name)], capture_output=True)
            os.unlink(os.path.join(where, name))
    subprocess.run(["ip", "-all", "netns", "delete"], capture_output=True)
    bridges = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True).stdout
    for line in bridges.splitlines():
        subprocess.run(["ip", "link", "del", line.split(":")[1].strip()], capture_output=True)
    deadline = time.monotonic() + 120
    # veth ends here go away asynchronously after their namespaces are deleted
    while len(subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout.splitlines()) > 1:
        if time.monotonic() > deadline:
            raise RuntimeError("devices of the previous host did not go away")
        time.sleep(0.05)
