#!/usr/bin/env python3
"""The articles' claim, measured: user-space tun/UDP tunnels against kernel VXLAN and a plain veth.

Two namespaces (nodes) joined by a veth underlay. Over it, in the same run:
  (a) the plain veth, (b) kernel VXLAN, (c) `vnetctl tuntap tunnel` (with its fast-path
  options switched on one by one), (d) bench/naive_tunnel.py, one packet per syscall.
For each: TCP bulk throughput (iperf3, one stream) and small-packet rate (iperf3 UDP,
64-byte payloads, unlimited rate, packets that arrived per second). Each figure is the
median of --reps runs, interleaved so that load from elsewhere hits every path alike.

Then the reader drain test: `vnetctl tuntap read --quiet` on a tun while a generator in
the same namespace sends small UDP packets routed into the tun, paced at a target rate. The
generator uses UDP GSO (UDP_SEGMENT): one sendmsg hands the kernel 64 datagrams, which it
segments on the way into the tun (tun has no USO offload enabled), so 64 small packets
cost one Python call. The pacer makes up for sleeping late by at most 4 batches (256 packets)
and otherwise carries on from now, so a stall of its own never turns into a long burst above
the target (the rate it achieved is reported).
Drops are read from the tun's own tx_dropped counter (ip -s link).

Run inside the sandbox: tests/sandbox.sh .venv/bin/python bench/bench_datapath.py [--reps N] [--write]
--write replaces the "## datapath" section of bench/RESULTS.md with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PY = sys.executable
VNETCTL = [PY, "-m", "vnetctl"]
UNDER = ("192.168.50.1", "192.168.50.2")


def sh(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a tool, fail loudly."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {p.stderr.strip()}")
    return p


def nsx(ns: str, *argv: str) -> list[str]:
    """argv inside a namespace."""
    return ["ip", "netns", "exec", ns, *argv]


def reset() -> None:
    """Remove what a previous path left."""
    sh("ip", "-all", "netns", "delete", check=False)


def underlay(mtu: int) -> None:
    """Nodes a and b joined by veth ua/ub (192.168.50.1/2) with the given MTU."""
    reset()
    for ns in ("a", "b"):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "link", "add", "ua", "netns", "a", "mtu", str(mtu), "type", "veth", "peer", "name", "ub", "netns", "b",
       "mtu", str(mtu))
    for ns, dev, addr in (("a", "ua", UNDER[0]), ("b", "ub", UNDER[1])):
        sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")


def vxlan() -> str:
    """Kernel VXLAN vni 42 over the underlay; returns the far overlay address."""
    for ns, dev, local, remote, addr in (("a", "ua", UNDER[0], UNDER[1], "10.42.0.1"),
                                          ("b", "ub", UNDER[1], UNDER[0], "10.42.0.2")):
        sh("ip", "-n", ns, "link", "add", "vx0", "type", "vxlan", "id", "42", "local", local, "remote", remote,
           "dev", dev, "dstport", "4789")
        sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "vx0")
        sh("ip", "-n", ns, "link", "set", "vx0", "up")
    return "10.42.0.2"


def tun_pair(mtu: int, multi_queue: bool = False) -> None:
    """tun0 in each node, 10.77.0.1/2, with the given MTU."""
    for ns, addr in (("a", "10.77.0.1"), ("b", "10.77.0.2")):
        sh("ip", "-n", ns, "tuntap", "add", "mode", "tun", "tun0", *(["multi_queue"] if multi_queue else []))
        sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "tun0")
        sh("ip", "-n", ns, "link", "set", "tun0", "up", "mtu", str(mtu))
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.tun0.disable_ipv6=1")


def wait_carrier(ns: str, dev: str, timeout: float = 15) -> None:
    """Until a program holds the tun (no NO-CARRIER)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = json.loads(sh("ip", "-j", "-n", ns, "link", "show", dev).stdout)[0]
        if "NO-CARRIER" not in out["flags"]:
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing attached to {dev} in {ns}")


def start_tunnels(kind: str, extra: list[str]) -> list[subprocess.Popen[str]]:
    """Start the tunnel programs in both nodes."""
    procs = []
    for ns, local, remote in (("a", UNDER[0], UNDER[1]), ("b", UNDER[1], UNDER[0])):
        if kind == "naive":
            argv = nsx(ns, PY, str(HERE / "naive_tunnel.py"), "tun0", f"{local}:8285", f"{remote}:8285")
        else:
            argv = nsx(ns, *VNETCTL, "tuntap", "tunnel", "tun0", "--local", f"{local}:8285", "--remote",
                       f"{remote}:8285", *extra)
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                      cwd=HERE.parent))
    for ns in ("a", "b"):
        wait_carrier(ns, "tun0")
    return procs


def stop_all(procs: list[subprocess.Popen[str]]) -> list[str]:
    """SIGTERM each program; their last stderr line."""
    out = []
    for p in procs:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=15)
        out.append((err.strip().splitlines() or [""])[-1])
    return out


def iperf(dst: str, seconds: float, udp: bool = False) -> float:
    """TCP Gbit/s received, or UDP packets/s received (64-byte payloads), from a to dst in b."""
    server = subprocess.Popen(nsx("b", "iperf3", "-s", "-1", "-B", dst), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sh(*nsx("b", "ss", "-ltn", "sport = :5201")).stdout.count("LISTEN"):
                break
            time.sleep(0.05)
        args = ["iperf3", "-c", dst, "-t", str(seconds), "-J"]
        if udp:
            args += ["-u", "-b", "0", "-l", "64"]
        res = json.loads(sh(*nsx("a", *args), timeout=seconds + 30).stdout)
    finally:
        server.wait(timeout=30)
    end = res["end"]
    if udp:
        s = end["sum"]
        return (s["packets"] - s["lost_packets"]) / s["seconds"]
    return end["sum_received"]["bits_per_second"] / 1e9


PATHS: dict[str, dict[str, Any]] = {
    "veth": {"label": "(a) plain veth", "mtu": 1500},
    "vxlan": {"label": "(b) kernel VXLAN", "mtu": 1500},
    "tunnel": {"label": "(c) tuntap tunnel, default (vnet_hdr+TSO, UDP_SEGMENT/UDP_GRO, 1500 underlay)", "mtu": 1500,
               "tun_mtu": 1462, "extra": []},
    "tunnel-frag": {"label": "(c3) tuntap tunnel --no-udp-gso (64 KB datagrams as IP fragments, 1500 underlay)",
                    "mtu": 1500, "tun_mtu": 1462, "extra": ["--no-udp-gso"]},
    "tunnel-noofl": {"label": "(c0) tuntap tunnel --no-offload", "mtu": 1500, "tun_mtu": 1472,
                     "extra": ["--no-offload"]},
    "tunnel-bigmtu": {"label": "(c1) tuntap tunnel --no-udp-gso, 65535-byte underlay MTU", "mtu": 65535,
                      "tun_mtu": 1462, "extra": ["--no-udp-gso"]},
    "tunnel-q2": {"label": "(c2) tuntap tunnel --queues 2", "mtu": 1500, "tun_mtu": 1462, "extra": ["--queues", "2"]},
    "naive": {"label": "(d) naive one-packet-per-syscall loop", "mtu": 1500, "tun_mtu": 1472},
}


def measure(name: str, seconds: float) -> tuple[float, float, list[str]]:
    """(TCP Gbit/s, UDP packets/s, program summaries) over one path."""
    p = PATHS[name]
    underlay(p["mtu"])
    procs: list[subprocess.Popen[str]] = []
    notes: list[str] = []
    tunnel = name not in ("veth", "vxlan")

    def tunnels_up() -> None:
        procs[:] = start_tunnels("naive" if name == "naive" else "vnetctl", p.get("extra", []))
        if not any(sh("ip", "netns", "exec", "a", "ping", "-c", "1", "-W", "1", dst, check=False).returncode == 0
                   for _ in range(5)):
            raise RuntimeError(f"{name}: no ping across the tunnel")

    try:
        if name == "veth":
            dst = UNDER[1]
        elif name == "vxlan":
            dst = vxlan()
        else:
            tun_pair(p["tun_mtu"], "--queues" in p.get("extra", []))
            dst = "10.77.0.2"
            tunnels_up()
        gbps = iperf(dst, seconds)
        if tunnel:
            # A fresh pair for the packet-rate test, so the TCP run's counters stand alone.
            notes = stop_all(procs)
            tunnels_up()
        pps = iperf(dst, seconds, udp=True)
    finally:
        if procs:
            stop_all(procs)
        reset()
    return gbps, pps, notes


def drain(rate: int, seconds: float, qlen: int | None, quiet: bool = True, realtime: bool = False) -> dict[str, Any]:
    """The reader's drain: generator paced at rate packets/s (0: flat out) into tun0; what was read, what dropped."""
    reset()
    sh("ip", "netns", "add", "r")
    sh("ip", "-n", "r", "tuntap", "add", "mode", "tun", "tun0")
    sh("ip", "-n", "r", "addr", "add", "192.168.10.11/24", "dev", "tun0")
    sh("ip", "-n", "r", "link", "set", "tun0", "up", *(["txqueuelen", str(qlen)] if qlen else []))
    sh("ip", "netns", "exec", "r", "sysctl", "-qw", "net.ipv6.conf.tun0.disable_ipv6=1")
    qlen_now = json.loads(sh("ip", "-j", "-n", "r", "link", "show", "tun0").stdout)[0]["txqlen"]
    mode = ["--quiet"] if quiet else ["--json"]
    # chrt -f: SCHED_FIFO, so the reader runs as soon as packets wake it, ahead of other users' work.
    prio = ["chrt", "-f", "10"] if realtime else []
    reader = subprocess.Popen(nsx("r", *prio, *VNETCTL, "tuntap", "read", "tun0", *mode), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, cwd=HERE.parent)
    try:
        wait_carrier("r", "tun0")
        gen = sh(*nsx("r", PY, "-c", GENERATOR, "192.168.10.12", str(rate), str(seconds)), timeout=seconds + 30)
        sent = int(gen.stdout.split()[0])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            tx = json.loads(sh("ip", "-s", "-j", "-n", "r", "link", "show", "tun0").stdout)[0]["stats64"]["tx"]
            if tx["packets"] + tx["dropped"] >= sent:
                break
            time.sleep(0.05)
    finally:
        reader.send_signal(signal.SIGINT)
        _, err = reader.communicate(timeout=15)
        reset()
    summary = err.strip().splitlines()[-1]
    counted = int(summary.split()[0])
    return {"rate": rate, "qlen": qlen_now, "mode": mode[0] + (" under chrt -f 10" if realtime else ""),
            "seconds": seconds, "sent": sent, "gen_pps": float(gen.stdout.split()[1]),
            "read": counted, "dropped": tx["dropped"], "lost": sent - counted, "summary": summary}


GENERATOR = r"""
import socket, sys, time
UDP_SEGMENT, SEG, PER = 103, 18, 64
dst, rate, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_UDP, UDP_SEGMENT, SEG)
s.setsockopt(socket.SOL_SOCKET, 32, 8 << 20)
s.connect((dst, 9))
buf = bytes(SEG * PER)
sent, t0 = 0, time.monotonic()
end, step, nxt = t0 + secs, PER / rate if rate else 0.0, t0
while (now := time.monotonic()) < end:
    if now < nxt:
        time.sleep(nxt - now)
    elif now - nxt > 4 * step:
        nxt = now  # late after a stall: carry on from now rather than burst to catch up
    s.send(buf)
    sent += PER
    nxt += step
print(sent, sent / (time.monotonic() - t0))
"""


def main() -> int:
    """Run everything, print the figures (and write them with --write)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3, help="runs per path (median reported)")
    ap.add_argument("--seconds", type=float, default=4, help="iperf3 duration per run")
    ap.add_argument("--paths", default=",".join(PATHS), help="comma-separated subset of " + ",".join(PATHS))
    ap.add_argument("--drain-rates", default="500000,800000", help="reader drain target rates (packets/s)")
    ap.add_argument("--write", action="store_true", help="write the figures to bench/RESULTS.md ## datapath")
    args = ap.parse_args()
    if os.environ.get("VNETCTL_SANDBOX") != "1":
        print("run me inside tests/sandbox.sh", file=sys.stderr)
        return 77
    load_before = os.getloadavg()[0]
    names = [n for n in args.paths.split(",") if n]
    runs: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    notes: dict[str, list[str]] = {}
    for rep in range(args.reps):
        for n in names:
            gbps, pps, note = measure(n, args.seconds)
            runs[n].append((gbps, pps))
            notes[n] = note
            print(f"rep {rep + 1} {n:14s} {gbps:7.2f} Gbit/s {pps:12,.0f} pps", flush=True)
    med = {n: (statistics.median(g for g, _ in r), statistics.median(p for _, p in r)) for n, r in runs.items()}
    drains = []
    plan = [(int(x), q, True, rt) for x in args.drain_rates.split(",") if x for q in (None, 10000)
            for rt in (False, True)]
    if args.drain_rates:
        plan += [(0, 10000, True, False), (0, 10000, True, True), (0, 10000, False, False)]
    for rate, qlen, quiet, rt in plan:
        d = drain(rate, 3.0, qlen, quiet, rt)
        drains.append(d)
        print(f"drain target {rate or 'max'} pps qlen {d['qlen']} {d['mode']}: generator {d['gen_pps']:,.0f} pps, "
              f"sent {d['sent']:,}, read {d['read']:,} ({d['read'] / d['seconds']:,.0f}/s), "
              f"tun tx_dropped {d['dropped']:,}", flush=True)
    args.load = (load_before, os.getloadavg()[0])
    text = report(med, runs, notes, drains, args)
    print("\n" + text)
    if args.write:
        write_section(HERE / "RESULTS.md", text)
    return 0


def report(med: dict[str, tuple[float, float]], runs: dict[str, list[tuple[float, float]]], notes: dict[str, list[str]],
           drains: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The "## datapath" section as markdown."""
    lines = ["## datapath", "",
             f"`bench/bench_datapath.py --reps {args.reps} --seconds {args.seconds:g}`, {time.strftime('%Y-%m-%d')}, "
             f"{os.cpu_count()} cores, kernel {os.uname().release}. Two namespaces over a veth underlay; iperf3 "
             "one TCP stream (Gbit/s received) and UDP 64-byte payloads at unlimited rate (packets/s received); "
             f"median of {args.reps} interleaved runs (every run in the last column). Load average "
             f"{args.load[0]:.1f} at the start and {args.load[1]:.1f} at the end: the machine is shared, so "
             "compare figures within this run only.", "",
             "| path | TCP Gbit/s | UDP 64 B packets/s | runs (Gbit/s) |", "| --- | ---: | ---: | --- |"]
    for n, (g, p) in med.items():
        lines.append(f"| {PATHS[n]['label']} | {g:.2f} | {p:,.0f} | {', '.join(f'{x:.2f}' for x, _ in runs[n])} |")
    lines.append("")
    ratios = []
    if "tunnel" in med and "naive" in med and med["naive"][0] > 0:
        ratios.append(f"- tuntap tunnel / naive loop: **{med['tunnel'][0] / med['naive'][0]:.1f}x** TCP, "
                      f"{med['tunnel'][1] / med['naive'][1]:.1f}x packet rate (target ≥ 5x TCP)")
    if "tunnel" in med and "vxlan" in med and med["vxlan"][0] > 0:
        ratios.append(f"- tuntap tunnel / kernel VXLAN: **{100 * med['tunnel'][0] / med['vxlan'][0]:.0f}%** TCP, "
                      f"{100 * med['tunnel'][1] / med['vxlan'][1]:.0f}% packet rate (target ≥ 50% TCP)")
    if "vxlan" in med and "veth" in med:
        ratios.append(f"- kernel VXLAN / plain veth: {100 * med['vxlan'][0] / med['veth'][0]:.0f}% TCP")
    for a, b, what in (("tunnel-noofl", "naive", "a thread per direction, preallocated buffers, connected socket, "
                        "no select (still one packet per syscall)"),
                       ("tunnel-frag", "tunnel-noofl", "IFF_VNET_HDR + TUNSETOFFLOAD (64 KB GSO packets per syscall)"),
                       ("tunnel-bigmtu", "tunnel-frag", "a 65535-byte underlay MTU (no IP fragmentation of 64 KB datagrams)"),
                       ("tunnel", "tunnel-frag", "UDP_SEGMENT + UDP_GRO instead of IP fragments (1500 underlay; the default)"),
                       ("tunnel-q2", "tunnel", "two tun queues (IFF_MULTI_QUEUE), one stream")):
        if a in med and b in med and med[b][0] > 0:
            ratios.append(f"- {what}: {med[a][0] / med[b][0]:.2f}x TCP ({med[b][0]:.2f} → {med[a][0]:.2f} Gbit/s)")
    for n in ("tunnel", "tunnel-noofl", "tunnel-frag", "naive"):
        m = re.search(r"tun->udp (\d+) packets(?: (\d+) bytes)?", notes.get(n, [""])[0])
        if m and m.group(2) and int(m.group(1)):
            ratios.append(f"- {PATHS[n]['label']}: {int(m.group(2)) / int(m.group(1)) / 1024:.1f} KB per tun read "
                          f"on the sending node during the TCP test (last run: {int(m.group(1)):,} reads)")
    lines += ratios + ["",
              "(c) and its variants are `vnetctl tuntap tunnel` processes, one per node, tun MTU 1462 (1472 with "
              "--no-offload) over a 1500-byte underlay unless said otherwise; (d) is `bench/naive_tunnel.py`. "
              "The packet-rate column is bounded by iperf3's own one-datagram-per-syscall sender on every path, "
              "so it separates the paths less than TCP does. Not used: sendmmsg/recvmmsg (not in Python's socket "
              "module) and batching of tun reads (a tun gives one packet per read; with offload each read is "
              "already ~64 KB).", ""]
    if drains:
        lines += ["Reader drain (generator: UDP_SEGMENT sends of 64 × 18-byte datagrams, paced, for 3 s; "
                  "46-byte packets into the tun; drops = the tun's tx_dropped; 'max' = generator flat out, "
                  "read/s = packets read over the 3 s):", "",
                  "| reader | target packets/s | tun txqueuelen | generator packets/s | sent | read | read/s | dropped |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for d in drains:
            target = f"{d['rate']:,}" if d["rate"] else "max"
            lines.append(f"| {d['mode']} | {target} | {d['qlen']} | {d['gen_pps']:,.0f} | {d['sent']:,} | "
                         f"{d['read']:,} | {d['read'] / d['seconds']:,.0f} | {d['dropped']:,} |")
        lines.append("")
        clean = [d for d in drains if d["rate"] and d["dropped"] == 0 and d["mode"].startswith("--quiet")]
        if clean:
            best = max(clean, key=lambda d: d["gen_pps"])
            lines.append(f"- highest paced rate read without a single drop: **{best['gen_pps']:,.0f} packets/s** "
                         f"({best['mode']}, txqueuelen {best['qlen']})")
        for d in drains:
            if d["rate"] and d["mode"] == "--quiet" and d["qlen"] == 500:
                lines.append(f"- at {d['gen_pps']:,.0f} packets/s on the default 500-packet queue with normal "
                             f"scheduling: {100 * d['dropped'] / max(d['sent'], 1):.2f}% dropped — the queue holds "
                             f"{500 / d['gen_pps'] * 1000:.1f} ms of traffic, less than the reader can be kept "
                             "off a shared 2-core CPU; a longer queue or SCHED_FIFO (rows above) is the remedy")
        peak = [d for d in drains if not d["rate"] and d["mode"].startswith("--quiet")]
        if peak:
            lines.append(f"- flat out, the quiet reader read up to {max(d['read'] / d['seconds'] for d in peak):,.0f} "
                         "packets/s; decoding and printing each packet (--json) reads "
                         f"{max(d['read'] for d in peak) / max(1, max(d['read'] for d in drains if d['mode'] == '--json')):.0f}x "
                         "fewer")
        lines.append("")
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace (or append) the "## datapath" section of RESULTS.md, leaving the others alone."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(r"^## datapath\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip() + "\n\n", text, count=1)
    else:
        text = text.rstrip() + "\n\n" + section.rstrip() + "\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
