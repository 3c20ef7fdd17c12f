"""The device-kind registry: one declaration per kind of network device, everything else derived.

A kind module (vxlan.py, macvtap.py, ...) builds one `Kind` and calls `register()`. From the
declarations, and only from them, come:

- the `LinkAdd` Step's netlink attributes and its dry-run `ip link add` line (ops/link.py),
- the `vnetctl KIND add|del|show` commands and their option types (cli/kinds.py),
- the Python API functions `KIND_add()` (api.py),
- the lab file's `KINDs:` sections and their checks at load time (lab/schema.py, lab/validate.py),
- the kernel probe and its "kernel lacks MODULE" message (backend/kernel.py),
- the decoder's table of each kind's IFLA_INFO_DATA attributes (backend/ifla.py),
- the device kinds `vnetctl doctor` checks (doctor.py).

This package is plain data: it imports nothing of the kernel, click or YAML.
"""

from __future__ import annotations

import importlib
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Option:
    """One option of a kind: its name (Step, CLI --name, lab key), netlink attribute, `ip` word and domain."""

    name: str
    attr: str
    word: str
    type: str = "int"                   # int, bool, ip (any family), ipv4, choice
    help: str = ""
    range: tuple[int, int] | None = None
    choices: tuple[str, ...] = ()
    default: Any = None                 # used when not given (CLI and labs alike); None: not sent
    required: bool = False
    implicit: Any = None                # the kernel's own default: a value equal to it is not sent
    attr6: str | None = None            # the netlink attribute for an IPv6 value
    metavar: str | None = None
    flag_words: tuple[str, ...] = ()    # a bool that `ip` writes as one word: (off, on), e.g. nolearning/learning

    def problem(self, value: Any) -> str | None:
        """Why value is outside this option's domain (None when it is fine)."""
        if self.type == "int" or self.range:
            if type(value) is not int:
                return f"must be an integer, not {_typename(value)}"
            lo, hi = self.range or (0, 2**32 - 1)
            if not lo <= value <= hi:
                return f"must be between {lo} and {hi}, not {value}"
        elif self.type == "bool":
            if type(value) is not bool:
                return f"must be true or false, not {_typename(value)}"
        elif self.type == "choice":
            if value not in self.choices:
                import difflib  # only for the hint; kept off the import path of inspect
                near = difflib.get_close_matches(str(value), self.choices, 1)
                return (f"must be one of {', '.join(self.choices)}, not {value!r}"
                        + (f" (did you mean {near[0]!r}?)" if near else ""))
        elif self.type in ("ip", "ipv4"):
            if not isinstance(value, str):
                return f"must be a string, not {_typename(value)}"
            try:
                addr = ipaddress.ip_address(value)
            except ValueError:
                return f"{value!r} is not an IP address"
            if self.type == "ipv4" and addr.version != 4:
                return f"{value!r} is not an IPv4 address"
        return None

    def netlink(self, value: Any) -> tuple[str, Any]:
        """The netlink (pyroute2) attribute and value for value."""
        if self.attr6 and ipaddress.ip_address(value).version == 6:
            return self.attr6, value
        return self.attr, int(value) if isinstance(value, bool) else value

    def ip_words(self, value: Any) -> list[str]:
        """The words `ip link add` takes for value."""
        if self.flag_words:
            return [self.flag_words[bool(value)]]
        return [self.word, str(int(value)) if isinstance(value, bool) else str(value)]


@dataclass(frozen=True)
class Kind:
    """A kind of device: kernel module, options, lower device, lab section, CLI and probe."""

    name: str
    module: str
    help: str = ""
    options: tuple[Option, ...] = ()
    lower_attr: str | None = None       # the netlink attribute carrying the lower device's ifindex
    lower_word: str | None = None       # its `ip link add` word (dev, link)
    lower_flag: str = "dev"             # its CLI option (--dev, --link); labs always say `dev`
    lower_required: bool = False
    lower_help: str = "Lower device."
    section: str | None = None          # the lab file's section (vxlans), None: not in labs
    cli: bool = False                   # gets generated `vnetctl KIND add|del|show` commands
    pair: bool = False                  # created with a peer (veth)
    probe: dict[str, Any] = field(default_factory=dict)   # attributes a probe device needs
    rules: tuple[Callable[[dict[str, Any]], Iterable[tuple[str, str]]], ...] = ()
    reader: Callable[[dict[str, Any]], None] | None = None   # fixes up options read back from a device
    # IFLA_INFO_DATA as the kernel numbers it from 1: "name:type ..." ('-' for a number left out); the
    # names are the details' keys and the options' attrs, the types the words backend/ifla.py decodes
    info_data: str = ""
    port_data: str = ""                 # its ports' IFLA_INFO_SLAVE_DATA, in info_data's notation (a bridge's brport_*)

    def option(self, name: str) -> Option:
        """One option by name (KeyError if the kind has none such)."""
        return next(o for o in self.options if o.name == name)

    def names(self) -> list[str]:
        """The option names, in declaration order."""
        return [o.name for o in self.options]

    def problems(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        """(option, message) for every value outside its domain and every broken rule between options."""
        out = [(o.name, f"needs {o.name}") for o in self.options if o.required and values.get(o.name) is None]
        for o in self.options:
            if values.get(o.name) is not None:
                bad = o.problem(values[o.name])
                if bad:
                    out.append((o.name, f"{o.name} {bad}"))
        return out or self.rule_problems(values)

    def rule_problems(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        """(option, message) for every broken rule between options whose values are each fine."""
        return [p for rule in self.rules for p in rule(values)]

    def step_options(self, values: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
        """The (option, value) pairs a LinkAdd carries: declaration order; unset and kernel-default ones left out."""
        out = []
        for o in self.options:
            value = values.get(o.name, o.default)
            if value is None or (o.implicit is not None and value == o.implicit):
                continue
            out.append((o.name, value))
        return tuple(out)

    def data_table(self, spec: str | None = None) -> dict[int, tuple[str, str]]:
        """IFLA_INFO_DATA attribute number -> (detail key, type), from `info_data` (or another spec such as `port_data`)."""
        out = {}
        for number, item in enumerate((self.info_data if spec is None else spec).split(), start=1):
            if item != "-":
                name, typ = item.split(":")
                out[number] = (name, typ)
        return out

    def read(self, details: dict[str, Any]) -> dict[str, Any]:
        """The options as found on a live device (its IFLA_INFO_DATA, decoded)."""
        out: dict[str, Any] = {}
        for o in self.options:
            value = details.get(o.attr)
            if value is None and o.attr6:
                value = details.get(o.attr6)
            if o.type == "bool" and value is not None:
                value = bool(value)
            out[o.name] = value
        if self.reader is not None:
            self.reader(out)
        return out


_REGISTRY: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add a kind to the registry."""
    _REGISTRY[kind.name] = kind
    return kind


def get(name: str) -> Kind | None:
    """The kind called name, or None."""
    _load()
    return _REGISTRY.get(name)


def all_kinds() -> list[Kind]:
    """Every registered kind, in registration order."""
    _load()
    return list(_REGISTRY.values())


def with_cli() -> list[Kind]:
    """The kinds that get generated `vnetctl KIND ...` commands."""
    return [k for k in all_kinds() if k.cli]


def in_labs() -> list[Kind]:
    """The kinds a lab file declares in a section of their own."""
    return [k for k in all_kinds() if k.section]


def prefixed(prefix: str, spec: str) -> str:
    """An `info_data` spec with every attribute name prefixed (kinds sharing one layout: macvlan_mode, macvtap_mode)."""
    return " ".join(item if item == "-" else prefix + item for item in spec.split())


def same_family(*names: str) -> Callable[[dict[str, Any]], Iterable[tuple[str, str]]]:
    """A rule: the given address options, when set, are all IPv4 or all IPv6."""
    def rule(values: dict[str, Any]) -> Iterable[tuple[str, str]]:
        given = [(n, values[n]) for n in names if values.get(n) is not None]
        families = {ipaddress.ip_address(v).version for _, v in given}
        if len(families) > 1:
            yield given[-1][0], " and ".join(f"{n} {v}" for n, v in given) + " mix IPv4 and IPv6; use one family"
    return rule


def exclusive(a: str, b: str) -> Callable[[dict[str, Any]], Iterable[tuple[str, str]]]:
    """A rule: options a and b are not both given."""
    def rule(values: dict[str, Any]) -> Iterable[tuple[str, str]]:
        if values.get(a) is not None and values.get(b) is not None:
            yield b, f"{a} and {b} are exclusive; give one of them"
    return rule


def _typename(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(type(v), type(v).__name__)


# The kind modules, each registering itself when imported; this order is the order of the lab
# sections, the CLI and the docs (bridges first, then what may be their ports).
MODULES = ("bridge", "veth", "vxlan", "vlan", "gretap", "macvlan", "macvtap", "other")
_loaded = False


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in MODULES:
            importlib.import_module(f"{__name__}.{module}")
