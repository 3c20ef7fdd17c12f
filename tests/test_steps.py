"""Steps without a kernel: command rendering, journal records, planning of CLI operations."""

from __future__ import annotations

import dataclasses

import pytest

from vnetctl import api
from vnetctl.errors import InvalidName, UsageError
from vnetctl.ops.addr import AddrAdd
from vnetctl.ops.link import LinkAdd, LinkSet
from vnetctl.ops.netns import NetnsAdd
from vnetctl.ops.route import RouteAdd
from vnetctl.ops.sysctl import SysctlSet
from vnetctl.ops.tuntap import TuntapAdd
from vnetctl.ownership import is_owned, marker, owner_of
from vnetctl.steps import Step, ip


def test_ip_prefix_for_each_kind_of_namespace_reference() -> None:
    assert ip(None, "link", "show") == "ip link show"
    assert ip("ns1", "link", "show") == "ip -n ns1 link show"
    assert ip("pid:42", "link") == "nsenter --net=/proc/42/ns/net ip link"
    assert ip("/var/run/docker/netns/abc", "link") == "nsenter --net=/var/run/docker/netns/abc ip link"


def test_veth_plan_matches_the_article_commands() -> None:
    steps = api.veth_add("vethDemo0", "vethDemo1", "ns1", "ns2", "10.1.1.2/24", "10.1.1.3/24", dry_run=True)
    lines = "\n".join(s.command() for s in steps).splitlines()
    assert lines[0] == "ip link add vethDemo0 netns ns1 type veth peer name vethDemo1 netns ns2"
    assert lines[1] == f"ip -n ns1 link property add dev vethDemo0 altname {marker('cli', 'vethDemo0')}"
    assert lines[2] == f"ip -n ns2 link property add dev vethDemo1 altname {marker('cli', 'vethDemo1')}"
    assert lines[3:] == [
        "ip -n ns1 addr add 10.1.1.2/24 dev vethDemo0",
        "ip -n ns2 addr add 10.1.1.3/24 dev vethDemo1",
        "ip -n ns1 link set dev vethDemo0 up",
        "ip -n ns2 link set dev vethDemo1 up",
    ]


def test_other_commands_render_like_iproute2() -> None:
    assert TuntapAdd("tun2", "tun").command().splitlines()[0] == "ip tuntap add dev tun2 mode tun"
    assert TuntapAdd("tap0", "tap", user="1000", multi_queue=True).command().splitlines()[0] == \
        "ip tuntap add dev tap0 mode tap user 1000 multi_queue"
    assert LinkAdd("br0", "bridge", options=(("stp", True),)).command().splitlines()[0] == \
        "ip link add br0 type bridge stp_state 1"
    vx = LinkAdd("vx0", "vxlan", netns="n1", options=(("vni", 42), ("remote", "10.0.0.2"), ("dstport", 4789)),
                 lower="eth0")
    assert vx.command().splitlines()[0] == "ip -n n1 link add vx0 type vxlan id 42 remote 10.0.0.2 dstport 4789 dev eth0"
    assert LinkSet("a", "master", "br0").command() == "ip link set dev a master br0"
    assert LinkSet("a", "master", "").command() == "ip link set dev a nomaster"
    assert LinkSet("a", "netns", "ns2", netns="ns1").command() == "ip -n ns1 link set dev a netns ns2"
    assert RouteAdd("default", via="10.0.0.1").command() == "ip route add default via 10.0.0.1 proto static"
    assert SysctlSet("net.ipv4.ip_forward", "1", "r").command() == "ip netns exec r sysctl -w net.ipv4.ip_forward=1"
    assert NetnsAdd("ns1").command() == "ip netns add ns1"


def test_link_set_orders_rename_before_move_and_up_after_move() -> None:
    steps = api.link_set("a", "ns1", up=True, mtu=1400, to_netns="ns2", new_name="b", dry_run=True)
    assert [s.command() for s in steps] == [
        "ip -n ns1 link set dev a name b",
        "ip -n ns1 link set dev b mtu 1400",
        "ip -n ns1 link set dev b netns ns2",
        "ip -n ns2 link set dev b up",
    ]


@pytest.mark.parametrize("step", [
    NetnsAdd("ns1", owner="lab1"),
    LinkAdd("v0", "veth", netns="a", peer="v1", peer_netns="b", owner="lab1"),
    LinkAdd("vx", "vxlan", options=(("vni", 7), ("remote", "192.0.2.1"))),
    LinkSet("v0", "up", True, "a"),
    AddrAdd("10.0.0.1/24", "v0", "a"),
    RouteAdd("10.9.0.0/16", via="10.0.0.2", netns="a"),
    TuntapAdd("tap0", "tap", user="1000"),
    SysctlSet("net.ipv4.ip_forward", "1", "a"),
])
def test_journal_records_round_trip(step: Step) -> None:
    assert Step.from_record(step.to_record()) == step


def test_bad_arguments_are_refused_before_any_kernel_call() -> None:
    with pytest.raises(UsageError, match="no prefix length"):
        AddrAdd("10.0.0.1", "v0")
    with pytest.raises(UsageError, match="invalid tuntap mode"):
        TuntapAdd("t0", "tunnel")
    with pytest.raises(InvalidName, match="at most 15"):
        LinkAdd("a" * 16, "bridge")
    with pytest.raises(UsageError, match="has no option"):
        LinkAdd("br0", "bridge", options=(("vni", 1),))
    with pytest.raises(UsageError, match="needs --via or --dev"):
        RouteAdd("10.0.0.0/8")
    with pytest.raises(UsageError, match="invalid sysctl"):
        SysctlSet("kernel.panic", "1")
    with pytest.raises(UsageError, match="contradict"):
        api.link_set("a", master="br0", nomaster=True, dry_run=True)


def test_ownership_marker_is_unique_per_name_and_names_its_owner() -> None:
    a, b = marker("lab1", "v0"), marker("lab1", "v1")
    assert a != b and len(a) < 128
    assert owner_of(("eth0-alt", a)) == "lab1"
    assert is_owned((a,), "lab1") and not is_owned((a,), "lab2") and not is_owned(("vnet-o",))


def test_steps_carry_their_own_teardown_knowledge() -> None:
    lab_ns = {"nsA"}
    veth = LinkAdd("a", "veth", netns="nsA", peer="b", owner="lab")
    made = set(veth.creates()) | {(None, "br0")}
    assert veth.creates() == [("nsA", "a"), (None, "b")] and veth.dies_with(lab_ns) == [(None, "b")]
    assert NetnsAdd("nsA").creates_namespace() == "nsA" and NetnsAdd("nsA").creates() == []
    assert AddrAdd("10.0.0.1/24", "br0").vanishes_with(lab_ns, made)
    assert not AddrAdd("10.0.0.1/24", "eth9").vanishes_with(lab_ns, made)
    assert RouteAdd("default", via="10.0.0.1", netns="nsA").vanishes_with(lab_ns, made)
    assert SysctlSet("net.ipv4.ip_forward", "1", netns="nsA").vanishes_with(lab_ns, made)
    assert not SysctlSet("net.ipv4.ip_forward", "1").vanishes_with(lab_ns, made)
    assert TuntapAdd("t0", "tap", netns="nsA").vanishes_with(lab_ns, made)
    assert LinkSet("a", "netns", "nsB", netns="nsA").namespaces() == ["nsA", "nsB"]


def test_a_new_step_type_is_one_class() -> None:
    """teardown asks the Step: a Step class defined here is undone unless it says it vanishes."""
    from vnetctl.lab.journal import Entry
    from vnetctl.lab.teardown import teardown
    from vnetctl.steps import Session

    undone: list[str] = []

    @dataclasses.dataclass(frozen=True)
    class Note(Step):
        text: str
        netns: str | None = None
        makes: str | None = None

        def apply(self, s: Session) -> None:
            return None

        def undo(self, s: Session, receipt: object) -> None:
            undone.append(self.text)

        def command(self) -> str:
            return f"# {self.text}"

        def creates_namespace(self) -> str | None:
            return self.makes

        def vanishes_with(self, lab_ns: set[str], made: set[tuple[str | None, str]]) -> bool:
            return self.netns in lab_ns

    entries = [Entry(0, Note("space", makes="vnetctl-test-none")), Entry(1, Note("kept")),
               Entry(2, Note("inside", netns="vnetctl-test-none")), Entry(3, Note("last"))]
    for e in entries:
        e.done = True
    with Session() as s:
        assert teardown(entries, s) == []
    assert undone == ["last", "kept", "space"]


def test_no_module_imports_another_modules_private_names() -> None:
    import pathlib
    import re
    root = pathlib.Path(__file__).resolve().parent.parent / "vnetctl"
    private = re.compile(r"^\s*from \.+[\w.]* import .*\b_[a-z]\w*", re.M)
    found = [f"{p.relative_to(root)}: {m.group(0).strip()}" for p in root.rglob("*.py") for m in private.finditer(p.read_text())]
    assert found == []
