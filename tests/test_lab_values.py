"""Values, not just structure: every number, name and pattern of a lab file is checked at load.

Each file below once passed `lab plan` and failed in the middle of `lab up` (or wrote where it
must not); now each is refused at load with exit 65 and `file:line:col`, every problem listed,
nothing touched. The plan script can never run text of the lab file as a command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import snapshot, vnetctl
from vnetctl.errors import LabError
from vnetctl.lab import Lab
from vnetctl.lab.checks import CheckKind, register, run_checks
from vnetctl.lab.spec import Check, LabSpec
from vnetctl.lab.validate import load_spec

BASE = """name: vals
namespaces:
  - name: a
veths:
  - {{name: v0, netns: a, {veth}peer: {{name: v1, netns: a}}}}
tuntaps:
  - {{name: t0, netns: a, mode: tap{tuntap}}}
routes:
  - {{to: 10.0.0.0/24, dev: v0, netns: a{route}}}
processes:
  - {{name: {pname}, netns: a, argv: [sleep, {arg}]{env}}}
checks:
  - {{name: cap, capture: {{netns: a, dev: v0, trigger: {{ping: {{from: a, to: 10.0.0.2}}}}, expect: [{expect}]}}}}
"""
GOOD = dict(veth="", tuntap="", route="", pname="p", arg='"100"', env="", expect='"arp request"')

# (field overrides, what the one problem line must say)
BAD = {
    "mtu 0": (dict(veth="mtu: 0, "), "'veth.mtu' must be between 68 and 65535, not 0"),
    "mtu 1e11": (dict(veth="mtu: 100000000000, "), "'veth.mtu' must be between 68 and 65535"),
    "5000 digits": (dict(veth=f"mtu: {'9' * 5000}, "), "integer of 5000 digits"),
    "uid too big": (dict(tuntap=", user: 99999999999"), "'tuntap.user' must be a user or group name, or an id from 0"),
    "group not a name": (dict(tuntap=", group: 'a b'"), "'tuntap.group': 'a b' is not a user or group name"),
    "mixed families": (dict(route=", via: 'fe80::1'"), "one address family per route"),
    "NUL in argv": (dict(arg='"a\\0b"'), "an argument contains a NUL character"),
    "= in env key": (dict(env=", env: {'A=B': x}"), "is not an environment variable name"),
    "process name a path": (dict(pname="'../../../../tmp/evil'"), "invalid process name '../../../../tmp/evil'"),
    "process name absolute": (dict(pname="/tmp/abs"), "invalid process name '/tmp/abs'"),
    "process name with /": (dict(pname="a/b"), "invalid process name 'a/b'"),
    "process name empty": (dict(pname="''"), "invalid process name ''"),
    "bad regex": (dict(expect='"(unclosed"'), "expected item '(unclosed' is not a regular expression"),
    "addrgenmode unknown": (dict(veth="addrgenmode: nope, "),
                            "'veth.addrgenmode' must be one of eui64, none, stable_secret, random, not 'nope' (did you mean 'none'?)"),
    "addrgenmode of a tap": (dict(tuntap=", addrgenmode: stable-secret"), "'tuntap.addrgenmode' must be one of eui64, none"),
}
SYSCTLS = {
    "sysctl key a path": ('"net/ipv4/../x": 1', "invalid sysctl 'net/ipv4/../x'"),
    "sysctl not net": ("kernel.panic: 1", "invalid sysctl 'kernel.panic'"),
    "sysctl value two lines": ('net.ipv4.ip_forward: "1\\n2"', "must be one line of printable text"),
}
VXLAN = {
    "vni 2^24": ("vni: 16777216", "must be between 0 and 16777215"),
    "port 65536": ("vni: 1, dstport: 65536", "must be between 1 and 65535"),
    "ttl 256": ("vni: 1, ttl: 256", "must be between 0 and 255"),
}


def lab_text(**over: str) -> str:
    """The base lab with some fields replaced."""
    return BASE.format(**{**GOOD, **over})


def problems(text: str) -> list[str]:
    """The loader's problem lines for text (empty when it is accepted)."""
    try:
        load_spec("vals.yaml", {}, text=text)
    except LabError as e:
        return e.problems
    return []


def test_the_base_lab_is_valid() -> None:
    assert problems(lab_text()) == []


@pytest.mark.parametrize("what", sorted(BAD))
def test_bad_value_refused_at_load(what: str) -> None:
    over, message = BAD[what]
    got = problems(lab_text(**over))
    assert len(got) == 1 and message in got[0], got
    assert got[0].startswith("vals.yaml:") and got[0].split(":")[1].isdigit()


@pytest.mark.parametrize("what", sorted(SYSCTLS))
def test_bad_sysctl_refused_at_load(what: str) -> None:
    entry, message = SYSCTLS[what]
    got = problems(f"name: s\nnamespaces:\n  - name: a\n    sysctls: {{{entry}}}\n")
    assert len(got) == 1 and message in got[0], got


@pytest.mark.parametrize("what", sorted(VXLAN))
def test_bad_vxlan_value_refused_at_load(what: str) -> None:
    entry, message = VXLAN[what]
    got = problems(f"name: x\nnamespaces:\n  - name: a\nvxlans:\n  - {{name: vx0, netns: a, remote: 10.0.0.2, {entry}}}\n")
    assert len(got) == 1 and message in got[0], got


def test_bad_addrgenmode_of_a_peer_and_a_bridge_refused_at_load() -> None:
    got = problems("name: g\nnamespaces: [{name: a}]\nbridges: [{name: b0, netns: a, addrgenmode: 1}]\n"
                   "veths: [{name: v0, netns: a, peer: {name: v1, netns: a, addrgenmode: EUI64}}]\n")
    assert [line.split(": ", 1)[1] for line in got] == [
        "'bridge.addrgenmode' must be a string, not an integer",
        "'veth.peer.addrgenmode' must be one of eui64, none, stable_secret, random, not 'EUI64'"]


ADDRGEN_LAB = """name: g
namespaces: [{name: a}, {name: b}]
bridges: [{name: br0, netns: a, addrgenmode: none}]
veths:
  - {name: v0, netns: a, master: br0, mtu: 1400, addrgenmode: random, peer: {name: eth0, netns: b, addrgenmode: none,
     addresses: [10.0.0.2/24]}}
tuntaps: [{name: t0, netns: a, mode: tap, master: br0, addrgenmode: none}]
vxlans: [{name: vx0, netns: b, vni: 7, remote: 10.0.0.3, dev: eth0, addrgenmode: eui64}]
"""


def test_addrgenmode_is_set_first_on_every_kind_before_up() -> None:
    from vnetctl.lab.plan import compile_steps
    commands = [s.command() for s in compile_steps(load_spec("g.yaml", {}, text=ADDRGEN_LAB))]
    for ns, dev, mode in (("a", "br0", "none"), ("a", "v0", "random"), ("b", "eth0", "none"), ("a", "t0", "none"),
                          ("b", "vx0", "eui64")):
        mine = [c for c in commands if c.startswith(f"ip -n {ns} ") and f" dev {dev} " in c + " " and "altname" not in c]
        assert mine[0] == f"ip -n {ns} link set dev {dev} addrgenmode {mode}", mine  # before mtu, master, addresses
        assert mine[-1] == f"ip -n {ns} link set dev {dev} up", mine


def test_a_journal_read_in_a_fresh_process_knows_every_step_a_lab_compiles_to() -> None:
    from vnetctl.lab.plan import compile_steps
    kinds = sorted({type(s).__name__ for s in compile_steps(load_spec("g.yaml", {}, text=ADDRGEN_LAB))})
    code = "import sys; import vnetctl.lab.journal; from vnetctl.steps import step_class; [step_class(n) for n in sys.argv[1:]]"
    subprocess.run([sys.executable, "-c", code, *kinds], check=True)


def test_every_problem_at_once() -> None:
    text = lab_text(veth="mtu: 0, ", tuntap=", user: 99999999999", pname="a/b", expect='"(x"')
    assert len(problems(text)) == 4


def test_too_many_ports_on_one_bridge() -> None:
    ports = "\n".join(f"  - {{name: p{i}, master: br0, peer: {{name: q{i}}}}}" for i in range(1024))
    got = problems(f"name: big\nbridges:\n  - {{name: br0}}\nveths:\n{ports}\n")
    assert len(got) == 1 and "bridge 'br0' has 1024 ports" in got[0] and "at most 1023" in got[0]
    ok = "\n".join(f"  - {{name: p{i}, master: br0, peer: {{name: q{i}}}}}" for i in range(1023))
    assert problems(f"name: big\nbridges:\n  - {{name: br0}}\nveths:\n{ok}\n") == []


INJECT = """name: inj
description: "hello\\ntouch /tmp/pwned-desc"
namespaces:
  - name: a
veths:
  - {name: v0, netns: a, peer: {name: v1, netns: a}}
processes:
  - {name: p, netns: a, argv: [sleep, "100"]}
checks:
  - name: "x\\ntouch /tmp/pwned-check"
    ping: {from: a, to: 10.0.0.1}
  - name: cap
    capture: {netns: a, dev: v0, trigger: {ping: {from: a, to: 10.0.0.1}}, expect: ["a\\ntouch /tmp/pwned-cap"]}
  - name: out
    output: {process: p, match: "m\\ntouch /tmp/pwned-out"}
"""


def _commands(script: list[str]) -> list[str]:
    """The lines sh would run as commands (not comments)."""
    return [line for line in "\n".join(script).splitlines() if line and not line.startswith("#")]


def test_plan_script_never_runs_text_of_the_lab(tmp_path: Path) -> None:
    script = Lab(load_spec("inj.yaml", {}, text=INJECT)).script()
    assert not [line for line in _commands(script) if "pwned" in line]
    assert any("hello\\ntouch /tmp/pwned-desc" in line for line in script if line.startswith("#"))
    # and sh agrees: parsing the script (sh -n) then listing what it would run finds no touch
    path = tmp_path / "plan.sh"
    path.write_text("\n".join(script) + "\n")
    assert subprocess.run(["sh", "-n", str(path)]).returncode == 0


def test_set_values_stay_literal(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text('name: s\ndescription: "d {x}"\nparams: {x: "1"}\nnamespaces:\n  - name: a\n')
    proc = vnetctl("lab", "plan", str(f), "--set", "x=a\ntouch /tmp/pwned-set")
    assert proc.returncode == 0, proc.stderr
    assert not [line for line in _commands(proc.stdout.splitlines()) if "pwned" in line]


class _Broken(CheckKind):
    """A check whose runner fails in a way no check should (stands for any unforeseen error)."""

    name = "broken-for-test"

    def run(self, args: dict, spec: LabSpec) -> tuple[bool, str]:  # type: ignore[type-arg]
        raise ValueError("boom")


def test_a_check_that_cannot_run_is_a_failed_row_and_the_rest_still_run() -> None:
    register(_Broken)
    try:
        spec = LabSpec("c", "c.yaml", "", {}, checks=(Check("broken-for-test", "first", "c.yaml:1:1"),
                                                      Check("broken-for-test", "second", "c.yaml:2:1")))
        results = run_checks(spec)
    finally:
        from vnetctl.lab.checks import CHECK_KINDS
        CHECK_KINDS.pop("broken-for-test", None)
    assert [(r.name, r.ok) for r in results] == [("first", False), ("second", False)]
    assert results[0].detail == "could not run: ValueError: boom"


VALUE_CLASSES = [v for v, _ in BAD.values()]


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(range(len(VALUE_CLASSES))), min_size=1, max_size=4, unique=True))
def test_fuzz_value_classes_always_refused_with_every_problem(picks: list[int]) -> None:
    over: dict[str, str] = {}
    for i in picks:
        if not set(VALUE_CLASSES[i]) & set(over):  # one bad value per field
            over.update(VALUE_CLASSES[i])
    applied = sum(1 for i in picks if all(over.get(k) == v for k, v in VALUE_CLASSES[i].items()))
    got = problems(lab_text(**over))
    assert len(got) == applied, got
    assert all(line.startswith("vals.yaml:") and "\n" not in line for line in got)


@pytest.mark.kernel
@pytest.mark.parametrize("what", sorted(BAD))
def test_lab_up_of_a_bad_value_is_65_and_touches_nothing(what: str, tmp_path: Path) -> None:
    f = tmp_path / "vals.yaml"
    f.write_text(lab_text(**BAD[what][0]))
    before = snapshot()
    proc = vnetctl("lab", "up", str(f))
    assert proc.returncode == 65, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert snapshot() == before
    assert not Path("/tmp/evil.log").exists() and not Path("/tmp/abs.log").exists()
