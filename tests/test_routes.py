"""Routes like ip route: both families, -4/-6, del by via/dev/table, route get; checked with ip -j."""

from __future__ import annotations

import json

import pytest

from tests.helpers import ip_json, sh, vnetctl

pytestmark = pytest.mark.kernel


def _setup() -> None:
    sh("ip", "netns", "add", "a")
    vnetctl("veth", "add", "x0", "x1", "-n", "a", "--peer-netns", "a", "--addr", "10.1.0.1/24", "--peer-addr",
            "10.1.0.2/24", check=True)
    sh("ip", "-n", "a", "addr", "add", "fd00::1/64", "dev", "x0", "nodad")


def _defaults(family: str) -> list[dict]:
    return ip_json(family, "route", "show", "default", netns="a")


def test_default_route_of_either_family() -> None:
    _setup()
    vnetctl("-n", "a", "route", "add", "default", "--via", "fd00::2", check=True)
    shown = json.loads(vnetctl("-n", "a", "route", "show", "-j", check=True).stdout)
    assert [(r["family"], r["gateway"]) for r in shown if r["dst"] == "default"] == [("inet6", "fd00::2")]
    assert all(r["family"] == "inet" for r in json.loads(vnetctl("-n", "a", "route", "show", "-4", "-j").stdout))
    vnetctl("-n", "a", "route", "del", "default", check=True)  # the only default is IPv6: no ESRCH
    assert _defaults("-6") == []
    vnetctl("-n", "a", "route", "add", "default", "--via", "10.1.0.9", check=True)
    vnetctl("-n", "a", "route", "add", "default", "--via", "fd00::2", check=True)
    both = vnetctl("-n", "a", "route", "del", "default")
    assert both.returncode == 2 and "give -4 or -6" in both.stderr and _defaults("-4") and _defaults("-6")
    vnetctl("-n", "a", "route", "del", "default", "-6", check=True)
    assert _defaults("-6") == [] and [r["gateway"] for r in _defaults("-4")] == ["10.1.0.9"]
    wrong = vnetctl("-n", "a", "route", "del", "default", "-6", "--via", "10.1.0.9")
    assert wrong.returncode == 2 and "is inet, not inet6" in wrong.stderr


def test_del_by_via_dev_and_table() -> None:
    _setup()
    vnetctl("-n", "a", "route", "add", "10.9.0.0/24", "--dev", "x0", "--table", "100", check=True)
    assert [r["dst"] for r in ip_json("route", "show", "table", "100", netns="a")] == ["10.9.0.0/24"]
    assert vnetctl("-n", "a", "route", "del", "10.9.0.0/24").returncode == 4  # not in main
    assert vnetctl("-n", "a", "route", "del", "10.9.0.0/24", "--table", "100", "--dev", "x1").returncode == 4
    vnetctl("-n", "a", "route", "del", "10.9.0.0/24", "--table", "100", "--dev", "x0", check=True)
    assert ip_json("route", "show", "table", "100", netns="a") == []
    dry = vnetctl("-n", "a", "route", "add", "default", "--dev", "x0", "-6", "--table", "7", "--dry-run", check=True)
    assert dry.stdout == "ip -n a -6 route add default dev x0 table 7 proto static\n"
    assert vnetctl("route", "show", "--table", "nope").returncode == 2


def test_route_get_says_what_ip_route_get_says() -> None:
    _setup()
    vnetctl("-n", "a", "route", "add", "default", "--via", "10.1.0.2", check=True)
    for addr in ("8.8.8.8", "10.1.0.2", "fd00::5"):
        got = json.loads(vnetctl("-n", "a", "route", "get", addr, "-j", check=True).stdout)
        oracle = ip_json("route", "get", addr, netns="a")[0]
        assert (got["dst"], got["gateway"], got["dev"]) == (oracle["dst"], oracle.get("gateway"), oracle["dev"])
        assert got["prefsrc"] == oracle.get("prefsrc")
    assert vnetctl("-n", "a", "route", "get", "nonsense").returncode == 2
    sh("ip", "-n", "a", "route", "del", "default")
    unreachable = vnetctl("-n", "a", "route", "get", "8.8.8.8")
    assert unreachable.returncode != 0 and "Traceback" not in unreachable.stderr
