"""Lab devices are made in dependency order (lower device, bridge), whatever order the file declares them in."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import link, vnetctl
from vnetctl.errors import LabError
from vnetctl.lab.plan import compile_steps
from vnetctl.lab.validate import load_spec

# Sections in an order the old section-by-section plan could not make: the vxlan's underlay is a
# macvlan (made after vxlans), the macvlan sits on a veth, the veth's peer is a port of a bridge
# the file declares last.
LAB = """name: order
namespaces: [{name: n1}]
vxlans:
  - {name: vx0, netns: n1, vni: 5, dev: mv0, remote: 10.0.0.2, local: 10.0.0.1, addresses: [10.5.0.1/24]}
macvlans:
  - {name: mv0, netns: n1, dev: u1, addresses: [10.0.0.1/24]}
veths:
  - {name: u1, netns: n1, peer: {name: u2, netns: n1, master: br0}}
bridges:
  - {name: br0, netns: n1}
"""


def test_devices_follow_what_they_need() -> None:
    made = [s.name for s in compile_steps(load_spec("order.yaml", text=LAB)) if type(s).__name__ == "LinkAdd"]
    assert made == ["br0", "u1", "mv0", "vx0"]


def test_without_dependencies_the_declaration_order_stays() -> None:
    text = "name: plain\nbridges: [{name: b1}, {name: b0}]\nveths: [{name: a1, peer: {name: a2}}]\n"
    made = [s.name for s in compile_steps(load_spec("plain.yaml", text=text)) if type(s).__name__ == "LinkAdd"]
    assert made == ["b1", "b0", "a1"]


@pytest.mark.parametrize("text,problem", [
    ("vxlans: [{name: a, vni: 1, dev: b}, {name: b, vni: 2, dev: c}, {name: c, vni: 3, dev: b}]",
     "c.yaml:2:44: b -> c -> b: these devices need each other (through dev or master); break the cycle"),
    ("macvlans: [{name: m0, dev: m1}, {name: m1, dev: m0}]",
     "c.yaml:2:19: m0 -> m1 -> m0: these devices need each other (through dev or master); break the cycle"),
    ("vxlans: [{name: a, vni: 1, dev: nowhere}]",
     "c.yaml:2:17: dev 'nowhere' of 'a' is not a device the lab declares in the host namespace"),
])
def test_a_cycle_or_a_dangling_reference_is_a_load_error(text: str, problem: str) -> None:
    with pytest.raises(LabError) as e:
        load_spec("c.yaml", text="name: cyc\n" + text + "\n")
    assert e.value.problems == [problem]


@pytest.mark.kernel
def test_a_lab_declared_out_of_order_comes_up(tmp_path: Path) -> None:
    f = tmp_path / "order.yaml"
    f.write_text(LAB)
    vnetctl("lab", "up", str(f), check=True)
    vx, mv, u2 = link("vx0", "n1"), link("mv0", "n1"), link("u2", "n1")
    assert vx is not None and vx["linkinfo"]["info_data"]["link"] == "mv0"
    assert mv is not None and mv["link"] == "u1" and mv["linkinfo"]["info_kind"] == "macvlan"
    assert u2 is not None and u2["master"] == "br0"
    vnetctl("lab", "down", str(f), check=True)
    assert link("br0", "n1") is None


def test_a_check_kind_is_one_class() -> None:
    """A new check kind registered as one class is accepted by the loader, planned and run."""
    from vnetctl.lab import checks
    from vnetctl.lab.schema import F

    @checks.register
    class Always(checks.CheckKind):
        """A check that passes when told to (for this test)."""

        name = "always"
        schema = {"netns": F("netns"), "pass": F("bool", True)}

        def run(self, args: dict, spec: object) -> tuple[bool, str]:
            return args["pass"], "as told"

        def command(self, args: dict) -> str:
            return "true" if args["pass"] else "false"

    try:
        spec = load_spec("a.yaml", text="name: a\nnamespaces: [{name: n1}]\nchecks:\n"
                                        "  - {name: good, always: {netns: n1, pass: true}}\n  - always: {pass: false}\n")
        assert [checks.command_of(c) for c in spec.checks] == ["true", "false"]
        assert [(r.name, r.ok) for r in checks.run_checks(spec)] == [("good", True), ("always #2", False)]
        with pytest.raises(LabError) as e:
            load_spec("a.yaml", text="name: a\nchecks:\n  - always: {netns: nsX, pass: true}\n")
        assert e.value.problems == ["a.yaml:3:13: always check names namespace 'nsX', which the lab does not declare "
                                    "(declare it under 'namespaces')"]
    finally:
        checks.CHECK_KINDS.pop("always")
