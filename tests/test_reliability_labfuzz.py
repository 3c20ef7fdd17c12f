"""Lab files under fire: hypothesis mutates the shipped labs and writes random YAML; the loader
must either accept the file (and then plan it without error) or reject it with LabError, every
problem as `file:line:col: message` — never another exception, never a hang. A few CLI runs
check exit codes 0/65, no traceback, and that a rejected `lab up` changes nothing.
"""

from __future__ import annotations

import glob
import random
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import snapshot, vnetctl
from vnetctl.errors import LabError
from vnetctl.lab import Lab
from vnetctl.lab.checks import CHECK_FIELDS, CHECKS
from vnetctl.lab.schema import SCHEMA
from vnetctl.lab.validate import load_spec

ROOT = Path(__file__).resolve().parent.parent
LABS = {Path(p).name: Path(p).read_text() for p in sorted(glob.glob(str(ROOT / "labs" / "*.yaml")))}
PROBLEM = re.compile(r"^fuzz\.yaml:\d+:\d+: \S")
FIELDS = sorted({k for fields in [*SCHEMA.values(), CHECK_FIELDS] for k in fields} | {k for f in CHECKS.values() for k in f}
                | {"for", "var", "range", "peer", "ready"})
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TIME_LIMIT = 120.0  # a hang guard, not a speed check: one file must never make vnetctl hang (it takes < 1 s idle)


def check(text: str, params: dict[str, str] | None = None) -> str:
    """Load text as a lab file: accepted (and planned), or rejected with well-formed problems."""
    start = time.monotonic()
    try:
        spec = load_spec("fuzz.yaml", params or {}, text=text)
    except LabError as e:
        assert e.problems, "a LabError with no problem"
        bad = [p for p in e.problems if not PROBLEM.match(p) or "\n" in p]
        assert not bad, f"malformed problem lines: {bad[:3]}"
        outcome = "rejected"
    else:
        lab = Lab(spec)
        lab.plan()
        lab.script()
        outcome = "accepted"
    assert time.monotonic() - start < TIME_LIMIT, "loading took too long"
    return outcome


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["h{i}", "{hosts}", "{i // 0}", "10.0.0.1/24", "veth",
                                                           "tap", "{", "}", "{{x}}", "ns1", "eth0", "lo", "a/b"]))
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=8), st.integers(0, 3))
values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(keys, c, max_size=5), max_leaves=25)


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(FIELDS), values, max_size=8), name=scalars)
def test_random_documents(doc: dict[str, Any], name: Any) -> None:
    """Random mappings over the schema's own keys (so they go deep), dumped as YAML."""
    doc = {"name": name, **doc}
    check(yaml.safe_dump(doc, allow_unicode=True))


TOKENS = [":", ": ", "- ", "-", " ", "  ", "\n", "\t", "{", "}", "[", "]", ",", "&a ", "*a", "<<: *a", "!!str ",
          "!!python/object/apply:os.system ['true']", "'", '"', "#", "---", "...", "%YAML 1.1\n", "? ", "|", ">",
          "name", "name: x", "veths", "namespaces", "peer", "for", "{var: i, range: 3}", "h{i}", "\x00", "\ufeff",
          "é", "10.0.0.1/24", "true", "null", "0x10", "1e9", "~"]


@FUZZ
@given(parts=st.lists(st.sampled_from(TOKENS) | st.text(max_size=5), max_size=60))
def test_random_text(parts: list[str]) -> None:
    """Arbitrary text made of YAML's own punctuation and the schema's words."""
    check("".join(parts))


def _mutate_lines(text: str, rnd: random.Random, n: int) -> str:
    lines = text.splitlines()
    for _ in range(n):
        if not lines:
            break
        i, j = rnd.randrange(len(lines)), rnd.randrange(len(lines))
        op = rnd.choice(["del", "dup", "swap", "indent", "dedent", "token", "cut", "key"])
        if op == "del":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])  # duplicate keys, duplicate names, duplicate addresses
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            lines[i] = "  " + lines[i]
        elif op == "dedent":
            lines[i] = lines[i][2:]
        elif op == "token":
            words = lines[i].split(" ")
            words[rnd.randrange(len(words))] = rnd.choice(TOKENS + FIELDS + ["999999999999", "-1", "h{i}"])
            lines[i] = " ".join(words)
        elif op == "cut":
            k = rnd.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:k]
        else:
            lines.insert(i, " " * rnd.choice([0, 2, 4, 6]) + rnd.choice(FIELDS) + ": " + rnd.choice(TOKENS))
    return "\n".join(lines) + "\n"


@FUZZ
@given(lab=st.sampled_from(sorted(LABS)), seed=st.integers(0, 2 ** 32), n=st.integers(1, 6))
def test_mutated_shipped_labs(lab: str, seed: int, n: int) -> None:
    """Each shipped lab with lines deleted, duplicated, swapped, re-indented, cut or altered."""
    check(_mutate_lines(LABS[lab], random.Random(seed), n))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


@FUZZ
@given(lab=st.sampled_from(sorted(LABS)), data=st.data())
def test_mutated_lab_values(lab: str, data: st.DataObject) -> None:
    """Each shipped lab with one value (anywhere in the tree) replaced by a random one."""
    doc = yaml.safe_load(LABS[lab])
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    new = data.draw(values)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    check(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(sets=st.dictionaries(st.text(max_size=8) | st.just("hosts"), st.text(max_size=12) | st.sampled_from(
    ["0", "-1", "70000", "1e3", "4 ", "99999999999999999999999"]), max_size=3))
def test_random_parameters(sets: dict[str, str]) -> None:
    """`--set` with any key and value on the parameterised lab."""
    check(LABS["star.yaml"], sets)


NASTY = {
    "deep nesting": "name: x\nveths: " + "[" * 3000 + "]" * 3000 + "\n",
    "deep mapping": "name: x\n" + "".join(" " * i + f"k{i}:\n" for i in range(400)),
    "huge number": "name: x\nnamespaces:\n  - name: \"a{" + "*".join(["9" * 40] * 130) + "}\"\n",
    "long sum": "name: x\nnamespaces:\n  - name: \"a{" + "+".join(["1"] * 5000) + "}\"\n",
    "alias bomb": "name: x\na: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefg", "bcdefgh")),
    "recursive alias": "name: x\nveths: &v [*v]\n",
    "recursive map": "name: x\nparams: &p {a: *p}\n",
    "nested loops": "name: x\nnamespaces:\n  - for: {var: i, range: 3000}\n    name: \"h{i}\"\n"
                    "    sysctls: {a: [{for: {var: j, range: 3000}, x: 1}]}\n",
    "big range": "name: x\nnamespaces:\n  - for: {var: i, range: 99999999999}\n    name: \"h{i}\"\n",
    "python tag": "name: !!python/object/apply:os.system ['touch /tmp/vnetctl-pwned']\n",
    "nul byte": "name: \x00\n",
    "tab indent": "name: x\n\tveths: []\n",
    "not a mapping": "- name: x\n",
    "empty": "",
    "bom": "\ufeffname: x\n",
}


@pytest.mark.parametrize("what", sorted(NASTY))
def test_nasty_files(what: str) -> None:
    """Files built to crash or hang a loader: deep nesting, alias bombs, recursion, huge numbers, tags."""
    check(NASTY[what])


def _write(tmp: Path, text: str) -> str:
    path = tmp / "fuzz.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.kernel
def test_cli_exit_codes_on_mutated_files(tmp_path: Path) -> None:
    """Through the CLI: plan exits 0 or 65, never a traceback; a rejected up is 65 and touches nothing."""
    rnd = random.Random(1234)
    before = snapshot()
    cases = [_mutate_lines(LABS[rnd.choice(sorted(LABS))], rnd, rnd.randint(1, 4)) for _ in range(6)]
    cases += [NASTY["deep nesting"], NASTY["alias bomb"], NASTY["huge number"], NASTY["python tag"]]
    rejected = 0
    for text in cases:
        path = _write(tmp_path, text)
        plan = vnetctl("lab", "plan", path)
        assert plan.returncode in (0, 65), plan.stderr
        assert "Traceback" not in plan.stderr and "internal error" not in plan.stderr, plan.stderr
        if plan.returncode == 65:
            rejected += 1
            assert all(PROBLEM.sub("", ln) != ln or ln.startswith("Error:")
                       for ln in plan.stderr.replace(path, "fuzz.yaml").splitlines()), plan.stderr
            up = vnetctl("lab", "up", path)
            assert up.returncode == 65 and "Traceback" not in up.stderr
            assert snapshot() == before
    assert rejected >= 4
