"""LXC and Incus containers: the name is in the cgroup (`lxc.payload.NAME`), details in LXC's config.

`/var/lib/lxc/NAME/config` is LXC's key = value file; the download template records the
distribution it was made from in a comment ("# Parameters passed to the template: ...").
"""

from __future__ import annotations

import os

from ..model import Owner

LXC_PATHS = ("var/lib/lxc", "var/lib/incus/containers", "var/lib/lxd/containers")


def parse_config(text: str) -> dict[str, str]:
    """LXC config keys (the last value of each), plus `template` from the template comment."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# Parameters passed to the template:"):
            out["template"] = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def image_of(config: dict[str, str]) -> str | None:
    """'debian bookworm amd64' from the template parameters (--dist/--release/--arch), or None."""
    words = config.get("template", "").split()
    picked = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("--dist", "-d", "--release", "-r", "--arch", "-a")]
    return " ".join(picked) or None


def owner(name: str, root: str) -> Owner:
    """The owner of LXC/Incus container `name` (its config read when there is one)."""
    incus_name = name.split("_", 1)[1] if "_" in name else name  # Incus prefixes a project: PROJECT_NAME
    for d in LXC_PATHS:
        try:
            with open(os.path.join(root, d, name, "config")) as f:
                config = parse_config(f.read())
        except OSError:
            continue
        return Owner("container", "lxc", name, config.get("lxc.uts.name", name), None, None, image_of(config))
    return Owner("container", "lxc", name, incus_name if os.path.isdir(os.path.join(root, LXC_PATHS[1], incus_name)) else name)
