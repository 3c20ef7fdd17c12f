"""-n docker:NAME through Docker's own files at the default data root: a fixture in Docker's documented
config.v2.json format, pointing at a real process in a real namespace (a real dockerd, with a data root of its
own, is tests/test_owners_docker.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import vnetctl, wait_for

pytestmark = pytest.mark.kernel
FIXTURE = Path(__file__).parent / "fixtures" / "owners"
CID = "3f1c1fb2a8c54a6f0e4f6c4a3d1b2e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"


def test_docker_container_by_name(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(FIXTURE, root)
    held = subprocess.Popen(["unshare", "-n", "sleep", "1000"])
    try:
        wait_for(lambda: os.stat(f"/proc/{held.pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino,
                 what="unshare -n")
        config = root / "var/lib/docker/containers" / CID / "config.v2.json"
        data = json.loads(config.read_text())
        data["State"]["Pid"] = held.pid
        config.write_text(json.dumps(data))
        env = {"VNETCTL_OWNERS_ROOT": str(root)}
        got = json.loads(vnetctl("inspect", "-n", "docker:shop-web-1", "--json", check=True, env=env).stdout)
        assert [ns["inode"] for ns in got["namespaces"]] == [os.stat(f"/proc/{held.pid}/ns/net").st_ino]
        by_id = json.loads(vnetctl("inspect", "-n", "container:3f1c1fb2", "--json", check=True, env=env).stdout)
        assert by_id["namespaces"][0]["inode"] == got["namespaces"][0]["inode"]
        assert vnetctl("inspect", "-n", "podman:shop-web-1", env=env).returncode == 4
    finally:
        held.kill()
        held.wait()
