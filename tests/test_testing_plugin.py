"""The pytest plugin: vnet_lab brings a lab up for a test and always tears it down."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import netns_names, snapshot

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.kernel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_vnet_lab_is_up_in_the_test_and_gone_after_pass_and_failure(pytester: pytest.Pytester) -> None:
    before = snapshot()
    pytester.makepyfile(f'''
        import subprocess

        VETH = "{ROOT}/labs/veth-netns.yaml"
        STAR = "{ROOT}/labs/star.yaml"

        def test_uses_the_lab(vnet_lab):
            lab = vnet_lab(VETH)
            assert lab.name == "veth-netns"
            ping = subprocess.run(["ip", "netns", "exec", "ns1", "ping", "-c", "1", "-W", "2", "10.1.1.3"])
            assert ping.returncode == 0
            assert all(r.ok for r in lab.check())

        def test_fails_with_two_labs_up(vnet_lab):
            vnet_lab(VETH)
            vnet_lab(STAR, hosts=3)
            names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
            assert "h2" in names and "ns1" in names
            assert False, "a failing test"
    ''')
    result = pytester.runpytest_subprocess("-p", "vnetctl.testing", "-q")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: a failing test*"])
    assert snapshot() == before
    assert netns_names() == set()


def test_a_fresh_pytest_run_finds_the_fixture_and_down_returns_records(tmp_path: os.PathLike[str]) -> None:
    """No -p, no conftest: the entry point brings the fixture; parameters go as lab.load takes them."""
    before = snapshot()
    test_file = os.path.join(tmp_path, "test_fresh.py")
    with open(test_file, "w") as f:
        f.write(f'''
import json
import subprocess

from vnetctl import lab as labs

STAR = "{ROOT}/labs/star.yaml"


def _netns():
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True).stdout
    return sorted(n["name"] for n in json.loads(out or "[]"))


def test_params_both_ways_and_records(vnet_lab):
    assert labs.load(STAR, {{"hosts": 2}}).plan() == labs.load(STAR, hosts=2).plan()
    lab = vnet_lab(STAR, {{"hosts": 2}}, hosts=3)          # keywords win, as in lab.load
    assert _netns() == ["h0", "h1", "h2"]
    removed = lab.down()
    assert _netns() == []
    made = {{(r.step, r.args.get("name")) for r in removed}}
    assert {{("NetnsAdd", "h0"), ("NetnsAdd", "h1"), ("NetnsAdd", "h2"), ("LinkAdd", "br-star")}} <= made
    assert all(r.command and r.host is None for r in removed)
    assert removed[0].to_json().keys() == {{"step", "command", "args"}}
    assert lab.down() == []
''')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
    assert snapshot() == before
