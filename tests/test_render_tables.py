"""Tables on a terminal fit its width without ever breaking a name, address, number or MAC."""

from __future__ import annotations

import re

import pytest

from tests.helpers import ip_json, sh, vnetctl
from tests.test_json_shapes import tty_run
from vnetctl.render.output import Col, fit

ROWS = [["(host)", "1", "lo", "loopback", "-", "-", "UNKNOWN", "65536", "-", "-", "127.0.0.1/8,::1/128", "-", "-"],
        ["qdhcp-5f2c1a7e-8d3b", "2", "tapa1b2c3d4-e5", "veth", "veth", "-", "UP", "1500", "brq5f2c1a7e-8d",
         "ns-a1b2c3d4-e5#2@(host)", "fe80::e4ac:18ff:fe80:f8d1/64", "python3[13] fd 26, qemu-system-x86[99] fd 27",
         "QEMU VM guest1"]]


def _cols() -> list[Col]:
    from vnetctl.render.inspect_text import TABLE_COLUMNS
    return list(TABLE_COLUMNS)


def test_wide_enough_keeps_everything() -> None:
    keep, widths = fit(_cols(), ROWS, 1000)
    assert keep == list(range(13)) and widths[10] == len("fe80::e4ac:18ff:fe80:f8d1/64")


def test_narrow_drops_low_value_columns_first_then_cuts_free_text() -> None:
    cols = _cols()
    keep, widths = fit(cols, ROWS, 160)
    names = [cols[i].name for i in keep]
    assert "BUS-INFO" not in names and {"NAMESPACE", "NAME", "PEER", "STATE", "IFINDEX", "KIND"} <= set(names)
    assert sum(widths[i] for i in keep) + 2 * (len(keep) - 1) <= 160
    keep, widths = fit(cols, ROWS, 80)
    names = [cols[i].name for i in keep]
    assert names == ["NAMESPACE", "IFINDEX", "NAME", "KIND", "STATE", "PEER"]
    for i in keep:  # no kept column is narrower than its longest value: nothing is cut or wrapped
        assert widths[i] >= max(len(r[i]) for r in ROWS)


def test_only_cut_columns_shrink() -> None:
    cols = [Col("NAME"), Col("DETAIL", cut=True)]
    rows = [["vethDemo0", "x" * 100]]
    keep, widths = fit(cols, rows, 40)
    assert keep == [0, 1] and widths[0] == 9 and widths[1] == 40 - 9 - 2


@pytest.mark.kernel
@pytest.mark.parametrize("columns", [80, 160])
def test_inspect_table_on_a_terminal_never_breaks_a_value(columns: int) -> None:
    sh("ip", "netns", "add", "qdhcp-5f2c1a7e-8d3b-4c21-9e0f-1a2b3c4d5e6f")
    sh("ip", "link", "add", "tapa1b2c3d4-e5", "type", "veth", "peer", "name", "ns-a1b2c3d4-e5",
       "netns", "qdhcp-5f2c1a7e-8d3b-4c21-9e0f-1a2b3c4d5e6f")
    sh("ip", "addr", "add", "fd00:1234:5678:9abc::1/64", "dev", "tapa1b2c3d4-e5")
    out = tty_run("inspect", "--format", "table", columns=columns)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln) for ln in out.replace("\r", "").splitlines()]
    if lines[0].split() != ["NAMESPACE", "IFINDEX", "NAME", "KIND", "STATE", "PEER"]:  # else nothing is left to drop
        assert all(len(ln) <= columns for ln in lines), [ln for ln in lines if len(ln) > columns]
    words = {w for ln in lines for w in ln.split()}
    assert {"lo", "tapa1b2c3d4-e5", "(host)", "qdhcp-5f2c1a7e-8d3b-4c21-9e0f-1a2b3c4d5e6f"} <= words
    assert not {"6553", "loopb"} & words
    piped = vnetctl("inspect", "--format", "table", check=True).stdout  # piped: every column, whole
    mac = ip_json("link", "show", "tapa1b2c3d4-e5")[0]["address"]
    assert "BUS-INFO" in piped.splitlines()[0] and "fd00:1234:5678:9abc::1/64" in piped
    link = tty_run("link", "show", columns=columns)
    assert mac in link and all(len(ln) <= columns for ln in link.replace("\r", "").splitlines())
