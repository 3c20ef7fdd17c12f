"""lab check: each kind of check passes when it should and fails when it should, exit 0 only if all pass."""

from __future__ import annotations

import json
import sys

import pytest

from tests.helpers import snapshot, vnetctl

pytestmark = pytest.mark.kernel

LAB = f"""
name: checks
namespaces:
  - name: srv
    loopback: true
  - name: cli
veths:
  - name: s0
    netns: srv
    addresses: [10.9.0.1/24]
    peer: {{name: c0, netns: cli, addresses: [10.9.0.2/24]}}
processes:
  - name: web
    netns: srv
    argv: [{sys.executable}, -m, http.server, "8080", --bind, 10.9.0.1, --directory, "{{run}}"]
    ready: {{port: 8080}}
checks:
  - name: web answers from the client
    port: {{netns: cli, host: 10.9.0.1, port: 8080}}
  - name: nothing on 8081
    port: {{netns: cli, host: 10.9.0.1, port: 8081, expect: closed}}
  - name: ping across
    ping: {{from: cli, to: 10.9.0.1}}
  - name: c0's peer is s0 in srv
    peer: {{netns: cli, dev: c0, expect: {{name: s0, netns: srv}}}}
  - name: s0 is a veth
    driver: {{netns: srv, dev: s0, driver: veth}}
"""
WRONG = """
  - name: wrong on purpose
    port: {netns: cli, host: 10.9.0.1, port: 8081}
  - name: wrong peer on purpose
    peer: {netns: cli, dev: c0, expect: {name: s1, netns: srv}}
"""


def test_checks_pass_and_fail_for_the_right_reasons(tmp_path) -> None:
    before = snapshot()
    good = tmp_path / "checks.yaml"
    good.write_text(LAB)
    assert vnetctl("lab", "up", str(good)).returncode == 0
    ok = vnetctl("lab", "check", str(good), "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    results = json.loads(ok.stdout)
    assert [r["ok"] for r in results] == [True] * 5
    assert "accepts connections" in results[0]["detail"] and "refuses connections" in results[1]["detail"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(LAB + WRONG)
    failed = vnetctl("lab", "check", str(bad))
    assert failed.returncode == 1
    assert "Error: 2 of 7 check(s) failed" in failed.stderr
    rows = {line.split("  ")[0]: line for line in failed.stdout.splitlines()}
    assert "FAIL" in rows["wrong on purpose"] and "FAIL" in rows["wrong peer on purpose"]
    assert "pass" in rows["web answers from the client"]
    assert vnetctl("lab", "down", str(good)).returncode == 0
    assert snapshot() == before


def test_check_of_a_lab_that_is_not_up_is_not_found(tmp_path) -> None:
    f = tmp_path / "checks.yaml"
    f.write_text(LAB)
    proc = vnetctl("lab", "check", str(f))
    assert proc.returncode == 4 and "lab 'checks' is not up" in proc.stderr
