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


@pytest.fixture(autouse=True)
def _clean_sandbox(request: pytest.FixtureRequest):
    """Each kernel test starts from, and leaves, an empty sandbox."""
    if IN_SANDBOX and "kernel" in request.keywords:
        _reset_sandbox()
        yield
        _reset_sandbox()
    else:
        yield
