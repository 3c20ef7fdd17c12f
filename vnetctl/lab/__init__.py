"""Labs: a YAML file of namespaces, devices, processes and checks, brought up transactionally.

    lab = vnetctl.lab.load("labs/veth-netns.yaml", {"hosts": "8"})
    lab.plan()      # the Steps; lab.script() as an ip/brctl shell script
    lab.up()        # journaled; undone in reverse on failure, Ctrl-C or SIGTERM
    lab.check()     # list of CheckResult
    lab.down()      # removes exactly what the journal says was made; idempotent
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..backend.privilege import require
from ..errors import Busy, IncompleteUndo, LabError, NotFound, UsageError
from ..steps import Session, Step
from . import journal as jr
from .process import ProcessStart
from .teardown import Removed, undo_journal

if TYPE_CHECKING:
    from .checks import CheckResult
    from .replace import Change
    from .spec import LabSpec

# `lab down` and `lab list` need only the journal: loading, planning and checks are
# imported when used, so those commands start faster.

__all__ = ["Lab", "Removed", "load", "down", "labs", "status"]

Progress = Callable[[int, int, Step], None]
SESSION_HANDLES = 256
RUN_REF = re.compile(r"\{[^{}]*\brun\b[^{}]*\}")
CAPS = frozenset({"CAP_NET_ADMIN", "CAP_SYS_ADMIN"})  # what taking a lab down or cleaning up needs


class Lab:
    """A loaded, validated lab file; the Python twin of `vnetctl lab ...`."""

    def __init__(self, spec: LabSpec) -> None:
        self.spec = spec
        self._steps: list[Step] | None = None
        self.change: Change | None = None  # what the last `up(replace=True)` undid and applied

    @property
    def name(self) -> str:
        """The lab's name (the owner in its devices' markers)."""
        return self.spec.name

    def plan(self) -> list[Step]:
        """The Steps that bring the lab up, in order; nothing is changed."""
        if self._steps is None:
            from .plan import compile_steps
            self._steps = compile_steps(self.spec)
        return self._steps

    def notes(self) -> list[str]:
        """What the lab does that a reader should know beyond the plan (none for a one-host lab)."""
        return []

    def script(self) -> list[str]:
        """The plan as a shell script that runs end to end with `sh`; what it makes is marked as the plan's."""
        from .plan import compile_steps, script
        spec = self.spec
        if RUN_REF.search(spec.source):  # `{run}` is the plan's runtime directory in the script
            from .validate import load_spec
            spec = load_spec(spec.path, {k: str(v) for k, v in spec.params.items()}, spec.source, plan=True)
            return script(spec, compile_steps(spec))
        return script(spec, self.plan())

    def up(self, progress: Progress | None = None) -> str:
        """Bring the lab up; 'up' when created, 'unchanged' when it already was, identical."""
        from ..steps import execute
        from .plan import digest
        steps = self.plan()
        self.preflight(steps)
        self._no_plan_copy()
        with jr.LabLock(self.name):
            meta = jr.read_meta(self.name)
            fingerprint = digest(steps)
            if meta is not None:
                return self._already(meta, fingerprint)
            journal = jr.begin(self.name, self.spec.source, {
                "name": self.name, "file": self.spec.path, "params": self.spec.params, "digest": fingerprint,
                "status": "starting", "pid": os.getpid(), "steps": len(steps), "started": time.time()})
            total = len(steps)
            try:
                with Session(SESSION_HANDLES) as s:
                    execute(steps, s, journal, (lambda i, st: progress(i + 1, total, st)) if progress else None)
            except IncompleteUndo:
                jr.write_meta(self.name, status="failed")
                raise
            except BaseException:
                jr.forget(self.name)
                raise
            finally:
                journal.close()
            jr.write_meta(self.name, status="up", pid=None)
        return "up"

    def replace(self) -> str:
        """Like up(), but a lab of this name that is up and differs is brought to this file, changing only what differs.

        Returns 'replaced' (what was undone and applied is in self.change), 'up' or 'unchanged'.
        """
        from .plan import digest
        if self.spec.hosts:
            raise UsageError(f"lab {self.name!r} spans hosts: --replace works on a lab of one host",
                             f"run 'vnetctl lab down {self.name}' then 'vnetctl lab up {self.spec.path}'")
        steps = self.plan()
        self.preflight(steps)
        with jr.LabLock(self.name):
            meta = jr.read_meta(self.name)
            if meta is not None and meta.get("status") == "up" and meta.get("digest") != digest(steps):
                from .replace import replace as bring_to
                self.change = bring_to(self, SESSION_HANDLES)
                return "replaced"
        return self.up()

    def preflight(self, steps: list[Step]) -> None:
        """Before anything changes: privileges, kernel support of every device type, programs."""
        from ..backend import kernel
        from ..backend.privilege import require
        from ..ops.link import unsupported
        from ..steps import required_caps
        from .checks import TOOLS
        require(required_caps(steps), f"bringing lab {self.name} up")
        for kind in self.spec.kinds():
            if not kernel.supports(kind):
                raise unsupported(kind)
        for proc in self.spec.processes:
            prog = proc.argv[0]
            if prog != "vnetctl" and shutil.which(prog) is None:
                raise NotFound(f"process {proc.name!r}: program {prog!r} not found",
                               f"install the Debian package {TOOLS.get(os.path.basename(prog), prog)}; nothing was changed")

    def _no_plan_copy(self) -> None:
        """Conflict (5) while what this lab's plan script made is there: the names are taken, and not by the lab."""
        from .plancopy import summary
        copy = summary(self.name)
        if copy and (copy["namespaces"] or copy["devices"] or any(p["running"] for p in copy["processes"])):
            raise Busy(f"lab {self.name!r}: a copy made by its plan script is up ({len(copy['namespaces'])} namespace(s), "
                       f"{len(copy['devices'])} device(s))", f"remove it with 'vnetctl cleanup --owner {copy['owner']}'; "
                       "nothing was changed")

    def _already(self, meta: dict[str, Any], fingerprint: str) -> str:
        if meta.get("status") == "up" and meta.get("digest") == fingerprint:
            return "unchanged"
        if meta.get("status") == "up":
            raise Busy(f"lab {self.name!r} is up and differs from {self.spec.path}",
                       f"'vnetctl lab up --replace {self.spec.path}' changes what differs, or run "
                       f"'vnetctl lab down {self.name}' first; nothing was changed")
        raise Busy(f"lab {self.name!r} is partly up ({jr.status_of(meta)})",
                   f"run 'vnetctl lab down {self.name}' to remove what is left; nothing was changed")

    def down(self) -> list[Removed]:
        """Remove exactly what the lab made (by its journal); one record per Step undone ([] when it was not up)."""
        return down(self.name)

    def check(self, on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
        """Run the lab's checks (the lab must be up)."""
        from .checks import run_checks
        meta = jr.read_meta(self.name)
        if meta is None or meta.get("status") != "up":
            raise NotFound(f"lab {self.name!r} is not up", f"bring it up with 'vnetctl lab up {self.spec.path}'")
        if self.spec.namespaces:  # entering them is privileged: say so rather than fail every check
            require(frozenset({"CAP_SYS_ADMIN"}), f"lab check {self.name}")
        return run_checks(self.spec, on_result)

    def only(self, names: Iterable[str]) -> Lab:
        """This lab with only the checks named (LabError, exit 65, for a name it has not, listing its checks)."""
        wanted = list(dict.fromkeys(names))
        known = [c.name for c in self.spec.checks]
        unknown = [n for n in wanted if n not in known]
        if unknown:
            err = LabError([f"lab {self.name!r} has no check " + ", ".join(map(repr, unknown))])
            err.hint = ("its checks: " + ", ".join(map(repr, known))) if known else "it has no checks"
            raise err
        return type(self)(dataclasses.replace(self.spec, checks=tuple(c for c in self.spec.checks if c.name in wanted)))

    def check_commands(self) -> list[str]:
        """Each check as the command line an operator would type."""
        from .checks import command_of
        return [command_of(c) for c in self.spec.checks]

    def status(self) -> dict[str, Any]:
        """What is up, and drift between this file, the lab's state and the kernel."""
        from .status import lab_status
        return lab_status(self.name, self)

    def __enter__(self) -> Lab:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()


def load(path: str, params: dict[str, Any] | None = None, **kw: Any) -> Lab:
    """Load and validate a lab file (LabError lists every problem); nothing is touched.

    Parameters (the file's `params:`, what `--set` gives) as a dict, as keywords, or both:
    `load(path, {"hosts": 8})` and `load(path, hosts=8)` are the same lab.
    """
    from .validate import load_spec
    spec = load_spec(path, {k: str(v) for k, v in {**(params or {}), **kw}.items()})
    if spec.hosts:
        from ..remote.controller import MultiLab
        return MultiLab(spec)
    return Lab(spec)


def name_of(target: str, params: dict[str, Any] | None = None) -> str:
    """A lab name from a lab name or the path of its file."""
    if os.path.isfile(target) or target.endswith((".yaml", ".yml")):
        return load(target, params).name
    return target


def load_target(target: str, params: dict[str, Any] | None = None) -> Lab:
    """A lab by file, or by the name of a lab that is up here (its recorded file and parameters, --set on top)."""
    if os.path.isfile(target) or target.endswith((".yaml", ".yml")) or "/" in target:
        return load(target, params)
    meta = jr.read_meta(target)
    if meta is None or not meta.get("file"):
        raise NotFound(f"lab file or lab {target!r} not found",
                       "give the path of a lab YAML file (e.g. labs/veth-netns.yaml) or the name of a lab that is up "
                       "('vnetctl lab list')")
    return load(meta["file"], {**meta.get("params", {}), **(params or {})})


def node(target: str, name: str) -> str:
    """The namespace of node `name` of a lab that is up here (by lab name or file); NotFound listing its nodes otherwise."""
    from ..ops.netns import NetnsAdd
    lab = name_of(target)
    if jr.read_meta(lab) is None:
        raise NotFound(f"lab {lab!r} is not up", "see 'vnetctl lab list'")
    nodes = [e.step.name for e in jr.replay(lab) if isinstance(e.step, NetnsAdd) and e.done and not e.undone]
    if name not in nodes:
        raise NotFound(f"lab {lab!r} has no node {name!r}",
                       ("its nodes: " + ", ".join(nodes)) if nodes else "it has no namespaces: run the command directly")
    return name


def down(target: str, params: dict[str, Any] | None = None, here: bool = False,
         warnings: list[str] | None = None) -> list[Removed]:
    """Bring a lab down by name or file, from its journal; a lab that is not up is a no-op.

    A lab across hosts is brought down on every host it is on, unless `here` (this host's part only).
    What holds a name the lab planned but cannot be proven the lab's is left alone and named in `warnings`.
    """
    name = name_of(target, params)
    if not here:
        from ..remote import record
        if record.read(name) is not None:
            from ..remote.controller import down_everywhere
            return down_everywhere(name)
    require(CAPS, f"lab down {name}")  # before the lock and the state: nothing is touched without them
    with jr.LabLock(name):
        meta = jr.read_meta(name)
        if meta is None:
            jr.forget(name)
            return []
        if meta.get("damaged") and warnings is not None:
            warnings.append(f"{meta['damaged']}; going by the journal")
        entries, left, damaged = undo_journal(name, warnings, SESSION_HANDLES)
        left += damaged  # what those records did is unknown
        if left:
            jr.write_meta(name, status="failed")
            raise IncompleteUndo(f"lab {name!r}: {len(left)} change(s) could not be undone: " + "; ".join(left), left)
        jr.forget(name)
    return [Removed.of(e.step) for e in entries if not e.undone]  # not what a failed up or a replace undid already


def labs() -> list[dict[str, Any]]:
    """Labs with state on this host: name, status, file, steps, processes, since."""
    out = []
    for name in jr.names():
        meta = jr.read_meta(name) or {}
        entries = jr.replay(name)
        procs = [e for e in entries if isinstance(e.step, ProcessStart) and e.done and not e.undone]
        out.append({"name": name, "status": jr.status_of(meta), "file": meta.get("file"),
                    "params": meta.get("params", {}), "steps": sum(1 for e in entries if e.done and not e.undone),
                    "processes": [{"name": e.step.name, "pid": (e.receipt or {}).get("pid")} for e in procs],  # type: ignore[attr-defined]
                    "since": meta.get("started")})
    return out


def status(target: str | None = None, params: dict[str, Any] | None = None,
           progress: Callable[[str, int, int], None] | None = None) -> list[dict[str, Any]]:
    """Status and drift of one lab (by file or name) or of every lab with state.

    progress(lab, done, total) is called as each local lab's namespaces are read.
    """
    from ..remote import record
    from ..remote.controller import status_everywhere
    from .status import lab_status

    def one(name: str, lab: Lab | None) -> dict[str, Any]:
        return lab_status(name, lab, (lambda done, total: progress(name, done, total)) if progress else None)
    if target is None:
        from .plancopy import names as plan_names
        local = sorted(set(jr.names()) | set(plan_names()))
        return [one(n, None) for n in local] + [status_everywhere(n) for n in record.names()]
    if os.path.isfile(target):
        lab = load(target, params)
        return [status_everywhere(lab.name) if lab.spec.hosts else one(lab.name, lab)]
    return [status_everywhere(target) if record.read(target) is not None else one(target, None)]


def check_errors(results: list[CheckResult]) -> int:
    """How many checks failed."""
    return sum(1 for r in results if not r.ok)

