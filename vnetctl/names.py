"""Name rules for interfaces and namespaces, checked before any kernel call."""

from __future__ import annotations

from .errors import InvalidName

IFNAMSIZ = 16
ALTIFNAMSIZ = 128
NAME_MAX = 255
# The kernel refuses these: they would clash with /proc/sys/net/*/conf/{all,default}.
RESERVED_IFNAMES = frozenset({"all", "default"})
# Bytes the kernel's isspace() matches, 0xa0 included: so UTF-8 letters such as 'à' (c3 a0) are refused too.
KERNEL_SPACE = frozenset(b"\t\n\v\f\r \xa0")
# A namespace's record file is "<name>.json", written through "<name>.json.tmp.<pid>" (pid < 2**22).
NETNS_MAX = NAME_MAX - len(".json.tmp.") - 7


def _bad(kind: str, name: str, why: str) -> InvalidName:
    return InvalidName(f"invalid {kind} name {name!r}: {why}", "choose another name")


def check_ifname(name: str, kind: str = "interface") -> str:
    """Return name if the kernel would accept it unchanged as an interface name."""
    return _check_device_name(kind, name, IFNAMSIZ)


def _check_device_name(kind: str, name: str, size: int) -> str:
    """name if it is not empty, fits a kernel buffer of size bytes (NUL included) and has no refused character."""
    if not isinstance(name, str) or not name:
        raise _bad(kind, str(name), "empty")
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) >= size:
        raise _bad(kind, name, f"{len(raw)} bytes, the kernel allows at most {size - 1}")
    return _check_chars(kind, name, raw)


def _check_chars(kind: str, name: str, raw: bytes) -> str:
    if name in (".", ".."):
        raise _bad(kind, name, "'.' and '..' are reserved")
    if name in RESERVED_IFNAMES:
        raise _bad(kind, name, "'all' and 'default' are reserved by the kernel")
    for ch in name:
        if ch == "/":
            raise _bad(kind, name, "contains '/'")
        if ch == ":":
            raise _bad(kind, name, "contains ':' (reserved for old-style address labels)")
        if ch == "%":
            raise _bad(kind, name, "contains '%' (the kernel would treat it as a template)")
        if ch.isspace() or not ch.isprintable():
            raise _bad(kind, name, "contains whitespace, a control character or bytes that are not UTF-8")
    if any(b in KERNEL_SPACE for b in raw):
        raise _bad(kind, name, "contains byte 0xa0, which the kernel counts as whitespace (e.g. in 'à')")
    return name


def check_altname(name: str) -> str:
    """Return name if it is a valid alternative interface name."""
    return _check_device_name("alternative interface", name, ALTIFNAMSIZ)


def check_netns(name: str) -> str:
    """Return name if it is a valid named-namespace name (a file under /run/netns)."""
    if not isinstance(name, str) or not name:
        raise _bad("namespace", str(name), "empty")
    if name in (".", ".."):
        raise _bad("namespace", name, "'.' and '..' are reserved")
    if "/" in name:
        raise _bad("namespace", name, "contains '/'; use -n PATH only to refer to an existing nsfs file")
    if name.startswith("pid:"):
        raise _bad("namespace", name, "'pid:' names a process's namespace in -n pid:PID")
    if len(name.encode("utf-8", "surrogateescape")) > NETNS_MAX:
        raise _bad("namespace", name, f"longer than {NETNS_MAX} bytes")
    for ch in name:
        if ch.isspace() or not ch.isprintable():
            raise _bad("namespace", name, "contains whitespace, a control character or bytes that are not UTF-8")
    return name
