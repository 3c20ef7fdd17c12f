"""A lab's self-checks as a registry: one class per check kind, with its schema, validation, runner and command.

Adding a check kind is one class: subclass `CheckKind`, give it a `name` (its key in a lab
file's `checks:` entries) and a `schema` (lab/schema.py fields), write `run` and `command`
(and `validate` when it names more than a namespace and a device), decorate it with
`@register`, in a module listed in MODULES. The loader, `lab check`, `lab plan` and the docs
test pick it up from there.
"""

from __future__ import annotations

import importlib
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...errors import VnetError
from ..schema import Checker, F
from ..spec import Check, LabSpec
from ..yamlload import Pos
from .tools import TOOLS, in_ns

__all__ = ["CHECKS", "CHECK_FIELDS", "CHECK_KINDS", "TOOLS", "CheckContext", "CheckKind", "CheckResult", "command_of",
           "entry_fields", "in_ns", "register", "run_checks"]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    kind: str
    ok: bool
    detail: str
    seconds: float
    output: list[str] = field(default_factory=list)  # what a failed check saw (a capture's first packets), to show below


@dataclass
class CheckContext:
    """What a check's validation may refer to: the lab's namespaces, devices, processes and runtime directory."""

    ck: Checker
    known_ns: Callable[[str | None, Pos, str], None]
    kinds: dict[tuple[str | None, str], str]
    processes: set[str]
    run: str | None


Outcome = tuple[bool, str] | tuple[bool, str, list[str]]


class CheckKind:
    """One kind of check: its lab schema, its validation against the lab, its runner and its equivalent command."""

    name: ClassVar[str] = ""
    schema: ClassVar[dict[str, F]] = {}

    def validate(self, args: dict[str, Any], ctx: CheckContext, at: Pos) -> bool:
        """Check args against the rest of the lab (problems go to ctx.ck); False leaves the check out."""
        for key in ("netns", "from"):
            if key in args:
                ctx.known_ns(args[key], at, f"{self.name} check")
        trigger = (args.get("trigger") or {}).get("ping")
        if trigger:
            ctx.known_ns(trigger["from"], at, f"{self.name} trigger")
        if args.get("dev") and (args.get("netns"), args["dev"]) not in ctx.kinds:
            ctx.ck.add(at, f"{self.name} check: device {args['dev']!r} is not one the lab declares there")
        return True

    def run(self, args: dict[str, Any], spec: LabSpec) -> Outcome:
        """Run the check on the lab that is up: (passed, one line of detail[, lines it saw, shown when it failed])."""
        raise NotImplementedError

    def command(self, args: dict[str, Any]) -> str:
        """The check as the command line an operator would type."""
        raise NotImplementedError


CHECK_KINDS: dict[str, CheckKind] = {}


def register(cls: type[CheckKind]) -> type[CheckKind]:
    """Add a check kind to the registry (a class decorator)."""
    CHECK_KINDS[cls.name] = cls()
    return cls


def command_of(check: Check) -> str:
    """A check as the command line (or lines) an operator would type."""
    return CHECK_KINDS[check.kind].command(check.args)


def run_checks(spec: LabSpec, on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run every check of the lab in file order; a check that errors counts as failed."""
    out = []
    for check in spec.checks:
        t0 = time.monotonic()
        output: list[str] = []
        try:
            ok, detail, *more = CHECK_KINDS[check.kind].run(check.args, spec)
            output = list(more[0]) if more else []
        except VnetError as e:
            ok, detail = False, e.line()
        except (OSError, subprocess.SubprocessError) as e:
            ok, detail = False, f"{type(e).__name__}: {e}"
        except Exception as e:  # a check that cannot run is a failed row; the others still run
            ok, detail = False, f"could not run: {type(e).__name__}: {e}"
        result = CheckResult(check.name, check.kind, ok, detail, round(time.monotonic() - t0, 3), output)
        out.append(result)
        if on_result:
            on_result(result)
    return out


# The modules holding the check kinds, each registering its classes when imported; this order is
# the order of the kinds in messages and docs.
MODULES = ("net", "devices", "programs", "trace")
for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")



def entry_fields() -> dict[str, F]:
    """The fields of one `checks:` entry: a name and one key per registered check kind."""
    return {"name": F("str"), **{name: F("obj") for name in CHECK_KINDS}}


CHECKS: dict[str, dict[str, F]] = {name: kind.schema for name, kind in CHECK_KINDS.items()}
CHECK_FIELDS = entry_fields()
