"""Processes a lab starts: argv lists (never a shell unless the lab says so), tracked by pid
and start time, gone after `down` (children included) even when vnetctl itself was killed -9;
never killed by name.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers import VNETCTL, vnetctl, wait_for

pytestmark = pytest.mark.kernel

PWNED = "/tmp/vnetctl-pwned"

LAB = """\
name: procs
namespaces:
  - name: pa
processes:
  - name: first
    netns: pa
    argv: [sleep, "3001"]
  - name: family
    netns: pa
    command: "sleep 3002 & sleep 3003 & wait"
    shell: true
  - name: last
    argv: [sleep, "3004"]
"""


def _sleepers() -> dict[int, str]:
    """pid -> argv of every running `sleep 300x` (the lab's processes and their children)."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry.name}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and argv[0] in (b"sleep", b"sh") and any(a.startswith(b"300") or b"sleep 300" in a for a in argv):
            out[int(entry.name)] = b" ".join(a for a in argv if a).decode()
    return out


@pytest.fixture
def lab_file(tmp_path: Path) -> str:
    path = tmp_path / "procs.yaml"
    path.write_text(LAB)
    return str(path)


@pytest.fixture(autouse=True)
def _no_strays():
    """Kill any sleeper a failing test left behind (by exact pid), so later tests start clean."""
    yield
    for pid in _sleepers():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_down_stops_every_process_and_its_children(lab_file: str) -> None:
    """After up, the three processes (and the shell's two children) run; after down none does."""
    vnetctl("lab", "up", lab_file, check=True)
    running = _sleepers()
    assert {"sleep 3001", "sleep 3002", "sleep 3003", "sleep 3004"} <= set(running.values()), running
    vnetctl("lab", "down", "procs", check=True)
    wait_for(lambda: not _sleepers(), timeout=10, what="every lab process and child gone")


@pytest.mark.parametrize("how", ["down", "cleanup"])
def test_processes_gone_after_vnetctl_was_killed(lab_file: str, how: str) -> None:
    """kill -9 of vnetctl with two processes started: they outlive it, and down/cleanup stops them."""
    proc = subprocess.Popen(VNETCTL + ["lab", "up", lab_file], stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, VNETCTL_INJECT_FAULT="pause:3"))
    assert proc.stderr is not None and "paused before step 3" in proc.stderr.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    survivors = _sleepers()
    assert {"sleep 3001", "sleep 3002", "sleep 3003"} <= set(survivors.values())
    result = vnetctl("lab", "down", "procs") if how == "down" else vnetctl("cleanup")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    wait_for(lambda: not _sleepers(), timeout=10, what="the orphaned lab processes gone")


def test_a_process_by_the_same_name_is_never_killed(lab_file: str) -> None:
    """A `sleep 3001` the lab did not start survives the lab's down and cleanup (no kill by name)."""
    other = subprocess.Popen(["sleep", "3001"])
    try:
        vnetctl("lab", "up", lab_file, check=True)
        vnetctl("lab", "down", "procs", check=True)
        vnetctl("cleanup", check=True)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_a_reused_pid_is_not_signalled(lab_file: str) -> None:
    """If the recorded process died and its pid now names another process, down leaves that one alone."""
    proc = subprocess.Popen(VNETCTL + ["lab", "up", lab_file], stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, VNETCTL_INJECT_FAULT="pause:2"))
    assert proc.stderr is not None and "paused" in proc.stderr.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = next(pid for pid, argv in _sleepers().items() if argv == "sleep 3001")
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: first not in _sleepers(), what="the first process gone")
    # Stand-in for pid reuse: the journal's receipt now points at a process with another start time.
    import json
    jpath = "/run/vnetctl/labs/procs/journal.jsonl"
    lines = [json.loads(x) for x in open(jpath)]
    impostor = subprocess.Popen(["sleep", "3009"])
    for rec in lines:
        if rec["ev"] == "done" and rec.get("receipt") and rec["receipt"].get("pid") == first:
            rec["receipt"]["pid"] = impostor.pid
    with open(jpath, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in lines)
    try:
        assert vnetctl("lab", "down", "procs").returncode == 0
        assert impostor.poll() is None  # another start time: not ours, not signalled
    finally:
        impostor.kill()
        impostor.wait()


INJECTION = """\
name: inject
params:
  extra: "x"
processes:
  - name: echo
    argv: [sh, -c, 'exit 0', "; touch {pwned}", "$(touch {pwned})", "`touch {pwned}`", "{extra}"]
  - name: waiter
    argv: [sleep, "3005", "; touch {pwned}"]
"""


def test_shell_metacharacters_in_argv_are_never_run(tmp_path: Path) -> None:
    """`; touch`, `$(...)` and backquotes in argv (and in a --set parameter) stay literal words."""
    if os.path.exists(PWNED):
        os.unlink(PWNED)
    path = tmp_path / "inject.yaml"
    path.write_text(INJECTION.replace("{pwned}", PWNED))
    plan = vnetctl("lab", "plan", str(path), "--set", f"extra=; touch {PWNED}")
    assert plan.returncode == 0, plan.stderr
    line = next(ln for ln in plan.stdout.splitlines() if "exit 0" in ln)
    words = shlex.split(line.split(" >", 1)[0])
    assert words[-4:] == [f"; touch {PWNED}", f"$(touch {PWNED})", f"`touch {PWNED}`", f"; touch {PWNED}"]
    up = vnetctl("lab", "up", str(path), "--set", f"extra=; touch {PWNED}")
    # 'sleep' rejects its extra operand and exits: the start fails and is undone, still as argv
    assert up.returncode in (0, 1), up.stderr
    assert "Traceback" not in up.stderr
    vnetctl("lab", "down", "inject")
    assert not os.path.exists(PWNED)


def test_a_shell_string_without_shell_true_is_refused(tmp_path: Path) -> None:
    """`command:` is a shell string: without `shell: true` the file is invalid (65) and nothing runs."""
    path = tmp_path / "cmd.yaml"
    path.write_text(f"name: cmd\nprocesses:\n  - name: c\n    command: 'sleep 3006; touch {PWNED}'\n")
    proc = vnetctl("lab", "up", str(path))
    assert proc.returncode == 65 and "shell: true" in proc.stderr
    assert not os.path.exists(PWNED) and not _sleepers()


def test_lab_files_and_logs_are_private(lab_file: str) -> None:
    """The lab's state, pid files and process logs are 0600 in 0700 directories (vnetctl makes them all)."""
    shutil.rmtree("/run/vnetctl", ignore_errors=True)
    vnetctl("lab", "up", lab_file, check=True)
    try:
        for top, dirs, files in os.walk("/run/vnetctl"):
            assert os.stat(top).st_mode & 0o077 == 0, top
            for fn in files:
                path = os.path.join(top, fn)
                assert os.lstat(path).st_mode & 0o077 == 0, path
    finally:
        vnetctl("lab", "down", "procs", check=True)
