"""Ownership markers: the altname vnetctl gives every device it creates.

Cleanup finds its own devices by this marker, never by name pattern. The marker is
unique per namespace (altnames must be) because it hashes the owner with the name.
"""

from __future__ import annotations

import hashlib
import re
import secrets

PREFIX = "vnet-o-"
CLI_OWNER = "cli"
OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def marker(owner: str, ifname: str) -> str:
    """The altname marking device `ifname` as made by `owner` (a lab name or 'cli')."""
    digest = hashlib.sha1(f"{owner}\0{ifname}".encode()).hexdigest()[:8]
    return f"{PREFIX}{owner}-{digest}"


def owner_of(altnames: tuple[str, ...] | list[str]) -> str | None:
    """The owner recorded in a device's altnames, or None if vnetctl did not make it."""
    for alt in altnames:
        if alt.startswith(PREFIX) and len(alt) > len(PREFIX) + 9:
            return alt[len(PREFIX):-9]
    return None


def is_owned(altnames: tuple[str, ...] | list[str], owner: str | None = None) -> bool:
    """True if the altnames carry a vnetctl marker (of `owner`, when given)."""
    found = owner_of(altnames)
    return found is not None and (owner is None or found == owner)


IFINDEX_LOW = 1 << 24  # far above what the kernel hands out in sequence, so a namesake made by hand never gets it


def fresh_ifindex() -> int:
    """A random ifindex to request at creation: recorded first, it proves after a crash which device is ours."""
    return IFINDEX_LOW + secrets.randbelow((1 << 31) - 1 - IFINDEX_LOW)
