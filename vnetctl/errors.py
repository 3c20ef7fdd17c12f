"""Errors raised by the vnetctl library; each carries a hint and a stable exit code."""

from __future__ import annotations

import errno as _errno


class VnetError(Exception):
    """Base class: an expected failure with a one-line message, a hint and an exit code."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", changed: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.changed = changed

    def line(self) -> str:
        """The one-line form shown on stderr: what, hint, what was changed."""
        text = self.message
        if self.hint:
            text += f" — {self.hint}"
        if self.changed:
            text += f" ({self.changed})"
        return text


class Failed(VnetError):
    """The operation failed and everything it did was undone."""

    exit_code = 1


class UsageError(VnetError):
    """The command line or arguments are wrong."""

    exit_code = 2


class IncompleteUndo(VnetError):
    """The operation failed and undoing it left things behind."""

    exit_code = 3

    def __init__(self, message: str, left: list[str], hint: str = "") -> None:
        super().__init__(message, hint or "run 'vnetctl cleanup' or 'vnetctl lab down' to remove what is left")
        self.left = left


class NotFound(VnetError):
    """A device, namespace, lab or process does not exist."""

    exit_code = 4


class AlreadyExists(VnetError):
    """The name is taken."""

    exit_code = 5


class Busy(VnetError):
    """The object is in use (a process holds it, a lab differs)."""

    exit_code = 5


class NotOurs(Busy):
    """An object holds a name vnetctl planned, but cannot be proven to be vnetctl's: it is left alone."""


class CommandNotFound(VnetError):
    """`netns exec`: the program does not exist (127, as `ip netns exec` and the shell say)."""

    exit_code = 127


class CommandNotExecutable(VnetError):
    """`netns exec`: the program exists but cannot be run (126, as the shell says)."""

    exit_code = 126


class InvalidName(VnetError):
    """A name breaks the kernel's or iproute2's rules."""

    exit_code = 2


class LabError(VnetError):
    """A lab file is invalid; carries every problem as file:line:col: message."""

    exit_code = 65

    def __init__(self, problems: list[str]) -> None:
        first = problems[0] if problems else "invalid lab file"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more, "fix the lab file; nothing was changed")
        self.problems = problems


class Unsupported(VnetError):
    """The running kernel lacks a device type, option or /dev/net/tun."""

    exit_code = 69


class Unreachable(VnetError):
    """A host of a lab across hosts cannot be reached (ssh fails, the connection is lost)."""

    exit_code = 69


class Locked(VnetError):
    """Another vnetctl process holds the lab's lock."""

    exit_code = 75


class PermissionDenied(VnetError):
    """A capability is missing (CAP_NET_ADMIN, CAP_SYS_ADMIN)."""

    exit_code = 77


class BackendError(VnetError):
    """The kernel refused a request for another reason; carries the errno."""

    exit_code = 1

    def __init__(self, message: str, err: int = 0, hint: str = "", changed: str = "") -> None:
        name = _errno.errorcode.get(err, str(err)) if err else ""
        super().__init__(f"{message}: {name}" if name else message, hint, changed)
        self.errno = err


EXIT_CODES: dict[int, str] = {
    0: "success, including an idempotent no-op",
    1: "the operation failed and everything it did was undone",
    2: "command-line usage error (including an invalid name)",
    3: "the operation failed and undoing was incomplete; what is left is listed",
    4: "not found (device, namespace, lab)",
    5: "conflict: the name exists, the device is busy, the lab is up and differs",
    65: "invalid lab file; every problem reported as file:line:col: message",
    69: "the kernel lacks what was asked for, or a lab's host is unreachable; nothing touched",
    75: "another vnetctl holds the lab's lock",
    77: "missing privilege (CAP_NET_ADMIN / CAP_SYS_ADMIN); nothing touched",
    126: "netns exec: the command cannot be run (not executable)",
    127: "netns exec: the command was not found",
    130: "interrupted (Ctrl-C) outside any change",
}
