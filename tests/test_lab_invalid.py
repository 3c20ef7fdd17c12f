"""Invalid lab files: every problem reported at once as file:line:col, exit 65, nothing touched."""

from __future__ import annotations

import pytest

from tests.helpers import vnetctl

D = "tests/labs_invalid/"

CASES = {
    "syntax": [f"{D}syntax.yaml:4:4: syntax error: expected <block end>, but found '<block sequence start>'"],
    "unknown_key": [f"{D}unknown_key.yaml:7:5: unknown key 'adresses' in veth (did you mean 'addresses'?)"],
    "duplicate_key": [f"{D}duplicate_key.yaml:7:5: duplicate key 'stp' (first given at line 6, column 5)"],
    "duplicate_name": [f"{D}duplicate_name.yaml:4:11: duplicate namespace 'ns1' (first declared at line 3)",
                       f"{D}duplicate_name.yaml:8:11: duplicate device 'br0' in the host namespace (first declared at line 6)"],
    "dangling": [f"{D}dangling.yaml:5:11: master 'br9' of 'v0' is not a bridge the lab declares in namespace 'ns2'",
                 f"{D}dangling.yaml:6:12: veth 'v0' names namespace 'ns2', which the lab does not declare (did you mean 'ns1'?)"],
    "address_conflict": [f"{D}address_conflict.yaml:10:18: address 10.0.0.1 of 'v1' conflicts with the same address "
                         "at line 6, column 16"],
    "long_name": [f"{D}long_name.yaml:3:11: invalid interface name 'a-bridge-name-too-long': 22 bytes, "
                  "the kernel allows at most 15"],
    "bad_value": [f"{D}bad_value.yaml:4:10: 'vxlan.vni' must be an integer, not a string",
                  f"{D}bad_value.yaml:5:13: 'vxlan.remote': '10.0.0.300' is not an IP address",
                  f"{D}bad_value.yaml:6:16: 'vxlan.addresses': '10.0.0.1' has no prefix length; "
                  "write it as ADDRESS/PREFIX, e.g. 10.1.1.2/24"],
    "template": [f"{D}template.yaml:6:11: unknown name 'j' in {{j}} (known: hosts, i, lab, run)"],
    "many": [f"{D}many.yaml:4:5: unknown key 'loopbak' in namespace (did you mean 'loopback'?)",
             f"{D}many.yaml:7:5: duplicate key 'name' (first given at line 6, column 5)",
             f"{D}many.yaml:10:12: veth 'v0' names namespace 'nsX', which the lab does not declare (did you mean 'ns1'?)",
             f"{D}many.yaml:13:11: ping needs 'to'"],
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("verb", ["plan", pytest.param("up", marks=pytest.mark.kernel)])
def test_every_problem_is_reported_with_its_position(case: str, verb: str) -> None:
    proc = vnetctl("lab", verb, f"{D}{case}.yaml")
    assert proc.returncode == 65, proc.stderr
    lines = proc.stderr.splitlines()
    expected = CASES[case]
    assert lines[:-1] == expected
    assert lines[-1] == f"Error: invalid lab file: {len(expected)} problem(s) — fix the lab file; nothing was changed"
    assert proc.stdout == ""


def test_unknown_parameter_is_a_lab_error() -> None:
    proc = vnetctl("lab", "plan", "labs/star.yaml", "--set", "hostz=3")
    assert proc.returncode == 65
    assert proc.stderr.splitlines()[0] == "labs/star.yaml:5:1: --set hostz=3: unknown key 'hostz' (did you mean 'hosts'?)"


def test_integer_parameter_rejects_text() -> None:
    proc = vnetctl("lab", "plan", "labs/star.yaml", "--set", "hosts=many")
    assert proc.returncode == 65
    assert proc.stderr.splitlines()[0] == "labs/star.yaml:6:10: --set hosts=many: parameter 'hosts' is an integer"


def test_missing_file_is_not_found() -> None:
    proc = vnetctl("lab", "plan", "labs/no-such-lab.yaml")
    assert proc.returncode == 4
    assert "lab file 'labs/no-such-lab.yaml' not found" in proc.stderr


@pytest.mark.parametrize("name", ["..", "../..", "a/b", ".hidden", "x" * 65])
def test_a_lab_name_is_never_a_path(name: str, tmp_path) -> None:
    (tmp_path / "keep").write_text("precious")
    env = {"VNETCTL_STATE_DIR": str(tmp_path / "state" / "vnetctl")}
    for verb in ("down", "status"):
        proc = vnetctl("lab", verb, name, env=env)
        assert proc.returncode == 2, proc.stderr
        assert "invalid lab name" in proc.stderr or "is a directory" in proc.stderr
    assert (tmp_path / "keep").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) in (["keep"], ["keep", "state"])
    assert not list((tmp_path / "state").rglob("lock"))
