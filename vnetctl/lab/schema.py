"""The lab file's strict schema: types, required keys, unknown keys with a did-you-mean.

`Checker.obj` reads one mapping against a table of fields and returns plain values,
collecting every problem as `file:line:col: message` instead of stopping at the first.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import kinds
from ..errors import InvalidName
from ..names import check_ifname, check_netns
from ..ops.addr import interface
from ..ops.link_props import ADDR_GEN_MODES
from ..ops.sysctl import KEY_RE as SYSCTL_KEY_RE
from .yamlload import MList, MMap, Pos


@dataclass(frozen=True)
class F:
    """One field: its type, whether it is required, its default and allowed values."""

    kind: str
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] = ()
    sub: dict[str, F] | None = None
    range: tuple[int, int] | None = None


ADDRS = F("cidrs", default=())
# ETH_MIN_MTU for IPv4 (68) to ETH_MAX_MTU (65535): what the kernel's virtual devices accept
MTU = F("int", range=(68, 65535))
END = {"name": F("ifname", True), "netns": F("netns"), "addresses": ADDRS, "up": F("bool", default=True),
       "mtu": MTU, "master": F("ifname"), "host": F("host"), "rate": F("rate"),
       "addrgenmode": F("str", choices=ADDR_GEN_MODES)}
# A process name is a file name in the lab's run directory (NAME.pid, NAME.log): never a path.
PROCESS_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$")
MAX_ID = 4294967294  # uid/gid: (uid_t)-1 means "no change" to the kernel


def _kind_fields(kind: kinds.Kind) -> dict[str, F]:
    """A device section's fields, from the kind's declaration (vnetctl.kinds)."""
    fields = dict(END)
    for o in kind.options:
        fields[o.name] = F({"choice": "str"}.get(o.type, o.type), o.required, o.default, o.choices, range=o.range)
    if kind.lower_attr:
        fields["dev"] = F("ifname", kind.lower_required)
    if kind.pair:
        fields["peer"] = F("obj", True, sub=END)
    return fields


SECTIONS = {k.section: k.name for k in kinds.in_labs() if k.section}
SCHEMA: dict[str, dict[str, F]] = {
    "lab": {"name": F("labname", True), "description": F("str", default=""), "params": F("params", default={}),
            "namespaces": F("list:namespace", default=()),
            **{section: F(f"list:{kind}", default=()) for section, kind in SECTIONS.items() if kind in ("bridge", "veth")},
            "tuntaps": F("list:tuntap", default=()),
            **{section: F(f"list:{kind}", default=()) for section, kind in SECTIONS.items() if kind not in ("bridge", "veth")},
            "routes": F("list:route", default=()),
            "sysctls": F("sysctls", default={}), "processes": F("list:process", default=()),
            "checks": F("list:check", default=()), "hosts": F("obj", default=None)},
    "namespace": {"name": F("netnsname", True), "loopback": F("bool", default=False), "sysctls": F("sysctls", default={}),
                  "host": F("str")},
    **{k.name: _kind_fields(k) for k in kinds.in_labs()},
    "tuntap": {**END, "mode": F("str", True, choices=("tun", "tap")), "user": F("owner"), "group": F("owner"),
               "multi_queue": F("bool", default=False)},
    "route": {"to": F("dest", True), "via": F("ip"), "dev": F("ifname"), "netns": F("netns"), "host": F("str")},
    "process": {"name": F("procname", True), "netns": F("netns"), "argv": F("argv"), "vnetctl": F("argv"),
                "command": F("str"), "shell": F("bool", default=False), "env": F("env", default={}),
                "ready": F("obj", sub={"device": F("ifname"), "port": F("int"), "proto": F("str", default="tcp",
                                       choices=("tcp", "udp")), "file": F("str")}),
                "timeout": F("num", default=10.0), "host": F("str")},
}


class Fields(dict):
    """A mapping read against a schema; `.at` holds where each given key's value was written."""

    at: dict[str, Pos] = {}


def _name_problem(check: Callable[[str], str], value: str) -> str | None:
    try:
        check(value)
    except InvalidName as e:
        return e.message
    return None


class Checker:
    """Collects problems as `file:line:col: message` while reading a lab document."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[tuple[Pos, str]] = []

    def loc(self, where: Pos) -> str:
        """`file:line:col` for a position."""
        return f"{self.path}:{where[0]}:{where[1]}"

    def add(self, where: Pos, message: str) -> None:
        """Record one problem."""
        self.problems.append((where, message))

    def lines(self) -> list[str]:
        """Every problem as `file:line:col: message`, in file order, without repeats."""
        seen: list[str] = []
        for where, msg in sorted(self.problems, key=lambda p: p[0]):
            line = f"{self.loc(where)}: {msg}"
            if line not in seen:
                seen.append(line)
        return seen

    def obj(self, m: Any, fields: dict[str, F], where: Pos, what: str) -> dict[str, Any] | None:
        """Read mapping m against fields; None if it is not a mapping."""
        if not isinstance(m, MMap):
            self.add(where, f"{what} must be a mapping with keys: {', '.join(fields)}")
            return None
        out = Fields()
        out.at = {k: m.at(k) for k in m}
        for key in m:
            if key not in fields:
                self.add(m.key_at(key), unknown_key(key, list(fields), what))
        for key, f in fields.items():
            if key not in m or m[key] is None and f.kind not in ("netns",):
                if f.required:
                    self.add(m.mark, f"{what} needs '{key}'")
                out[key] = f.default
                continue
            out[key] = self.value(m[key], f, m.at(key), f"{what}.{key}" if what != "lab" else key)
        return out

    def value(self, v: Any, f: F, where: Pos, what: str) -> Any:
        """Check and convert one value; on a problem record it and return the default."""
        kind = f.kind
        if kind.startswith("list:"):
            item_kind = kind[5:]
            if not isinstance(v, MList):
                self.add(where, f"'{what}' must be a list of {item_kind} entries")
                return ()
            out = []
            for i, item in enumerate(v):
                if item_kind == "check":
                    out.append((item, v.at(i)))
                    continue
                got = self.obj(item, SCHEMA[item_kind], v.at(i), item_kind)
                if got is not None:
                    out.append((got, v.at(i)))
            return tuple(out)
        if kind == "obj":
            if f.sub is None:
                return (v, where)
            return self.obj(v, f.sub, where, what)
        bad = self._scalar_problem(v, f, what)
        if bad:
            self.add(where, bad)
            return f.default
        if kind == "num":
            return float(v)
        if kind in ("argv", "strlist") or kind == "host" and isinstance(v, MList):
            return tuple(str(x) for x in v)
        if kind == "owner":
            return str(v)
        if kind in ("sysctls", "strmap", "env", "params"):
            return {str(k): (v[k] if kind == "params" else _sysctl_text(v[k])) for k in v}
        return v

    def _scalar_problem(self, v: Any, f: F, what: str) -> str | None:
        kind = f.kind
        basic = _type_problem(v, f, what) or _special_problem(v, kind, what)
        if basic:
            return basic
        if f.choices and v not in f.choices:
            near = difflib.get_close_matches(str(v), [str(c) for c in f.choices], 1)
            return (f"'{what}' must be one of {', '.join(map(str, f.choices))}, not {v!r}"
                    + (f" (did you mean {near[0]!r}?)" if near else ""))
        if kind == "rate":
            return _rate_problem(v, what)
        if kind == "labname":
            from ..ownership import OWNER_RE
            if not OWNER_RE.match(v):
                return f"invalid lab name {v!r}: 1-64 letters, digits, '_', '.', '-', starting with a letter or digit"
        if kind == "ifname":
            return _name_problem(check_ifname, v)
        if kind in ("netns", "netnsname") and v is not None:
            return _name_problem(check_netns, v)
        if kind in ("ip", "ipv4"):
            try:
                addr = ipaddress.ip_address(v)
            except ValueError:
                return f"'{what}': {v!r} is not an IP address"
            if kind == "ipv4" and addr.version != 4:
                return f"'{what}': {v!r} is not an IPv4 address"
        if kind == "dest" and v != "default":
            try:
                ipaddress.ip_network(v, strict=False)
            except ValueError:
                return f"'{what}': {v!r} is not 'default' or a network such as 10.0.0.0/24"
        if kind == "cidrs":
            if not isinstance(v, MList) or not all(isinstance(x, str) for x in v):
                return f"'{what}' must be a list of ADDRESS/PREFIX strings"
            for x in v:
                if "/" not in x:
                    return f"'{what}': {x!r} has no prefix length; write it as ADDRESS/PREFIX, e.g. 10.1.1.2/24"
                try:
                    interface(x)
                except ValueError:
                    return f"'{what}': {x!r} is not an ADDRESS/PREFIX"
        if kind in ("argv", "strlist"):
            if not isinstance(v, MList) or not v or not all(isinstance(x, (str, int)) for x in v):
                return f"'{what}' must be a non-empty list of strings"
            if any("\0" in str(x) for x in v):
                return f"'{what}': an argument contains a NUL character"
        if kind in ("sysctls", "strmap", "env", "params"):
            if not isinstance(v, MMap):
                return f"'{what}' must be a mapping"
            for k, x in v.items():
                if not isinstance(k, str) or isinstance(x, (MMap, MList)) or x is None:
                    return f"'{what}': {k!r} needs a plain value"
        return None


def _rate_problem(v: str, what: str) -> str | None:
    """A rate tc would refuse (shaping: the Shape Step of link set --rate)."""
    from ..errors import UsageError
    from ..tcunits import parse_rate
    try:
        parse_rate(v)
    except UsageError as e:
        return f"'{what}': {e.message} ({e.hint})"
    return None


def _type_problem(v: Any, f: F, what: str) -> str | None:
    """A value of the wrong type, with NUL inside, or out of its range."""
    kind = f.kind
    if kind in ("str", "procname", "labname", "netnsname", "ifname", "ip", "ipv4", "dest", "rate") and not isinstance(v, str):
        return f"'{what}' must be a string, not {_typename(v)}"
    if isinstance(v, str) and "\0" in v:
        return f"'{what}' contains a NUL character"
    if kind == "host" and not isinstance(v, str) and not (isinstance(v, MList) and v and all(isinstance(x, str) for x in v)):
        given = "an empty list" if v == [] else _typename(v)
        return f"'{what}' must be a host name (or, for a bridge across hosts, a list of them), not {given}"
    if kind == "netns" and v is not None and not isinstance(v, str):
        return f"'{what}' must be a namespace name or null (the host), not {_typename(v)}"
    if kind == "int" and type(v) is not int:
        return f"'{what}' must be an integer, not {_typename(v)}"
    if f.range and type(v) is int and not f.range[0] <= v <= f.range[1]:
        return f"'{what}' must be between {f.range[0]} and {f.range[1]}, not {v}"
    if kind == "num" and (type(v) not in (int, float) or v <= 0):
        return f"'{what}' must be a positive number of seconds"
    if kind == "bool" and type(v) is not bool:
        return f"'{what}' must be true or false, not {_typename(v)}"
    return None


def _special_problem(v: Any, kind: str, what: str) -> str | None:
    """Values checked beyond their type: process names, uid/gid, environment keys, sysctls."""
    if kind == "procname" and not PROCESS_NAME_RE.match(v):
        return (f"'{what}': invalid process name {v!r}: 1-64 letters, digits, '_', '.', '-', starting with a letter "
                "or digit (it names the process's files in the lab's run directory)")
    if kind == "owner":
        if type(v) is int or (isinstance(v, str) and v.isdigit()):
            return None if 0 <= int(v) <= MAX_ID else f"'{what}' must be a user or group name, or an id from 0 to {MAX_ID}"
        if not isinstance(v, str) or not USER_RE.match(v):
            return f"'{what}': {v!r} is not a user or group name, or a numeric id"
    if kind == "env" and isinstance(v, MMap):
        for k, x in v.items():
            if not isinstance(k, str) or not ENV_KEY_RE.match(k):
                return f"'{what}': {k!r} is not an environment variable name (letters, digits, '_'; no '=')"
            if isinstance(x, str) and "\0" in x:
                return f"'{what}': the value of {k} contains a NUL character"
    if kind == "sysctls" and isinstance(v, MMap):
        for k, x in v.items():
            if not isinstance(k, str) or not SYSCTL_KEY_RE.match(k):
                return f"'{what}': invalid sysctl {k!r}: only per-namespace net.* keys, e.g. net.ipv4.ip_forward"
            if isinstance(x, (str, int, bool)) and not _SYSCTL_VALUE_RE.match(_sysctl_text(x)):
                return f"'{what}': the value of {k} must be one line of printable text, not {_sysctl_text(x)!r}"
    return None


_SYSCTL_VALUE_RE = re.compile(r"^[\x20-\x7e]{1,256}$")


def unknown_key(key: Any, known: list[str], what: str) -> str:
    """The message for an unknown key, with a did-you-mean when one is close."""
    near = difflib.get_close_matches(str(key), known, 1)
    hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(known)}"
    return f"unknown key {key!r} in {what} ({hint})"


def _typename(v: Any) -> str:
    if isinstance(v, MMap):
        return "a mapping"
    if isinstance(v, MList):
        return "a list"
    if v is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(type(v), type(v).__name__)


def _sysctl_text(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)
