"""Lab loading, templating and planning without a kernel."""

from __future__ import annotations

import glob
import json

import pytest

from vnetctl import lab as labs
from vnetctl.errors import LabError
from vnetctl.lab.journal import _rebuild
from vnetctl.lab.plan import digest
from vnetctl.lab.process import ProcessStart, resolve_argv
from vnetctl.lab.template import TemplateError, substitute
from vnetctl.lab.yamlload import load_text
from vnetctl.ops.link import LinkAdd, LinkSet
from vnetctl.ops.netns import NetnsAdd
from vnetctl.ownership import marker
from vnetctl.steps import Step

SHIPPED = sorted(glob.glob("labs/*.yaml"))


@pytest.mark.parametrize("path", SHIPPED)
def test_every_shipped_lab_loads_plans_and_round_trips_through_the_journal(path: str) -> None:
    lab = labs.load(path)
    steps = lab.plan()
    assert steps and lab.spec.checks, "every shipped lab makes something and checks it"
    for step in steps:
        record = json.loads(json.dumps(step.to_record()))
        assert Step.from_record(record) == step
        assert _rebuild(record) == step  # the journal's fast path: same Step, no checks re-run
    for check in lab.spec.checks:
        assert "@" not in check.args and all("@" not in v for v in check.args.values() if isinstance(v, dict))
    assert lab.script()[0] == "#!/bin/sh"


def test_veth_lab_plan_is_the_article_script() -> None:
    lines = labs.load("labs/veth-netns.yaml").script()
    body = [ln for ln in lines if not ln.startswith("#")]
    assert body == [
        "set -e",
        "umask 077",
        "mkdir -p /run/vnetctl/plans/veth-netns/run /run/vnetctl/plans/veth-netns/pids",
        "ip netns add ns1",
        'echo ns1 "$(stat -L -c %i /run/netns/ns1)" >>/run/vnetctl/plans/veth-netns/netns',
        "ip netns add ns2",
        'echo ns2 "$(stat -L -c %i /run/netns/ns2)" >>/run/vnetctl/plans/veth-netns/netns',
        "ip link add vethDemo0 netns ns1 type veth peer name vethDemo1 netns ns2",
        # a plan's marker: what `sh` makes of the script is never taken for what `lab up` made
        f"ip -n ns1 link property add dev vethDemo0 altname {marker('plan:veth-netns', 'vethDemo0')}",
        f"ip -n ns2 link property add dev vethDemo1 altname {marker('plan:veth-netns', 'vethDemo1')}",
        "ip -n ns1 addr add 10.1.1.2/24 dev vethDemo0",
        "ip -n ns1 link set dev vethDemo0 up",
        "ip -n ns2 addr add 10.1.1.3/24 dev vethDemo1",
        "ip -n ns2 link set dev vethDemo1 up",
    ]


def test_star_expands_per_host_and_params_change_the_digest() -> None:
    three = labs.load("labs/star.yaml", {"hosts": 3})
    assert [ns.name for ns in three.spec.namespaces] == ["h0", "h1", "h2"]
    peers = [d.peer for d in three.spec.devices if d.kind == "veth"]
    assert [(p.netns, p.addresses) for p in peers if p] == [
        ("h0", ("10.10.0.1/16",)), ("h1", ("10.10.0.2/16",)), ("h2", ("10.10.0.3/16",))]
    assert three.spec.checks[0].args["to"] == "10.10.0.3"
    big = labs.load("labs/star.yaml", {"hosts": 300})
    assert big.spec.namespaces[299].name == "h299"
    assert big.spec.devices[-1].peer.addresses == ("10.10.1.50/16",)  # type: ignore[union-attr]
    assert digest(three.plan()) == digest(labs.load("labs/star.yaml", {"hosts": 3}).plan())
    assert digest(three.plan()) != digest(labs.load("labs/star.yaml", {"hosts": 4}).plan())


def test_star_steps_per_host() -> None:
    steps = labs.load("labs/star.yaml", {"hosts": 2}).plan()
    kinds = [type(s).__name__ for s in steps]
    assert kinds.count("NetnsAdd") == 2 and kinds.count("LinkAdd") == 3
    veth = next(s for s in steps if isinstance(s, LinkAdd) and s.kind == "veth")
    assert (veth.name, veth.peer, veth.peer_netns, veth.owner) == ("vs0", "eth0", "h0", "star")
    assert all(s.owner == "star" for s in steps if isinstance(s, (NetnsAdd, LinkAdd)))
    assert LinkSet("vs0", "master", "br-star") in steps


def test_substitution_types_and_errors() -> None:
    env = {"i": 7, "run": "/run/x"}
    assert substitute("h{i}", env, (1, 1)) == "h7"
    assert substitute("{i * 2 + 1}", env, (1, 1)) == 15
    assert substitute("{run}/leases", env, (1, 1)) == "/run/x/leases"
    assert substitute("a{{b}}", env, (1, 1)) == "a{b}"
    for bad, msg in [("{i ** 2}", "unsupported expression"), ("{__import__('os')}", "unsupported expression"),
                     ("{i // 0}", "division by zero"), ("{run + 1}", "needs integers"), ("x{y", "unbalanced")]:
        with pytest.raises(TemplateError, match=msg):
            substitute(bad, env, (1, 1))


def test_duplicate_keys_are_all_recorded_with_positions() -> None:
    doc, problems = load_text("a: 1\nb: 2\na: 3\nc:\n  d: 1\n  d: 2\n")
    assert doc == {"a": 1, "b": 2, "c": {"d": 1}}
    assert problems == [((3, 1), "duplicate key 'a' (first given at line 1, column 1)"),
                        ((6, 3), "duplicate key 'd' (first given at line 5, column 3)")]


def test_processes_run_vnetctl_itself_and_need_explicit_shell(tmp_path) -> None:
    import sys
    assert resolve_argv(("vnetctl", "tuntap", "read", "tun0"))[:3] == [sys.executable, "-m", "vnetctl"]
    f = tmp_path / "p.yaml"
    f.write_text("name: p\nprocesses:\n  - name: a\n    vnetctl: [tuntap, read, tun0]\n    ready: {device: tun0}\n"
                 "  - name: b\n    command: echo hi\n")
    with pytest.raises(LabError) as e:
        labs.load(str(f))
    assert e.value.problems == [f"{f}:6:5: process 'b': 'command' is a shell string and needs 'shell: true' (or use argv)"]
    f.write_text(f.read_text() + "    shell: true\n")
    steps = labs.load(str(f)).plan()
    assert [s.argv for s in steps if isinstance(s, ProcessStart)] == [("vnetctl", "tuntap", "read", "tun0"),
                                                                      ("sh", "-c", "echo hi")]


def test_a_program_may_not_write_over_vnetctl_s_own_record_of_it(tmp_path, monkeypatch) -> None:
    """{run}/NAME.pid and NAME.log are vnetctl's: a program writing its pid there would overwrite the record."""
    monkeypatch.setenv("VNETCTL_STATE_DIR", str(tmp_path))
    f = tmp_path / "p.yaml"
    f.write_text("name: p\nprocesses:\n  - name: dns\n    argv: [dnsmasq, '--pid-file={run}/dns.pid']\n")
    with pytest.raises(LabError) as e:
        labs.load(str(f))
    assert e.value.problems == [f"{f}:3:5: process 'dns': {tmp_path}/labs/p/run/dns.pid is where vnetctl keeps this "
                                "process's own record; give the program's file another name"]
    f.write_text(f.read_text().replace("dns.pid", "dns-daemon.pid"))
    assert labs.load(str(f)).plan()


def test_runtime_dir_substitution_is_per_lab(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VNETCTL_STATE_DIR", str(tmp_path))
    lab = labs.load("labs/openstack-dhcp.yaml")
    proc = next(s for s in lab.plan() if isinstance(s, ProcessStart))
    assert f"--dhcp-leasefile={tmp_path}/labs/openstack-dhcp/run/dnsmasq.leases" in proc.argv
    assert "--port=0" in proc.argv and "--bind-interfaces" in proc.argv


def test_every_schema_key_has_a_documented_example() -> None:
    import re

    from vnetctl.lab.checks import CHECK_FIELDS, CHECKS
    from vnetctl.lab.schema import SCHEMA
    with open("docs/labs.md") as f:
        doc = f.read()
    blocks = "\n".join(re.findall(r"```yaml\n(.*?)```", doc, re.S))
    keys = {k for fields in [*SCHEMA.values(), CHECK_FIELDS, *CHECKS.values()] for k in fields} | {"ready", "device", "port", "file"}
    missing = sorted(k for k in keys if not re.search(rf"(^|[\s{{,-]){re.escape(k)}:", blocks, re.M))
    assert missing == []


def test_a_plan_marker_is_distinct_from_the_lab_marker_and_names_its_owner() -> None:
    from vnetctl.ownership import owner_of, plan_owner
    plan = marker(plan_owner("veth-netns"), "vethDemo0")
    assert plan.startswith("vnet-p-veth-netns-") and plan != marker("veth-netns", "vethDemo0")
    assert owner_of([plan]) == "plan:veth-netns" and owner_of([marker("veth-netns", "x")]) == "veth-netns"
