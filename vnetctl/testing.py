"""pytest plugin for testing network software against real labs; installed with vnetctl, nothing to enable.

    def test_my_daemon(vnet_lab):
        lab = vnet_lab("labs/star.yaml", hosts=3)       # up for this test; parameters as lab.load takes them
        assert subprocess.run(["ip", "netns", "exec", "h0", "ping", "-c1", "10.10.0.3"]).returncode == 0
        assert all(r.ok for r in lab.check())
    # ... and always torn down afterwards, whether the test passed, failed or errored.

The plugin is registered as the pytest11 entry point `vnetctl.testing`, so every pytest run
where vnetctl is installed has the fixture (`-p vnetctl.testing` is accepted and changes
nothing; `-p no:vnetctl.testing` turns it off). Needs the privileges `vnetctl lab up` needs
(root, or CAP_NET_ADMIN + CAP_SYS_ADMIN); run it inside a throwaway network namespace such
as `unshare --net --mount`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from . import lab as labs


@pytest.fixture
def vnet_lab() -> Iterator[Callable[..., labs.Lab]]:
    """A factory taking what lab.load takes: vnet_lab(PATH, {params} and/or **params) brings a lab up and returns it."""
    made: list[labs.Lab] = []

    def factory(path: str, params: dict[str, Any] | None = None, **kw: Any) -> labs.Lab:
        lab = labs.load(path, params, **kw)
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
