"""Replace this process with a command running inside a namespace (like `ip netns exec`)."""

from __future__ import annotations

import ctypes
import os

from ..errors import CommandNotExecutable, CommandNotFound, PermissionDenied, UsageError
from . import netns as nsb

CLONE_NEWNS = 0x00020000
MS_REC = 16384
MS_SLAVE = 1 << 19
MNT_DETACH = 2


def exec_in(spec: str, argv: list[str]) -> None:
    """setns into the namespace, give it its own /sys (as ip does), then exec argv."""
    if not argv:
        raise UsageError("no command given", "usage: vnetctl netns exec NAME -- CMD [ARGS...]")
    ref = nsb.resolve(spec)
    assert ref is not None
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(ref.path, os.O_RDONLY | os.O_CLOEXEC)
    # The whole process is about to become the command, so a process-wide setns is right here.
    if libc.setns(fd, nsb.CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise PermissionDenied(f"cannot enter namespace {spec!r}: {os.strerror(err)}", "needs CAP_SYS_ADMIN (run as root)")
    os.close(fd)
    if libc.unshare(CLONE_NEWNS) == 0:
        libc.mount(b"", b"/", None, MS_SLAVE | MS_REC, None)
        if libc.umount2(b"/sys", MNT_DETACH) == 0:
            libc.mount(ref.name.encode() if ref.name else b"sysfs", b"/sys", b"sysfs", 0, None)
    try:
        os.execvp(argv[0], argv)
    except FileNotFoundError:
        raise CommandNotFound(f"command {argv[0]!r} not found", "give a program on PATH or an absolute path") from None
    except OSError as e:  # EACCES, ENOEXEC...: there, but not something to run
        raise CommandNotExecutable(f"command {argv[0]!r} cannot be run: {e.strerror}",
                                   "give an executable program") from None
