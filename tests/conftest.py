"""Test set-up: kernel tests run only inside the throwaway sandbox (tests/sandbox.sh)."""

from __future__ import annotations

import os
import subprocess

import pytest

IN_SANDBOX = os.environ.get("VNETCTL_SANDBOX") == "1" and os.geteuid() == 0
RUN_SLOW = os.environ.get("VNETCTL_SLOW") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip kernel tests outside the sandbox, so nothing can touch a real host; skip slow ones unless asked."""
    if not RUN_SLOW:
        slow = pytest.mark.skip(reason="slow scale test: run with VNETCTL_SLOW=1")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(slow)
    if IN_SANDBOX:
        return
    skip = pytest.mark.skip(reason="kernel test: run through 'make test' (root, inside tests/sandbox.sh)")
    for item in items:
        if "kernel" in item.keywords:
            item.add_marker(skip)


def _reset_sandbox() -> None:
    """Remove every namespace and non-loopback device left in the sandbox."""
    subprocess.run(["ip", "-all", "netns", "delete"], capture_output=True)
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name != "lo":
            subprocess.run(["ip", "link", "del", name], capture_output=True)
    subprocess.run(["sh", "-c", "rm -rf /run/vnetctl/* /run/netns/*"], capture_output=True)


def _live_pids() -> set[int]:
    """Pids of the sandbox's live processes (zombies excluded)."""
    pids = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if stat[stat.rindex(")") + 2] not in "ZX":
                pids.add(int(entry.name))
    return pids


def _note_leaks(nodeid: str, before: set[int]) -> None:
    """With VNETCTL_LEAK_LOG set, append the processes a test left running to that file."""
    log = os.environ.get("VNETCTL_LEAK_LOG")
    if not log:
        return
    for pid in sorted(_live_pids() - before - {os.getpid()}):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        with open(log, "a") as out:
            out.write(f"{nodeid}\t{pid}\t{argv}\n")


@pytest.fixture(autouse=True)
def _clean_sandbox(request: pytest.FixtureRequest):
    """Each kernel test starts from, and leaves, an empty sandbox."""
    if IN_SANDBOX and "kernel" in request.keywords:
        _reset_sandbox()
        before = _live_pids()
        yield
        _reset_sandbox()
        _note_leaks(request.node.nodeid, before)
    else:
        yield
