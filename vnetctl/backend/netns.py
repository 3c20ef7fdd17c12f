"""Network namespaces: resolve references, create and delete named ones, run code inside one.

Code runs inside a namespace on a dedicated worker thread that enters it with setns(2)
and always returns, so the process's main thread never changes namespace. Sockets and
files opened there stay bound to that namespace after the thread leaves it.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import stat
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from ..errors import AlreadyExists, BackendError, Busy, NotFound, PermissionDenied, UsageError
from ..model import is_owner_form
from ..names import check_netns

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2
NSFS_MAGIC = 0x6E736673
NS_GET_NSTYPE = 0xB703
SO_NETNS_COOKIE = 71  # Linux 5.14+

T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


@dataclass(frozen=True)
class NsRef:
    """A resolved namespace reference: its display name (None if unnamed), nsfs path and inode."""

    name: str | None
    path: str
    inode: int


def _oserror(what: str) -> OSError:
    e = ctypes.get_errno()
    return OSError(e, f"{what}: {os.strerror(e)}")


def run_dir() -> str:
    """Where named namespaces are bind-mounted (iproute2's NETNS_RUN_DIR)."""
    return os.environ.get("VNETCTL_NETNS_DIR", NETNS_RUN_DIR)


def path_of(name: str) -> str:
    """The nsfs path of named namespace `name`."""
    return os.path.join(run_dir(), check_netns(name))


def inode_of(path: str) -> int:
    """The nsfs inode of a namespace file (what `stat -L -c %i` prints)."""
    return os.stat(path).st_ino


def current_inode() -> int:
    """Inode of the namespace this process's main thread runs in."""
    return os.stat("/proc/self/ns/net").st_ino


def cookie_here() -> int | None:
    """The netns cookie of the calling thread's namespace (never reused within a boot); None if the kernel has none."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        return socket_cookie(sock)


def socket_cookie(sock: socket.socket) -> int | None:
    """The netns cookie of the namespace `sock` was made in; None if the kernel has none."""
    try:
        return int.from_bytes(sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8), sys.byteorder)
    except OSError as e:
        if e.errno in (errno.ENOPROTOOPT, errno.EINVAL):
            return None
        raise


def cookie_of(ns: NsRef | None) -> int | None:
    """The netns cookie of namespace ns (None: here); None if the kernel lacks SO_NETNS_COOKIE."""
    return call_in(ns, cookie_here)


def is_nsfs(path: str) -> bool:
    """True if path is a network-namespace file (nsfs), not a plain file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return False
        raise  # EMFILE or EACCES is no proof that the namespace is missing
    try:
        buf = ctypes.create_string_buffer(120)
        if _libc.fstatfs(fd, buf) != 0 or ctypes.c_long.from_buffer(buf).value != NSFS_MAGIC:
            return False
        try:  # nsfs holds every kind of namespace: a mount or pid one is not a network namespace
            return fcntl.ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET
        except OSError:
            return True  # a kernel without NS_GET_NSTYPE (before 4.11): nsfs is all we can tell
    finally:
        os.close(fd)


def resolve(spec: str | None) -> NsRef | None:
    """Resolve `-n` (a name, `pid:PID`, an nsfs path or an owner such as docker:web) to an NsRef; None means here.

    Never creates anything: a missing namespace is NotFound.
    """
    if spec is None or spec == "":
        return None
    if is_owner_form(spec):
        from ..owners import locate  # owners read runtimes' files; only the owner forms need them

        path, inode, _ = locate.locate(spec)
        return NsRef(None, path, inode)
    if spec.startswith("pid:"):
        pid = spec[4:]
        if not pid.isdigit():
            raise UsageError(f"invalid namespace reference {spec!r}", "use pid:PID with a numeric pid")
        path = f"/proc/{pid}/ns/net"
        try:
            return NsRef(None, path, inode_of(path))
        except FileNotFoundError:
            raise NotFound(f"process {pid} not found", "check the pid with 'ps'") from None
        except PermissionError:
            raise PermissionDenied(f"cannot open the namespace of process {pid}", "needs CAP_SYS_PTRACE or root") from None
    if "/" in spec:
        if not os.path.exists(spec):
            raise NotFound(f"namespace file {spec!r} not found", "give an existing nsfs path")
        try:
            if not is_nsfs(spec):
                raise UsageError(f"{spec!r} is not a network namespace file",
                                 "give a /proc/PID/ns/net or a bind-mounted nsfs path")
            return NsRef(None, spec, inode_of(spec))
        except OSError as e:
            raise _map_oserror(e, f"cannot open namespace file {spec!r}") from None
    path = path_of(spec)
    try:
        if not is_nsfs(path):
            raise NotFound(f"namespace {spec!r} not found", f"{path} is not a mounted namespace; see 'vnetctl netns list'")
        return NsRef(spec, path, inode_of(path))
    except FileNotFoundError:
        raise NotFound(f"namespace {spec!r} not found", "create it with 'vnetctl netns add' or see 'vnetctl netns list'") from None
    except OSError as e:
        raise _map_oserror(e, f"cannot open namespace {spec!r}") from None


def list_named() -> list[NsRef]:
    """Named namespaces under the run directory that are really mounted."""
    out = []
    d = run_dir()
    try:
        names = sorted(os.listdir(d))
        dir_dev = os.stat(d).st_dev
    except FileNotFoundError:
        return []
    for name in names:
        path = os.path.join(d, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        # A mounted namespace lives on nsfs, another device than the directory.
        if stat.S_ISREG(st.st_mode) and st.st_dev != dir_dev:
            out.append(NsRef(name, path, st.st_ino))
    return out


def _worker() -> ThreadPoolExecutor:
    """One worker thread (concurrent.futures, and logging with it, imported only by a command that needs one)."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="vnetctl-netns")


class _Runner:
    """One worker thread that enters a namespace, runs a function and comes back."""

    def __init__(self) -> None:
        self._pool = _worker()
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._lock = threading.Lock()

    def call(self, path: str, fn: Callable[[], T]) -> T:
        with self._lock:
            return self._pool.submit(self._enter_and_run, path, fn).result()

    def _enter_and_run(self, path: str, fn: Callable[[], T]) -> T:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise _oserror(f"setns {path}")
        finally:
            os.close(fd)
        try:
            return fn()
        finally:
            if _libc.setns(self._home, CLONE_NEWNET) != 0:
                # The worker is stranded in the wrong namespace: retire it for good.
                self._pool.shutdown(wait=False)
                self._pool = _worker()


_runner: _Runner | None = None


def call_in(ns: NsRef | None, fn: Callable[[], T]) -> T:
    """Run fn with the calling context inside namespace ns (None: here)."""
    global _runner
    if ns is None:
        return fn()
    if _runner is None:
        _runner = _Runner()
    try:
        return _runner.call(ns.path, fn)
    except FileNotFoundError as e:
        if not (e.strerror or "").startswith("setns"):
            raise
        raise NotFound(f"namespace {ns.name or ns.path!r} vanished", "it was deleted meanwhile") from None
    except PermissionError as e:
        if not (e.strerror or "").startswith("setns"):
            raise
        raise PermissionDenied(f"cannot enter namespace {ns.name or ns.path!r}",
                               "needs CAP_SYS_ADMIN (run as root)") from None


_shared_dirs: set[str] = set()


def _ensure_run_dir() -> None:
    """Create the run directory as a shared mount point, as `ip netns add` does (once per process)."""
    d = run_dir()
    # MS_REC walks every namespace already mounted there: once per process, not once per namespace
    if d in _shared_dirs and os.path.isdir(d):
        return
    os.makedirs(d, mode=0o755, exist_ok=True)
    bd = d.encode()
    if _libc.mount(b"", bd, None, MS_SHARED | MS_REC, None) == 0:
        _shared_dirs.add(d)
        return
    if ctypes.get_errno() != errno.EINVAL:
        raise _oserror(f"make {d} shared")
    if _libc.mount(bd, bd, b"none", MS_BIND | MS_REC, None) != 0:
        raise _oserror(f"bind {d}")
    if _libc.mount(b"", bd, None, MS_SHARED | MS_REC, None) != 0:
        raise _oserror(f"make {d} shared")
    _shared_dirs.add(d)


def _map_oserror(e: OSError, what: str) -> Exception:
    if e.errno in (errno.EPERM, errno.EACCES):
        return PermissionDenied(f"{what}: {errno.errorcode[e.errno]}", "needs CAP_SYS_ADMIN (run as root)")
    return BackendError(what, e.errno or 0)


def create(name: str, before_mount: Callable[[int | None], None] | None = None) -> NsRef:
    """Create named namespace `name` (like `ip netns add`); AlreadyExists if it does.

    before_mount(cookie) runs once the namespace exists and before it gets its name, so a
    record of its cookie can precede anything a crash could leave behind.
    """
    path = path_of(name)
    try:
        _ensure_run_dir()
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o444)
    except FileExistsError:
        raise AlreadyExists(f"namespace {name!r} exists", "pick another name or delete it with 'vnetctl netns del'") from None
    except OSError as e:
        raise _map_oserror(e, f"cannot create namespace {name!r}") from None
    os.close(fd)

    def make() -> None:
        if _libc.unshare(CLONE_NEWNET) != 0:
            raise _oserror("unshare")
        if before_mount is not None:
            before_mount(cookie_here())
        if _libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None) != 0:
            raise _oserror("bind mount")

    result: list[BaseException] = []

    def thread() -> None:
        try:
            make()
        except BaseException as exc:  # handed to the caller below
            result.append(exc)

    # A throwaway thread: after unshare it lives in the new namespace, so it must end.
    t = threading.Thread(target=thread, name="vnetctl-netns-create")
    t.start()
    t.join()
    if result:
        try:
            os.unlink(path)
        except OSError:
            pass
        exc = result[0]
        if isinstance(exc, OSError):
            raise _map_oserror(exc, f"cannot create namespace {name!r}") from None
        raise exc
    return NsRef(name, path, inode_of(path))


def delete(name: str) -> None:
    """Unmount and remove named namespace `name` (like `ip netns del`)."""
    path = path_of(name)
    if not os.path.lexists(path):
        raise NotFound(f"namespace {name!r} not found", "see 'vnetctl netns list'")
    if _libc.umount2(path.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise _map_oserror(OSError(err, os.strerror(err)), f"cannot unmount namespace {name!r}")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno == errno.EBUSY:
            raise Busy(f"namespace {name!r} is busy", "another mount holds it") from None
        raise _map_oserror(e, f"cannot remove namespace {name!r}") from None
