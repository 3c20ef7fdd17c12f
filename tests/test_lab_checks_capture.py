"""The capture check across a router: caches warm everywhere still give ARP on the wire; a failure shows what it saw."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.helpers import sh, snapshot, vnetctl

pytestmark = pytest.mark.kernel

# ha -- br1 -- rt -- br2 -- hb, both bridges in sw: the two-bridge router lab of the issue.
LAB = """
name: capture-routed
namespaces:
  - {name: ha}
  - {name: hb}
  - {name: sw}
  - {name: rt, sysctls: {net.ipv4.ip_forward: 1}}
bridges:
  - {name: br1, netns: sw}
  - {name: br2, netns: sw}
veths:
  - {name: ha-p, netns: sw, master: br1, peer: {name: eth0, netns: ha, addresses: [10.0.1.2/24]}}
  - {name: rt1-p, netns: sw, master: br1, peer: {name: eth1, netns: rt, addresses: [10.0.1.1/24]}}
  - {name: hb-p, netns: sw, master: br2, peer: {name: eth0, netns: hb, addresses: [10.0.2.2/24]}}
  - {name: rt2-p, netns: sw, master: br2, peer: {name: eth2, netns: rt, addresses: [10.0.2.1/24]}}
routes:
  - {netns: ha, to: default, via: 10.0.1.1}
  - {netns: hb, to: default, via: 10.0.2.1}
checks:
  - name: rt resolves hb again
    capture:
      netns: hb
      dev: eth0
      trigger: {ping: {from: ha, to: 10.0.2.2}}
      expect: [arp request, arp reply, icmp echo request, icmp echo reply]
  - name: wrong on purpose
    capture:
      netns: hb
      dev: eth0
      trigger: {ping: {from: ha, to: 10.0.2.2, count: 2}}
      expect: [icmp echo request, "UDP, length 4242"]
      timeout: 3
"""


def _neighbour_state(ns: str, ip: str) -> str | None:
    entries = json.loads(sh("ip", "-j", "-n", ns, "neigh", "show").stdout or "[]")
    return next((",".join(e.get("state", [])) for e in entries if e.get("dst") == ip), None)


def test_capture_with_warm_caches_passes_and_a_failure_keeps_a_pcap(tmp_path) -> None:
    before = snapshot()
    path = tmp_path / "lab.yaml"
    path.write_text(LAB)
    up = vnetctl("lab", "up", str(path))
    assert up.returncode == 0, up.stderr
    try:
        # Warm every cache on the path, the router's included, as an earlier check or test would.
        assert sh("ping", "-c", "2", "-i", "0.2", "-W", "2", "10.0.2.2", netns="ha").returncode == 0
        assert _neighbour_state("rt", "10.0.2.2") in ("REACHABLE", "STALE", "DELAY")
        checks = vnetctl("lab", "check", str(path), "--json")
        assert checks.returncode == 1, checks.stderr
        good, bad = json.loads(checks.stdout)
        assert good["ok"], good["detail"]
        assert good["output"] == [] and "pcap" not in good["detail"]

        assert not bad["ok"] and bad["detail"].startswith("saw 1/2 in order (icmp echo request)")
        pcap = re.search(r"; pcap (\S+)$", bad["detail"]).group(1)
        assert pcap == "/run/vnetctl/labs/capture-routed/run/capture-hb-eth0.pcap"
        # The lines shown are tcpdump's own, and tcpdump reads the kept pcap back to the same packets.
        read = subprocess.run(["tcpdump", "-n", "-r", pcap], capture_output=True, text=True, timeout=10)
        assert read.returncode == 0, read.stderr
        assert read.stdout.splitlines()[:len(bad["output"])] == bad["output"]
        assert sum("ICMP echo request" in ln for ln in bad["output"]) == 2
        assert any("ARP, Request who-has 10.0.2.2 tell 10.0.2.1" in ln for ln in bad["output"])

        text = vnetctl("lab", "check", str(path))
        assert text.returncode == 1
        assert "wrong on purpose: the first" in text.stdout and "ICMP echo request" in text.stdout
    finally:
        assert vnetctl("lab", "down", str(path)).returncode == 0
    assert snapshot() == before
