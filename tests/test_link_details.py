"""One link decoder: api.link(x).details equals api.links()'s and inspect's, for every kind, checked against pyroute2 and ip -d.

The devices are made with `ip` (not vnetctl). pyroute2 decodes the same IFLA_INFO_DATA
on its own; every integer or string attribute it reports must be in vnetctl's details
under the same name with the same value, and a few must equal what `ip -j -d` prints.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import sh
from vnetctl import api, discovery

pytestmark = pytest.mark.kernel

DEVICES = [
    ("bridge", "br7", ["ip", "link", "add", "br7", "type", "bridge", "stp_state", "1", "hello_time", "300"]),
    ("veth", "lw0", None),
    ("vxlan", "vx7", ["ip", "link", "add", "vx7", "type", "vxlan", "id", "4242", "remote", "192.0.2.9", "local", "192.0.2.1",
                      "dstport", "4789", "dev", "lw0", "ttl", "9", "nolearning"]),
    ("vlan", "vl7", ["ip", "link", "add", "link", "lw0", "name", "vl7", "type", "vlan", "id", "77"]),
    ("macvlan", "mv7", ["ip", "link", "add", "link", "lw0", "name", "mv7", "type", "macvlan", "mode", "private"]),
    ("macvtap", "mt7", ["ip", "link", "add", "link", "lw0", "name", "mt7", "type", "macvtap", "mode", "vepa"]),
    ("tun", "tap7", ["ip", "tuntap", "add", "mode", "tap", "tap7", "multi_queue"]),
    ("tun", "tun7", ["ip", "tuntap", "add", "mode", "tun", "tun7"]),
    ("gretap", "gt7", ["ip", "link", "add", "gt7", "type", "gretap", "remote", "192.0.2.9", "local", "192.0.2.1", "key", "5"]),
]

# detail key -> the key `ip -j -d link` prints under linkinfo.info_data, for a few of each kind
IP_KEYS = {"br_stp_state": "stp_state", "br_hello_time": "hello_time", "vxlan_id": "id", "vxlan_ttl": "ttl",
           "vxlan_learning": "learning", "vxlan_port": "port", "vlan_id": "id", "macvlan_mode": "mode",
           "macvtap_mode": "mode", "tun_type": "type", "tun_multi_queue": "multi_queue", "gre_remote": "remote"}


@pytest.fixture
def made() -> Iterator[list[tuple[str, str]]]:
    """The devices of DEVICES this kernel can make, as (kind, name)."""
    sh("ip", "link", "add", "lw0", "type", "veth", "peer", "name", "lw1")
    out = []
    for kind, name, cmd in DEVICES:
        if cmd is None or subprocess.run(cmd, capture_output=True).returncode == 0:
            out.append((kind, name))
    yield out
    for _, name, _ in reversed(DEVICES):
        subprocess.run(["ip", "link", "del", name], capture_output=True)


def _pyroute2_details(name: str) -> dict[str, Any]:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        msg = ipr.link("get", ifname=name)[0]
    data = msg.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
    if data is None or isinstance(data, (str, bytes)) or "attrs" not in data:
        return {}
    return {k[5:].lower(): v for k, v in data["attrs"] if isinstance(v, (int, str)) and not k.startswith("UNKNOWN")}


def _ip_info_data(name: str) -> dict[str, Any]:
    out = json.loads(sh("ip", "-j", "-d", "link", "show", "dev", name).stdout)[0]
    return out.get("linkinfo", {}).get("info_data", {})


def test_every_kind_is_made(made: list[tuple[str, str]]) -> None:
    """The kinds this machine has are all there (vlan and gretap need 8021q and ip_gre, which some kernels lack)."""
    kinds = {k for k, _ in made}
    assert {"bridge", "veth", "vxlan", "macvlan", "macvtap", "tun"} <= kinds


@pytest.mark.parametrize("kind,name", [(k, n) for k, n, _ in DEVICES])
def test_link_details_are_the_listings(made: list[tuple[str, str]], kind: str, name: str) -> None:
    """api.link(x).details == the entry in api.links() == inspect's; pyroute2 and ip -d agree with them."""
    if (kind, name) not in made:
        pytest.skip(f"this kernel cannot make a {kind} device")
    one = api.link(name)
    listed = next(lk for lk in api.links() if lk.name == name)
    assert one.kind == kind and one == listed and one.details == listed.details
    sc = discovery.Scanner()
    here = sc.find(None)
    sc.read(here)
    sc.close()
    assert next(lk for lk in here.links or () if lk.name == name) == one
    details = dict(one.details)
    theirs = _pyroute2_details(name)
    assert {k: details.get(k) for k in theirs} == theirs
    info = _ip_info_data(name)
    compared = 0
    for key, ip_key in IP_KEYS.items():
        if key in details and ip_key in info:
            mine, ip_says = details[key], info[ip_key]
            if isinstance(ip_says, bool):
                mine = bool(mine)
            elif key == "tun_type":
                mine = {1: "tun", 2: "tap"}[mine]  # type: ignore[index]
            assert mine == ip_says, f"{key}: {mine!r} but ip -d says {ip_says!r}"
            compared += 1
    assert compared or kind == "veth", f"no detail of {name} compared with ip -d ({sorted(details)}; ip: {info})"
    if kind != "veth":
        assert details, f"{name}: no details decoded"


def test_registry_attributes_are_decoded() -> None:
    """Every netlink attribute the registry declares for an option or lower device is in the kind's own IFLA_INFO_DATA
    declaration, which the one decoder reads, and every type there has a decoder."""
    from vnetctl import kinds
    from vnetctl.backend import ifla

    checked = 0
    for kind in kinds.all_kinds():
        table = kind.data_table()
        assert ifla._tables().get(kind.name, {}) == table, f"{kind.name}: the decoder's table is not the registry's"
        names = {name for name, _ in table.values()}
        assert len(names) == len(table), f"{kind.name}: a detail name declared twice in info_data"
        for name, typ in table.values():
            assert typ in ifla.DECODERS, f"{kind.name}: {name} has type {typ!r}, which backend/ifla.py cannot decode"
        attrs = [a for opt in kind.options for a in (opt.attr, opt.attr6) if a]
        attrs += [kind.lower_attr] if kind.lower_attr and kind.lower_attr != "link" else []  # link: IFLA_LINK itself
        for attr in attrs:
            assert attr in names, f"{kind.name}: {attr} is not in its info_data (vnetctl/kinds/{kind.name}.py)"
            checked += 1
    assert checked
