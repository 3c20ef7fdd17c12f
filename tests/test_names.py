"""Interface and namespace names: one table, checked against vnetctl, `ip` and the kernel itself.

Each row says whether vnetctl accepts the name as an interface and as a namespace name,
and what `ip link add NAME type veth` does with it on this kernel:
  ok         created unchanged
  refused    the kernel says EINVAL (or the length policy)
  rewritten  created under another name (a '%d' template)
  ip         iproute2 refuses it before asking the kernel
vnetctl must never accept a name the kernel would refuse or rewrite; where it is stricter
than the kernel (control characters, invisible characters) the row says so.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.helpers import ip_json, netns_names, snapshot, vnetctl
from vnetctl import api
from vnetctl.errors import InvalidName
from vnetctl.names import NETNS_MAX, check_altname, check_ifname, check_netns

# name, interface ok, namespace ok, `ip link add` outcome, words the refusal must contain
NAMES: list[tuple[str, bool, bool, str, str]] = [
    ("a" * 15, True, True, "ok", ""),
    ("a" * 16, False, True, "refused", "16 bytes"),
    ("é" * 7, True, True, "ok", ""),                      # 14 bytes
    ("é" * 8, False, True, "refused", "16 bytes"),        # 8 characters, 16 bytes
    ("日本語日本", True, True, "ok", ""),                  # 15 bytes
    ("日本語日本a", False, True, "refused", "16 bytes"),
    ("à", False, True, "refused", "0xa0"),                # c3 a0: the kernel's isspace(0xa0)
    ("蠀", False, True, "refused", "0xa0"),               # e8 a0 80
    ("a/b", False, False, "ip", "'/'"),
    ("a:b", False, True, "refused", "':'"),
    ("a%b", False, True, "refused", "'%'"),
    ("a%d", False, True, "rewritten", "'%'"),
    ("a b", False, False, "ip", "whitespace"),
    ("a\tb", False, False, "ip", "whitespace"),
    ("a\nb", False, False, "ip", "whitespace"),
    ("a\u00a0b", False, False, "refused", "whitespace"),  # no-break space
    ("a\u3000b", False, False, "ok", "whitespace"),       # ideographic space: stricter than the kernel
    (".", False, False, "refused", "reserved"),
    ("..", False, False, "refused", "reserved"),
    ("", False, False, "ip", "empty"),
    ("a\x01b", False, False, "ok", "control"),            # stricter: breaks `ip -j` output
    ("a\x7fb", False, False, "ok", "control"),
    ("a\u200bb", False, False, "ok", "control"),          # zero-width space: invisible in listings
    ("\udcff\udcfe", False, False, "ok", "UTF-8"),         # bytes ff fe from argv
    ("all", False, True, "refused", "reserved"),
    ("default", False, True, "refused", "reserved"),
    ("a.b", True, True, "ok", ""),
    ("eth0.100", True, True, "ok", ""),
    ("a@b", True, True, "ok", ""),
    ("ALL", True, True, "ok", ""),
    ("pid:1", False, False, "refused", "':'"),
]

IDS = [repr(n)[1:-1][:20] or "empty" for n, *_ in NAMES]


@pytest.mark.parametrize("name,if_ok,ns_ok,kernel,why", NAMES, ids=IDS)
def test_library_checks(name: str, if_ok: bool, ns_ok: bool, kernel: str, why: str) -> None:
    """check_ifname / check_netns accept exactly the rows marked valid, and say why not."""
    for check, ok in ((check_ifname, if_ok), (check_netns, ns_ok)):
        if ok:
            assert check(name) == name
        else:
            with pytest.raises(InvalidName) as e:
                check(name)
            assert "\n" not in e.value.line()
            if check is check_ifname:
                assert why in e.value.message


def test_namespace_length_limit() -> None:
    """A namespace name is limited so that its record file name still fits in NAME_MAX."""
    assert check_netns("n" * NETNS_MAX)
    with pytest.raises(InvalidName, match="longer than"):
        check_netns("n" * (NETNS_MAX + 1))


def test_altname_rules() -> None:
    """Altnames (the long names of lab devices) follow the same character rules, up to 127 bytes."""
    assert check_altname("x" * 127)
    for bad in ("x" * 128, "a b", "a/b", "a:b", "à", ""):
        with pytest.raises(InvalidName):
            check_altname(bad)


class _NoKernel:
    """Stands in for every way into the kernel: touching it fails the test."""

    def __init__(self, *a: object, **k: object) -> None:
        raise AssertionError("a kernel call was made for an invalid name")


def _bar_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    import vnetctl.backend.netns as nsb
    import vnetctl.backend.rtnl as rtnl
    import vnetctl.backend.tun as tun
    import vnetctl.steps as steps
    monkeypatch.setattr(rtnl, "open_socket", _NoKernel)
    monkeypatch.setattr(steps, "Netlink", _NoKernel)
    monkeypatch.setattr(nsb, "create", _NoKernel)
    monkeypatch.setattr(nsb, "delete", _NoKernel)
    monkeypatch.setattr(tun, "create", _NoKernel)


@pytest.mark.parametrize("name", [n for n, ok, *_ in NAMES if not ok], ids=[i for i, r in zip(IDS, NAMES) if not r[1]])
def test_invalid_interface_refused_before_kernel(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every invalid interface name is refused by each creating command with no kernel call."""
    _bar_kernel(monkeypatch)
    calls = [lambda: api.veth_add(name, "peer0"), lambda: api.veth_add("ok0", name),
             lambda: api.bridge_add(name), lambda: api.tuntap_add(name, "tap"),
             lambda: api.tunnel_add(name, "vxlan", [("vni", 1)]), lambda: api.link_set("ok0", new_name=name),
             lambda: api.addr_add("10.0.0.1/24", name), lambda: api.link_del(name)]
    for call in calls:
        with pytest.raises(InvalidName):
            call()


@pytest.mark.parametrize("name", [n for n, _, ok, *_ in NAMES if not ok] + ["n" * (NETNS_MAX + 1)])
def test_invalid_namespace_refused_before_kernel(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every invalid namespace name is refused by netns add and netns del, with no kernel call."""
    _bar_kernel(monkeypatch)
    for call in (lambda: api.netns_add(name), lambda: api.netns_del(name)):
        with pytest.raises(InvalidName):
            call()


# --- against ip and the kernel (inside the sandbox) ---------------------------------------


def _ip_link_add(name: str) -> tuple[int, set[str]]:
    """Run `ip link add NAME type veth peer name vpeer0`; return the exit code and the new devices."""
    before = _raw_names()
    rc = subprocess.run([b"ip", b"link", b"add", os.fsencode(name), b"type", b"veth", b"peer", b"name", b"vpeer0"],
                        capture_output=True).returncode
    made = _raw_names() - before - {"vpeer0"}
    subprocess.run(["ip", "link", "del", "vpeer0"], capture_output=True)
    return rc, made


def _raw_names() -> set[str]:
    # `ip -j` prints control characters raw, so parse leniently.
    import json
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True).stdout
    return {d["ifname"] for d in json.loads(os.fsdecode(out), strict=False)}


@pytest.mark.kernel
def test_table_matches_ip_and_kernel() -> None:
    """For every row, `ip link add` behaves as the table says, and vnetctl never accepts what the kernel rejects."""
    for name, if_ok, _, kernel, _ in NAMES:
        rc, made = _ip_link_add(name)
        if kernel == "ok":
            assert rc == 0 and made == {name}, (name, rc, made)
        elif kernel == "rewritten":
            assert rc == 0 and made and made != {name}, (name, rc, made)
        elif kernel == "refused":
            assert rc == 2 and not made, (name, rc, made)   # RTNETLINK answers: Invalid argument
        else:
            assert rc == 255 and not made, (name, rc, made)  # iproute2's own check
        if if_ok:
            assert kernel == "ok", f"vnetctl accepts {name!r} but the kernel would not keep it"
        for dev in made:
            subprocess.run([b"ip", b"link", b"del", os.fsencode(dev)], capture_output=True)
    assert _raw_names() == {"lo"}


@pytest.mark.kernel
def test_valid_names_work_end_to_end() -> None:
    """Every valid row can be created by vnetctl and is seen unchanged by ip."""
    for i, (name, if_ok, ns_ok, _, _) in enumerate(NAMES):
        if if_ok:
            vnetctl("veth", "add", name, f"peer{i}", check=True)
            assert name in {d["ifname"] for d in ip_json("link", "show")}
            vnetctl("veth", "del", name, check=True)
        if ns_ok:
            vnetctl("netns", "add", name, check=True)
            assert name in netns_names()
            vnetctl("netns", "del", name, check=True)


@pytest.mark.kernel
def test_cli_refuses_invalid_names_with_exit_2_and_changes_nothing() -> None:
    """The CLI: exit 2, one line naming the name and the reason, no traceback, nothing created."""
    before = snapshot()
    for name, if_ok, ns_ok, _, why in NAMES:
        if not if_ok:
            proc = vnetctl("veth", "add", name, "peer0")
            assert proc.returncode == 2, (name, proc.stderr)
            assert proc.stderr.startswith("Error: invalid interface name") and why in proc.stderr, proc.stderr
            assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        if not ns_ok:
            proc = vnetctl("netns", "add", name)
            assert proc.returncode == 2, (name, proc.stderr)
            assert proc.stderr.startswith("Error: invalid namespace name") and "Traceback" not in proc.stderr
    assert snapshot() == before


@pytest.mark.kernel
def test_long_namespace_name_leaves_nothing() -> None:
    """A name that passes `ip netns add` but not vnetctl's record limit is refused up front (no leaked mount)."""
    proc = vnetctl("netns", "add", "n" * 250)
    assert proc.returncode == 2 and "longer than" in proc.stderr
    assert netns_names() == set() and os.listdir("/run/netns") == []
    vnetctl("netns", "add", "n" * NETNS_MAX, check=True)
    assert netns_names() == {"n" * NETNS_MAX}
    vnetctl("netns", "del", "n" * NETNS_MAX, check=True)
    assert netns_names() == set()


@pytest.mark.kernel
def test_invalid_names_refused_even_without_privilege() -> None:
    """Validation comes before the capability check: an unprivileged bad name still gets exit 2."""
    drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-net_admin,-sys_admin", "--"]
    from tests.helpers import VNETCTL
    proc = subprocess.run(drop + VNETCTL + ["veth", "add", "a/b", "peer0"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid interface name" in proc.stderr
    proc = subprocess.run(drop + VNETCTL + ["veth", "add", "ok0", "peer0"], capture_output=True, text=True)
    assert proc.returncode == 77
