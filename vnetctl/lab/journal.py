"""A lab's state directory: the lock, the copy of the lab file, meta data and the Step journal.

The journal is append-only JSON lines written with one write(2) each before and after
every Step (`intent`, `done` with the receipt, `undone`), so a crash at any point leaves
a record from which `lab down` or `vnetctl cleanup` can undo exactly what was done.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import time
from typing import Any

from .. import state
from ..errors import Locked
from ..ops import addr, link, link_props, netns, qdisc, route, sysctl, tuntap  # noqa: F401  every Step class a record can name
from ..steps import Receipt, Step, step_class
from . import paths, process  # noqa: F401

JOURNAL = "journal.jsonl"
META = "meta.json"
COPY = "lab.yaml"
LOCK = "lock"
CLEANUP_LOCK = "lock"  # in the state directory, beside labs/ and netns/
RUN = "run"


def _private_dir(path: str) -> str:
    state.subdir()  # the state directory itself, 0700 (makedirs gives only the leaf its mode)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _holder(fd: int) -> str:
    return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"


def _flock(path: str, how: int) -> tuple[int | None, str]:
    """Open a lock file and flock it without waiting: (fd, '') or, when another holds it, (None, its recorded pid)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        return None, holder
    return fd, ""


def _record_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def lock_holders() -> list[str]:
    """'lab NAME (pid N)' for each lab another vnetctl is changing right now."""
    out = []
    for name in names(any_state=True):
        try:
            fd = os.open(os.path.join(paths.lab_dir(name), LOCK), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            out.append(f"lab {name} (pid {_holder(fd)})")
        finally:
            os.close(fd)
    return out


class CleanupLock:
    """What keeps `cleanup` and lab changes apart: cleanup holds it exclusively, every lab change shares it."""

    def __init__(self, exclusive: bool) -> None:
        self.exclusive = exclusive
        self.fd: int | None = None

    def acquire(self) -> CleanupLock:
        """Take it, or raise Locked naming the other side's pid(s)."""
        fd, holder = _flock(os.path.join(state.subdir(), CLEANUP_LOCK), fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH)
        if fd is None:
            if self.exclusive:
                raise Locked("cleanup: a lab is being changed by another vnetctl: " + (", ".join(lock_holders()) or "pid unknown"),
                             "wait for it to finish, then retry")
            raise Locked(f"vnetctl cleanup (pid {holder}) is running", "wait for it to finish, then retry")
        if self.exclusive:
            _record_pid(fd)
        self.fd = fd
        return self

    def release(self) -> None:
        """Drop it."""
        if self.fd is not None:
            if self.exclusive:
                os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> CleanupLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class LabLock:
    """An exclusive flock on the lab's lock file, recording the holder's pid.

    Unless taken by cleanup itself (which holds CleanupLock exclusively), it also shares the
    CleanupLock, so a cleanup never runs while a lab is being changed, nor the other way round.
    """

    def __init__(self, name: str, by_cleanup: bool = False) -> None:
        self.name = name
        self.fd: int | None = None
        self.outer = None if by_cleanup else CleanupLock(exclusive=False)

    def path(self) -> str:
        """The lock file (its directory created, private)."""
        _private_dir(paths.labs_dir())
        return os.path.join(_private_dir(paths.lab_dir(self.name)), LOCK)

    def acquire(self) -> LabLock:
        """Take the lock or raise Locked naming the pid that holds it."""
        path = self.path()
        if self.outer is not None:
            self.outer.acquire()
        fd, holder = _flock(path, fcntl.LOCK_EX)
        if fd is None:
            if self.outer is not None:
                self.outer.release()
            raise Locked(f"lab {self.name!r} is locked by another vnetctl (pid {holder})", "wait for it to finish, then retry")
        _record_pid(fd)
        self.fd = fd
        return self

    def release(self) -> None:
        """Drop the lock."""
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None
        if self.outer is not None:
            self.outer.release()

    def __enter__(self) -> LabLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class Journal:
    """The Step journal of one lab (implements steps.Journal)."""

    def __init__(self, name: str) -> None:
        self.path = os.path.join(paths.lab_dir(name), JOURNAL)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)

    def _write(self, rec: dict[str, Any]) -> None:
        os.write(self.fd, (json.dumps(rec, separators=(",", ":"), default=str) + "\n").encode())

    def intent(self, index: int, step: Step) -> None:
        """Record that Step `index` is about to run."""
        self._write({"ev": "intent", "i": index, "step": step.to_record()})

    def done(self, index: int, step: Step, receipt: Receipt) -> None:
        """Record that Step `index` ran, with what undo needs."""
        self._write({"ev": "done", "i": index, "receipt": receipt})

    def undone(self, index: int, step: Step) -> None:
        """Record that Step `index` was undone."""
        self._write({"ev": "undone", "i": index})

    def close(self) -> None:
        """Close the journal file."""
        os.close(self.fd)


class Entry:
    """One Step as the journal tells it: the Step, whether it finished, its receipt."""

    def __init__(self, index: int, step: Step) -> None:
        self.index = index
        self.step = step
        self.done = False
        self.undone = False
        self.receipt: Receipt = None


def replay(name: str, damaged: list[str] | None = None) -> list[Entry]:
    """The journal of lab `name`, in Step order (an unfinished last line is ignored).

    A record that cannot be read (damage, another vnetctl version) is skipped and, when
    `damaged` is given, described there.
    """
    path = os.path.join(paths.lab_dir(name), JOURNAL)
    entries: dict[int, Entry] = {}
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    with os.fdopen(fd) as f:
        for n, line in enumerate(f, 1):
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # torn by a crash mid-write
            try:
                i = rec["i"]
                if rec["ev"] == "intent":
                    entries[i] = Entry(i, _rebuild(rec["step"]))
                elif i in entries and rec["ev"] == "done":
                    entries[i].done = True
                    entries[i].receipt = rec.get("receipt")
                elif i in entries and rec["ev"] == "undone":
                    entries[i].undone = True
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                if damaged is not None:
                    damaged.append(f"journal line {n} is unreadable ({type(e).__name__}: {e})")
    return [entries[i] for i in sorted(entries)]


def _rebuild(rec: dict[str, Any]) -> Step:
    """A Step from its journal record, without re-running its argument checks.

    The record was written from a Step that passed them, into a private file; parsing
    thousands of addresses and names again would dominate `down` of a large lab.
    """
    cls = step_class(rec["step"])
    step = object.__new__(cls)
    values = step.__dict__  # frozen: filled directly, as the dataclass's own __init__ would
    for name, default, factory in _fields(rec["step"], cls):
        if name in rec:
            values[name] = _frozen(rec[name])
        elif default is not dataclasses.MISSING:
            values[name] = default
        elif factory is not dataclasses.MISSING:
            values[name] = factory()
        else:
            return Step.from_record(rec)  # an old record without a required field: the checked way
    return step


_FIELDS: dict[str, tuple[tuple[str, Any, Any], ...]] = {}


def _fields(name: str, cls: type[Step]) -> tuple[tuple[str, Any, Any], ...]:
    """Each field of Step class `name`: its name, default and default factory (dataclasses.fields is slow to ask each time)."""
    if name not in _FIELDS:
        _FIELDS[name] = tuple((f.name, f.default, f.default_factory) for f in dataclasses.fields(cls))
    return _FIELDS[name]


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def read_meta(name: str) -> dict[str, Any] | None:
    """The lab's meta data (None when the lab has no state).

    A damaged file (truncated by a full disk, edited by hand) reads as {"status": "damaged", "damaged": why}:
    the journal still says what the lab made, so `lab down` and `cleanup` can remove it.
    """
    path = os.path.join(paths.lab_dir(name), META)
    try:
        meta = state.read_json(path)
    except ValueError as e:
        return {"status": "damaged", "damaged": f"{path} is damaged ({type(e).__name__}: {e})"}
    if meta is not None and not isinstance(meta, dict):
        return {"status": "damaged", "damaged": f"{path} is damaged (not a JSON object)"}
    return meta


def status_of(meta: dict[str, Any]) -> str:
    """The lab's status for people: up, starting (pid N), crashed (pid N gone), failed, damaged (file)."""
    if meta.get("damaged"):
        return f"damaged ({META} unreadable)"
    status = str(meta.get("status", "unknown"))
    pid = meta.get("pid")
    if status == "starting" and pid:
        return f"starting (pid {pid})" if os.path.exists(f"/proc/{pid}") else f"crashed (pid {pid} gone)"
    return status


def write_meta(lab: str, **fields: Any) -> None:
    """Update the lab's meta data."""
    meta = read_meta(lab) or {}
    if meta.get("damaged"):
        meta = {}
    meta.update(fields, updated=time.time())
    state.write_json(os.path.join(paths.lab_dir(lab), META), meta)


def begin(name: str, source: str, meta: dict[str, Any]) -> Journal:
    """Start a fresh state for an `up`: the file copy, meta data, an empty journal."""
    d = _private_dir(paths.lab_dir(name))
    for fn in (JOURNAL, META, COPY):
        state.remove(os.path.join(d, fn))
    fd = os.open(os.path.join(d, COPY), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(source)
    write_meta(name, **meta)
    return Journal(name)


def forget(name: str, keep_lock: bool = True) -> None:
    """Remove the lab's state files (and, unless keep_lock, the lock and the directory).

    Only the files vnetctl writes there are removed, so nothing else can be lost.
    """
    d = paths.lab_dir(name)
    if not os.path.isdir(d) or os.path.islink(d):
        return
    for entry in os.listdir(d):
        path = os.path.join(d, entry)
        if entry == RUN and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif entry in (JOURNAL, META, COPY) or entry.startswith(META + ".tmp.") or (entry == LOCK and not keep_lock):
            state.remove(path)
    if not keep_lock:
        try:
            os.rmdir(d)
        except OSError:
            pass


def names(any_state: bool = False) -> list[str]:
    """Labs with state on this host (up, partly up after a crash, or being brought up).

    With any_state, also those with only a journal or a lock left (a crash before or while writing meta data).
    """
    d = paths.labs_dir()
    try:
        found = sorted(os.listdir(d))
    except FileNotFoundError:
        return []
    wanted = (META, JOURNAL, LOCK) if any_state else (META,)
    return [n for n in found if paths.valid_name(n) and any(os.path.exists(os.path.join(d, n, f)) for f in wanted)]
