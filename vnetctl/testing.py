"""pytest plugin for testing network software against real labs: `pytest -p vnetctl.testing`.

    def test_my_daemon(vnet_lab):
        lab = vnet_lab("labs/veth-netns.yaml")          # up for this test
        assert subprocess.run(["ip", "netns", "exec", "ns1", "ping", "-c1", "10.1.1.3"]).returncode == 0
        assert all(r.ok for r in lab.check())
    # ... and always torn down afterwards, whether the test passed, failed or errored.

Needs the privileges `vnetctl lab up` needs (root, or CAP_NET_ADMIN + CAP_SYS_ADMIN);
run it inside a throwaway network namespace such as `unshare --net --mount`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from . import lab as labs


@pytest.fixture
def vnet_lab() -> Iterator[Callable[..., labs.Lab]]:
    """A factory: vnet_lab(PATH, **params) brings a lab up and returns it; every lab goes down after the test."""
    made: list[labs.Lab] = []

    def factory(path: str, **params: Any) -> labs.Lab:
        lab = labs.load(path, params)
        if lab.up() == "unchanged":
            pytest.fail(f"lab {lab.name!r} was already up; vnet_lab only manages labs it brings up itself "
                        f"(run 'vnetctl lab down {lab.name}')")
        made.append(lab)
        return lab

    try:
        yield factory
    finally:
        failures = []
        for lab in reversed(made):
            try:
                lab.down()
            except Exception as exc:  # tear down the others, then report
                failures.append(f"{lab.name}: {exc}")
        if failures:
            pytest.fail("vnet_lab could not tear down: " + "; ".join(failures))
