"""Name rules for interfaces and namespaces, checked before any kernel call."""

from __future__ import annotations

from .errors import InvalidName

IFNAMSIZ = 16
ALTIFNAMSIZ = 128
NAME_MAX = 255


def _bad(kind: str, name: str, why: str) -> InvalidName:
    return InvalidName(f"invalid {kind} name {name!r}: {why}", "choose another name")


def check_ifname(name: str, kind: str = "interface") -> str:
    """Return name if the kernel would accept it unchanged as an interface name."""
    if not isinstance(name, str) or not name:
        raise _bad(kind, str(name), "empty")
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) >= IFNAMSIZ:
        raise _bad(kind, name, f"{len(raw)} bytes, the kernel allows at most {IFNAMSIZ - 1}")
    if name in (".", ".."):
        raise _bad(kind, name, "'.' and '..' are reserved")
    for ch in name:
        if ch == "/":
            raise _bad(kind, name, "contains '/'")
        if ch == ":":
            raise _bad(kind, name, "contains ':' (reserved for old-style address labels)")
        if ch == "%":
            raise _bad(kind, name, "contains '%' (the kernel would treat it as a template)")
        if ch.isspace() or not ch.isprintable():
            raise _bad(kind, name, "contains whitespace or a control character")
    return name


def check_altname(name: str) -> str:
    """Return name if it is a valid alternative interface name."""
    if not name or len(name.encode()) >= ALTIFNAMSIZ or "/" in name or any(c.isspace() for c in name):
        raise _bad("alternative interface", name, f"must be 1..{ALTIFNAMSIZ - 1} bytes without '/' or whitespace")
    return name


def check_netns(name: str) -> str:
    """Return name if it is a valid named-namespace name (a file under /run/netns)."""
    if not isinstance(name, str) or not name:
        raise _bad("namespace", str(name), "empty")
    if name in (".", ".."):
        raise _bad("namespace", name, "'.' and '..' are reserved")
    if "/" in name:
        raise _bad("namespace", name, "contains '/'; use -n PATH only to refer to an existing nsfs file")
    if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise _bad("namespace", name, f"longer than {NAME_MAX} bytes")
    for ch in name:
        if ch.isspace() or not ch.isprintable():
            raise _bad("namespace", name, "contains whitespace or a control character")
    return name
