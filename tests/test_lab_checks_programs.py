"""The output and holders checks: a lab's programs checked through their log and their tun/tap fds."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

from tests.helpers import sh, snapshot, vnetctl, wait_for
from vnetctl import lab as labs
from vnetctl.errors import LabError
from vnetctl.lab import paths

LAB = f"""
name: progs
namespaces:
  - name: prog
tuntaps:
  - name: tun0
    netns: prog
    mode: tun
    addresses: [192.168.20.1/24]
  - name: tap1
    netns: prog
    mode: tap
processes:
  - name: reader
    netns: prog
    vnetctl: [tuntap, read, tun0]
    ready: {{device: tun0}}
  - name: idle
    netns: prog
    argv: [{sys.executable}, -c, "import time; print('idle', flush=True); time.sleep(600)"]
checks:
  - name: the reader printed the echo requests
    output:
      process: reader
      match: "^Read 84 bytes from tun/tap device: ICMP 192\\\\.168\\\\.20\\\\.1 > 192\\\\.168\\\\.20\\\\.2 echo request"
      count: 3
      trigger: {{ping: {{from: prog, to: 192.168.20.2, count: 3, expect: failure, timeout: 1}}}}
      timeout: 5
  - name: the reader's banner, no trigger
    output: {{process: reader, match: "^reading tun tun0"}}
  - name: tun0 is held by the reader
    holders: {{netns: prog, dev: tun0, process: reader}}
"""
WRONG = """
  - name: a line that never comes
    output: {process: reader, match: "echo reply", trigger: {ping: {from: prog, to: 192.168.20.2, expect: failure, timeout: 1}}, timeout: 1}
  - name: the banner came before the trigger
    output: {process: reader, match: "^reading tun tun0", trigger: {ping: {from: prog, to: 192.168.20.2, expect: failure, timeout: 1}}, timeout: 1}
  - name: more lines than the trigger causes
    output: {process: idle, match: "^idle$", count: 2, timeout: 1}
  - name: idle holds no tun0
    holders: {netns: prog, dev: tun0, process: idle}
  - name: nobody holds tap1
    holders: {netns: prog, dev: tap1, process: reader}
"""


def _load(tmp_path, text: str) -> labs.Lab:
    f = tmp_path / "lab.yaml"
    f.write_text(text)
    return labs.load(str(f))


def _problems(tmp_path, text: str) -> list[str]:
    with pytest.raises(LabError) as e:
        _load(tmp_path, text)
    return [p.split("lab.yaml:", 1)[1] for p in e.value.problems]


def test_check_commands_are_grep_and_fdinfo(tmp_path) -> None:
    cmds = _load(tmp_path, LAB).check_commands()
    run = paths.run_dir("progs")
    assert cmds[0] == ("ip netns exec prog ping -c 3 -i 0.2 -W 1 192.168.20.2; grep -cP '^Read 84 bytes from tun/tap "
                       "device: ICMP 192\\.168\\.20\\.1 > 192\\.168\\.20\\.2 echo request' "
                       f"{run}/reader.log  # expect: at least 3")
    assert cmds[1] == f"grep -cP '^reading tun tun0' {run}/reader.log  # expect: at least 1"
    assert cmds[2] == (f"cat {run}/reader.pid; grep -sHxP 'iff:\\s+tun0' /proc/[0-9]*/fdinfo/*"
                       "  # expect: the pid of process reader")


def test_unknown_process_is_a_dangling_reference_with_its_position(tmp_path) -> None:
    text = LAB.replace("process: reader, match", "process: raeder, match").replace(
        "{netns: prog, dev: tun0, process: reader}", "{netns: prog, dev: tun0, process: ghost}")
    assert _problems(tmp_path, text) == [
        "30:23: output check names process 'raeder', which the lab does not start (did you mean 'reader'?)",
        "32:48: holders check names process 'ghost', which the lab does not start (declare it under 'processes')"]


def test_bad_pattern_count_device_and_keys(tmp_path) -> None:
    text = LAB.replace('match: "^reading tun tun0"', 'match: "(reading"') + """
  - output: {process: reader, match: x, count: 0, trigger: {ping: {from: nope, to: 10.0.0.1}}}
  - holders: {dev: tun0, process: reader}
  - holders: {netns: prog, dev: tun0, process: reader, pid: 3}
  - holders: {netns: prog, process: reader}
  - output: {process: reader, mach: x}
"""
    problems = _problems(tmp_path, text)
    assert problems == [
        "30:38: output check: 'match' '(reading' is not a regular expression: missing ), unterminated subpattern "
        "at position 0",
        "34:13: output trigger names namespace 'nope', which the lab does not declare (declare it under 'namespaces')",
        "34:48: output check: 'count' must be at least 1",
        "35:14: holders check: device 'tun0' is not one the lab declares there",
        "36:56: unknown key 'pid' in holders (known: netns, dev, process)",
        "37:14: holders needs 'dev'",
        "38:13: output needs 'match'",
        "38:31: unknown key 'mach' in output (did you mean 'match'?)",
    ]


def test_holders_of_a_device_that_is_no_tuntap_is_an_error(tmp_path) -> None:
    text = LAB.replace("checks:", """veths:
  - {name: v0, netns: prog, peer: {name: v1, netns: prog}}
checks:""") + "  - holders: {netns: prog, dev: v0, process: reader}\n"
    assert _problems(tmp_path, text) == [
        "35:14: holders check: device 'v0' is not a tun/tap device; only those have holders"]


@pytest.mark.kernel
def test_output_and_holders_pass_and_fail_for_the_right_reasons(tmp_path) -> None:
    before = snapshot()
    good = tmp_path / "progs.yaml"
    good.write_text(LAB)
    up = vnetctl("lab", "up", str(good))
    assert up.returncode == 0, up.stderr
    try:
        ok = vnetctl("lab", "check", str(good), "--json")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        results = json.loads(ok.stdout)
        assert [r["ok"] for r in results] == [True] * 3
        bad = tmp_path / "bad.yaml"
        bad.write_text(LAB + WRONG)
        failed = vnetctl("lab", "check", str(bad), "--json")
        assert failed.returncode == 1, failed.stderr
        got = {r["name"]: r for r in json.loads(failed.stdout)}
        run = paths.run_dir("progs")
        with open(os.path.join(run, "reader.pid")) as f:
            reader = json.load(f)["pid"]
        with open(os.path.join(run, "idle.pid")) as f:
            idle = json.load(f)["pid"]
        fdinfo = sh("sh", "-c", "grep -sHx 'iff:\\s*tun0' /proc/[0-9]*/fdinfo/*", check=False).stdout
        with open(f"/proc/{reader}/comm") as f:
            comm = f.read().strip()
        # the oracle: grep counts in the reader's log, the kernel's fdinfo names who holds tun0
        lines = sh("grep", "-cP", "^Read 84 bytes from tun/tap device: ICMP 192\\.168\\.20\\.1 > 192\\.168\\.20\\.2 echo "
                   "request", os.path.join(run, "reader.log"), check=False).stdout
        replies = sh("grep", "-c", "echo reply", os.path.join(run, "reader.log"), check=False).stdout
    finally:
        assert vnetctl("lab", "down", str(good)).returncode == 0
    assert [r["ok"] for r in got.values()] == [True] * 3 + [False] * 5
    assert int(lines) >= 3 + 3 + 1  # two runs of the first check, one trigger of the first wrong one
    assert int(replies) == 0
    held = re.fullmatch(rf"/proc/{reader}/fdinfo/(\d+):iff:\s+tun0\n", fdinfo)
    assert held
    assert got["the reader printed the echo requests"]["detail"].startswith("3 line(s) of reader's output match")
    assert "0 line(s) of reader's output match (expected at least 1)" in got["a line that never comes"]["detail"]
    assert "0 line(s)" in got["the banner came before the trigger"]["detail"]
    assert "1 line(s) of idle's output match (expected at least 2)" in got["more lines than the trigger causes"]["detail"]
    assert got["tun0 is held by the reader"]["detail"] == f"tun0 is held by {comm} pid {reader} fd {held[1]}; " \
        f"expected reader (pid {reader})"
    assert f"tun0 is held by {comm} pid {reader} fd {held[1]};" in got["idle holds no tun0"]["detail"]
    assert f"expected idle (pid {idle})" in got["idle holds no tun0"]["detail"]
    assert got["nobody holds tap1"]["detail"] == f"tap1 is held by nobody; expected reader (pid {reader})"
    assert snapshot() == before


@pytest.mark.kernel
def test_output_and_holders_fail_once_the_process_is_gone(tmp_path) -> None:
    f = tmp_path / "progs.yaml"
    f.write_text(LAB)
    assert vnetctl("lab", "up", str(f)).returncode == 0
    try:
        with open(os.path.join(paths.run_dir("progs"), "reader.pid")) as pf:
            pid = json.load(pf)["pid"]
        log = os.path.join(paths.run_dir("progs"), "reader.log")
        # 'ready' is the device being held; on a busy machine the banner may come a little later
        wait_for(lambda: "reading tun tun0" in open(log).read(), what="the reader's banner")
        os.kill(pid, 9)
        failed = vnetctl("lab", "check", str(f), "--json")
    finally:
        vnetctl("lab", "down", str(f))
    results = json.loads(failed.stdout)
    assert failed.returncode == 1 and [r["ok"] for r in results] == [False, True, False]
    assert "0 line(s) of reader's output match (expected at least 3)" in results[0]["detail"]
    assert results[2]["detail"] == f"process 'reader' (pid {pid}) is not running"
