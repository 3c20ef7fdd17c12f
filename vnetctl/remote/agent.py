"""The agent: vnetctl's side on another host, answering one JSON request per line on the SSH channel.

It runs the host's part of a lab with the single-host machinery (journal, lock, rollback).
An `up` is only kept once the controller says `commit`: `abort`, or the channel closing
(the controller killed, the connection lost), undoes it, so a failure on any host rolls
back every host.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time
import traceback
from typing import Any

from .. import errors
from ..errors import VnetError


class Gone(Exception):
    """The controller went away (or asked to abort) while this host was changing."""


class Channel:
    """Requests from stdin (read by a thread, so the channel closing is seen mid-work), replies on stdout."""

    def __init__(self) -> None:
        # replies go to a private copy of stdout; anything else printed lands on stderr
        self.out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.busy = False  # changing the kernel: an abort or a closed channel interrupts it
        self.interrupted = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("op") == "abort":
                self.interrupt()
            self.inbox.put(msg)  # an abort is also answered, once the interrupted work has stopped
        self.interrupt()
        self.inbox.put(None)

    def interrupt(self) -> None:
        """Stop the work in progress the way Ctrl-C does: execute() rolls back at the next Step."""
        self.interrupted = True
        if self.busy:
            os.kill(os.getpid(), signal.SIGTERM)

    def on_signal(self, signum: int, frame: object) -> None:
        """SIGTERM/SIGHUP outside execute(): interrupt the work, or just remember it."""
        self.interrupted = True
        if self.busy:
            raise Gone(signal.Signals(signum).name)

    def next(self) -> dict[str, Any] | None:
        """The next request; None once the channel is closed."""
        return self.inbox.get()

    def send(self, msg: dict[str, Any]) -> None:
        """One reply line; a closed channel is ignored (the rollback still happens)."""
        try:
            self.out.write(json.dumps(msg, default=str) + "\n")
        except OSError:
            pass


def error_reply(e: BaseException) -> dict[str, Any]:
    """An exception as a reply the controller turns back into the same VnetError class."""
    if isinstance(e, VnetError):
        return {"ok": False, "error": {"type": type(e).__name__, "message": e.message, "hint": e.hint,
                                       "changed": e.changed, "code": e.exit_code, "left": getattr(e, "left", None)}}
    if os.environ.get("VNETCTL_DEBUG"):
        traceback.print_exc()
    return {"ok": False, "error": {"type": "Failed", "message": f"{type(e).__name__}: {e}", "hint": "", "changed": "",
                                   "code": 1, "left": None}}


def _part(req: dict[str, Any]) -> Any:
    from ..lab.hosts import split
    from ..lab.validate import load_spec
    lab = req["lab"]
    spec = load_spec(lab["path"], lab["params"], text=lab["source"])
    return split(spec, req["underlays"])[req["host"]]


class Agent:
    """Serves requests until the channel closes."""

    def __init__(self, ch: Channel) -> None:
        self.ch = ch
        self.pending: str | None = None  # a lab brought up here and not yet committed

    def serve(self) -> None:
        while True:
            req = self.ch.next()
            if req is None:
                break
            try:
                self.ch.send({"ok": True, **self.handle(req)})
            except (Exception, Gone) as e:
                self.ch.send(error_reply(e))
        if self.pending is not None:  # the controller left before committing: undo this host's part
            self.undo()

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        for key, value in (req.get("env") or {}).items():
            if key in ("VNETCTL_INJECT_FAULT", "VNETCTL_DEBUG"):
                os.environ[key] = str(value)
        if op == "up":
            return self.up(req)
        if op == "commit":
            self.pending = None
            return {}
        if op == "abort":
            return {"undone": self.undo()}
        if op == "down":
            from ..lab import down
            return {"undone": [r.to_json() for r in down(req["name"], here=True)]}
        if op == "cleanup":
            from ..lab.cleanup import cleanup
            warnings: list[str] = []
            done = cleanup(dry_run=bool(req.get("dry_run")), owner=str(req["owner"]), warnings=warnings, here=True)
            return {"actions": [a.to_json() for a in done], "warnings": warnings}
        if op == "status":
            from ..lab.status import lab_status
            return {"status": lab_status(req["name"], None)}
        if op == "check":
            return {"results": self.check(req)}
        if op == "inspect":
            from .inspect_hosts import here
            return {"inspect": here()}
        raise errors.UsageError(f"unknown request {op!r}", "the controller and this host run different vnetctl versions")

    def up(self, req: dict[str, Any]) -> dict[str, Any]:
        from ..lab.hosts import HostLab
        lab = HostLab(_part(req))
        last = [0.0]

        def progress(i: int, n: int, step: object) -> None:
            now = time.monotonic()
            if now - last[0] > 0.2 or i == n:
                last[0] = now
                self.ch.send({"progress": i, "total": n})

        self.ch.interrupted = False
        self.ch.busy = True
        try:
            result = lab.up(progress)
        except Gone:
            result = "up"  # it may have got far: down finds out from the journal
        finally:
            self.ch.busy = False
        if result == "up":
            self.pending = lab.name
        if self.ch.interrupted:  # aborted too late for execute() to see it
            self.undo()
            raise errors.Failed(f"lab {lab.name}: interrupted", "this host's part was undone")
        return {"result": result, "steps": len(lab.plan())}

    def undo(self) -> list[dict[str, Any]]:
        from ..lab import down
        name, self.pending = self.pending, None
        return [r.to_json() for r in down(name, here=True)] if name else []

    def check(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        from dataclasses import asdict

        from ..lab.hosts import HostLab
        return [asdict(r) for r in HostLab(_part(req)).check()]


def main(digest: str) -> None:
    """Entry point of BOOT on the other host."""
    ch = Channel()
    signal.signal(signal.SIGTERM, ch.on_signal)
    signal.signal(signal.SIGHUP, lambda signum, frame: ch.interrupt())  # as SIGTERM, which execute() records
    ch.send({"ready": digest, "python": sys.version.split()[0], "host": os.uname().nodename, "pid": os.getpid()})
    Agent(ch).serve()
