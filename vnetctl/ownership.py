"""Ownership markers: the altname vnetctl gives every device it creates.

Cleanup finds its own devices by this marker, never by name pattern. The marker is
unique per namespace (altnames must be) because it hashes the owner with the name.
"""

from __future__ import annotations

import hashlib
import re
import secrets

PREFIX = "vnet-o-"
PLAN_PREFIX = "vnet-p-"  # what a `lab plan` script makes: never taken for what `lab up` made
PLAN_OWNER = "plan:"  # owner of what the plan script of lab X makes: 'plan:X' (':' is in no lab name)
CLI_OWNER = "cli"
OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def marker(owner: str, ifname: str) -> str:
    """The altname marking device `ifname` as made by `owner` (a lab name or 'cli')."""
    if owner.startswith(PLAN_OWNER):
        lab = owner[len(PLAN_OWNER):]
        return f"{PLAN_PREFIX}{lab}-{marker(lab, ifname)[-8:]}"
    digest = hashlib.sha1(f"{owner}\0{ifname}".encode()).hexdigest()[:8]
    return f"{PREFIX}{owner}-{digest}"


def plan_owner(lab: str) -> str:
    """The owner of what lab's `lab plan` script makes."""
    return PLAN_OWNER + lab


def owner_of(altnames: tuple[str, ...] | list[str]) -> str | None:
    """The owner recorded in a device's altnames ('plan:LAB' for a plan script's), or None if vnetctl did not make it."""
    for alt in altnames:
        if alt.startswith(PREFIX) and len(alt) > len(PREFIX) + 9:
            return alt[len(PREFIX):-9]
        if alt.startswith(PLAN_PREFIX) and len(alt) > len(PLAN_PREFIX) + 9:
            return PLAN_OWNER + alt[len(PLAN_PREFIX):-9]
    return None


def is_owned(altnames: tuple[str, ...] | list[str], owner: str | None = None) -> bool:
    """True if the altnames carry a vnetctl marker (of `owner`, when given)."""
    found = owner_of(altnames)
    return found is not None and (owner is None or found == owner)


IFINDEX_LOW = 1 << 24  # far above what the kernel hands out in sequence, so a namesake made by hand never gets it


def fresh_ifindex() -> int:
    """A random ifindex to request at creation: recorded first, it proves after a crash which device is ours."""
    return IFINDEX_LOW + secrets.randbelow((1 << 31) - 1 - IFINDEX_LOW)
