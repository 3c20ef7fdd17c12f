"""The pytest plugin: vnet_lab brings a lab up for a test and always tears it down."""

from __future__ import annotations

import os

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
