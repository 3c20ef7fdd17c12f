"""Steps: every change is one, with apply(), undo() and the equivalent command line.

A CLI command builds a few Steps, a lab compiles to a list of them; `execute` runs a
list transactionally, undoing what it did in reverse when one fails or is interrupted.
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import os
import resource
import shlex
import signal
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from .backend import netns as nsb
from .backend.netlink import Netlink
from .backend.privilege import require
from .errors import BackendError, Failed, IncompleteUndo, VnetError

if TYPE_CHECKING:
    from .model import Link

Receipt = dict[str, Any] | None
Dev = tuple[str | None, str]  # (namespace or None for here, device name)


FDS_PER_HANDLE = 5  # an rtnetlink socket, and pyroute2's socket, event loop and wake-up pipe


def fd_budget() -> int:
    """How many namespace handles fit in RLIMIT_NOFILE, keeping room for everything else."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 16
    return max(2, (soft - 64) // FDS_PER_HANDLE)


class Session:
    """Netlink handles per namespace, reused across Steps, at most `max_open` at once."""

    def __init__(self, max_open: int = 32) -> None:
        self._handles: OrderedDict[str, Netlink] = OrderedDict()
        self._max_open = min(max_open, fd_budget())
        # Devices created in this session, keyed (netns or "", name), with the state they were
        # born in (down, no master): a LinkSet on one needs no read of the old value for its undo.
        self.fresh: dict[tuple[str, str], dict[str, Any]] = {}

    def ns(self, spec: str | None) -> nsb.NsRef | None:
        """Resolve a namespace reference (None: the current namespace)."""
        return nsb.resolve(spec)

    def nl(self, spec: str | None) -> Netlink:
        """The netlink handle for namespace `spec`, opened on first use."""
        key = spec or ""
        handle = self._handles.get(key)
        if handle is not None:
            self._handles.move_to_end(key)
            return handle
        handle = Netlink(self.ns(spec))
        self._handles[key] = handle
        if len(self._handles) > self._max_open:
            _, old = self._handles.popitem(last=False)
            old.close()
        return handle

    def forget(self, spec: str | None) -> None:
        """Close the handle of a namespace that is going away."""
        handle = self._handles.pop(spec or "", None)
        if handle is not None:
            handle.close()

    def close(self) -> None:
        """Close every handle."""
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_REGISTRY: dict[str, type[Step]] = {}


def step_class(name: str) -> type[Step]:
    """The Step class a journal record names (KeyError if unknown)."""
    return _REGISTRY[name]


@dataclasses.dataclass(frozen=True)
class Step:
    """One change to the kernel, reversible and printable as an ip/brctl command."""

    caps: ClassVar[frozenset[str]] = frozenset({"CAP_NET_ADMIN"})

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        _REGISTRY[cls.__name__] = cls

    def apply(self, s: Session) -> Receipt:
        """Make the change; return what undo needs to know (JSON-serialisable) or None."""
        raise NotImplementedError

    def undo(self, s: Session, receipt: Receipt) -> None:
        """Reverse the change; tolerate it being already gone; never touch what is not ours."""
        raise NotImplementedError

    def command(self) -> str:
        """The equivalent iproute2 / brctl command line."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short human description (the command, by default)."""
        return self.command()

    def namespaces(self) -> list[str]:
        """Every namespace this Step names (they must exist before anything changes)."""
        return [ns for ns in (getattr(self, "netns", None),) if ns]

    def creates(self) -> list[Dev]:
        """The (namespace, name) of each device this Step makes."""
        return []

    def creates_namespace(self) -> str | None:
        """The name of the namespace this Step makes, if it makes one."""
        return None

    def vanishes_with(self, lab_ns: set[str], made: set[Dev]) -> bool:
        """True if deleting the namespaces `lab_ns` and the devices `made` takes this Step's effect with it."""
        return False

    def dies_with(self, lab_ns: set[str]) -> list[Dev] | None:
        """Devices of this Step outside `lab_ns` that the kernel removes with those namespaces (None: not such a Step)."""
        return None

    def identified(self) -> Step:
        """This Step with the identity it will give what it creates (e.g. a requested ifindex), journaled before it runs."""
        return self

    def adopt(self, s: Session) -> None:
        """After a crash between this Step's intent record and its end: make what it created removable, if provably ours."""

    def drift(self, view: View, owner: str, receipt: Receipt) -> str | None:
        """How the kernel differs from what this Step did (None: it does not)."""
        return None

    def to_record(self) -> dict[str, Any]:
        """A JSON-serialisable record for the journal."""
        # not dataclasses.asdict: its deep copy is the main cost of journaling thousands of Steps
        rec = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        rec["step"] = type(self).__name__
        return rec

    @staticmethod
    def from_record(rec: dict[str, Any]) -> Step:
        """Rebuild a Step from its journal record."""
        data = dict(rec)
        cls = _REGISTRY[data.pop("step")]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {k: _frozen(v) for k, v in data.items() if k in fields}
        return cls(**kwargs)


S = TypeVar("S", bound=Step)


def step_record(step: Step) -> dict[str, Any]:
    """One Step as plain data: its type, the equivalent command, and its arguments."""
    rec = step.to_record()
    kind = rec.pop("step")
    return {"step": kind, "command": step.command(), "args": rec}


def with_fields(step: S, **changes: Any) -> S:
    """A copy of a frozen Step with some fields changed, without re-running its argument checks."""
    new = copy.copy(step)
    for key, value in changes.items():
        object.__setattr__(new, key, value)
    return new


def _plain(value: Any) -> Any:
    """Tuples (also nested) as lists, as JSON will store them."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _frozen(value: Any) -> Any:
    """Lists (also nested) back as tuples, as the Step's fields hold them."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def ip(netns: str | None, *args: str) -> str:
    """An `ip` command line, run inside namespace `netns` (a name, pid:PID or path)."""
    words = [str(a) for a in args]
    if not netns:
        return shlex.join(["ip", *words])
    if netns.startswith("pid:"):
        return shlex.join(["nsenter", f"--net=/proc/{netns[4:]}/ns/net", "ip", *words])
    if "/" in netns:
        return shlex.join(["nsenter", f"--net={netns}", "ip", *words])
    return shlex.join(["ip", "-n", netns, *words])


def in_ns(netns: str | None, *argv: str) -> str:
    """Any command line run inside namespace `netns`."""
    words = [str(a) for a in argv]
    if not netns:
        return shlex.join(words)
    if netns.startswith("pid:"):
        return shlex.join(["nsenter", f"--net=/proc/{netns[4:]}/ns/net", *words])
    if "/" in netns:
        return shlex.join(["nsenter", f"--net={netns}", *words])
    return shlex.join(["ip", "netns", "exec", netns, *words])


class View(Protocol):
    """Each namespace's devices and addresses, read once (for drift)."""

    def link(self, netns: str | None, name: str) -> Link | None: ...

    def addresses(self, netns: str | None, index: int) -> set[str] | None: ...

    def cookie(self, netns: str | None) -> int | None:
        """The netns cookie read with the namespace's devices (None: not read, or no cookies on this kernel)."""


def where(netns: str | None) -> str:
    """' in namespace X' for messages, '' for the current namespace."""
    return f" in namespace {netns}" if netns else ""


class Journal(Protocol):
    """Where execute() records intent before, and receipts after, each Step."""

    def intent(self, index: int, step: Step) -> None: ...

    def done(self, index: int, step: Step, receipt: Receipt) -> None: ...

    def undone(self, index: int, step: Step) -> None: ...


class Interrupted(Exception):
    """SIGTERM or SIGINT arrived while Steps were running."""


@contextmanager
def interrupts_recorded() -> Iterator[list[str]]:
    """Record SIGTERM/SIGINT in the yielded list instead of acting on them at once.

    execute() looks at the list between Steps, so a signal can never land between a
    Step's kernel change and the record that it was made (which would strand the change).
    """
    got: list[str] = []

    def handler(signum: int, frame: object) -> None:
        got.append(signal.Signals(signum).name)

    try:
        old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not the main thread: signals stay as they are
        yield got
        return
    try:
        yield got
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def required_caps(steps: list[Step]) -> frozenset[str]:
    """The union of capabilities the Steps need."""
    caps: set[str] = set()
    for step in steps:
        caps |= step.caps
    return frozenset(caps)


def execute(steps: list[Step], session: Session | None = None, journal: Journal | None = None,
            progress: Callable[[int, Step], None] | None = None) -> list[Receipt]:
    """Apply Steps in order; on any failure or interrupt undo the applied ones in reverse.

    Raises the original VnetError (with 'nothing was changed') when the undo was complete,
    IncompleteUndo listing what is left otherwise.
    """
    if not steps:
        return []
    require(required_caps(steps), f"'{steps[0].describe()}'")
    own = session is None
    s = session or Session()
    done: list[tuple[int, Step, Receipt]] = []
    try:
        with interrupts_recorded() as signals:
            try:
                fault, fault_at = _injected_fault()
                for i, step in enumerate(steps):
                    _honour(signals)
                    if journal:
                        step = step.identified()  # what proves ownership after a crash is recorded first
                        journal.intent(i, step)
                    if i == fault_at:
                        _inject(fault, i, signals)
                    receipt = step.apply(s)
                    done.append((i, step, receipt))
                    if journal:
                        journal.done(i, step, receipt)
                    if progress:
                        progress(i, step)
                _honour(signals)
            except BaseException as exc:
                left = rollback(done, s, journal)
                raise _failure(exc, steps[len(done)] if len(done) < len(steps) else None, left) from None
        return [r for _, _, r in done]
    finally:
        if own:
            s.close()


def _honour(signals: list[str]) -> None:
    """Raise Interrupted if a signal was recorded."""
    if signals:
        raise Interrupted(signals[0])


def _injected_fault() -> tuple[str, int | None]:
    """For fault-injection tests: VNETCTL_INJECT_FAULT=step:N makes Step N fail;
    pause:N parks the process before Step N until a signal arrives (at most a minute)."""
    kind, _, n = os.environ.get("VNETCTL_INJECT_FAULT", "").partition(":")
    if kind in ("step", "pause") and n.isdigit():
        return kind, int(n)
    return "", None


def _inject(kind: str, i: int, signals: list[str]) -> None:
    if kind == "step":
        raise BackendError(f"injected fault before step {i}", errno.EIO)
    sys.stderr.write(f"vnetctl: paused before step {i} (VNETCTL_INJECT_FAULT)\n")
    sys.stderr.flush()
    deadline = time.monotonic() + 60
    while not signals and time.monotonic() < deadline:
        time.sleep(0.01)
    _honour(signals)


def rollback(done: list[tuple[int, Step, Receipt]], s: Session, journal: Journal | None = None) -> list[str]:
    """Undo applied Steps in reverse; return descriptions of what could not be undone."""
    left: list[str] = []
    with signals_deferred():
        for i, step, receipt in reversed(done):
            try:
                step.undo(s, receipt)
                if journal:
                    journal.undone(i, step)
            except Exception as exc:  # keep undoing the rest; report what stayed
                left.append(f"{step.describe()} ({error_text(exc)})")
    return left


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM while undoing, so a second Ctrl-C cannot strand half a rollback."""
    try:
        old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def _failure(exc: BaseException, failed: Step | None, left: list[str]) -> VnetError:
    where = f" at '{failed.describe()}'" if failed is not None else ""
    if left:
        return IncompleteUndo(f"failed{where}: {error_text(exc)}; undo left {len(left)} change(s): " + "; ".join(left), left)
    if isinstance(exc, VnetError):
        exc.changed = "nothing was changed"
        return exc
    if isinstance(exc, (Interrupted, KeyboardInterrupt)):
        return Failed(f"interrupted{where}", "everything done so far was undone")
    return Failed(f"failed{where}: {error_text(exc)}", "everything done so far was undone")


def error_text(exc: BaseException) -> str:
    """An exception as one line: a VnetError's own line, else its message or type name."""
    return exc.line() if isinstance(exc, VnetError) else (str(exc) or type(exc).__name__)
