"""/dev/net/tun: create persistent tun/tap devices and attach programs to them."""

from __future__ import annotations

import errno
import fcntl
import os
import struct

from ..errors import BackendError, Busy, NotFound, PermissionDenied, Unsupported, UsageError
from .netns import NsRef, call_in

TUN_PATH = "/dev/net/tun"
TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
TUNSETOWNER = 0x400454CC
TUNSETGROUP = 0x400454CE
TUNGETIFF = 0x800454D2
TUNSETOFFLOAD = 0x400454D0
TUNSETVNETHDRSZ = 0x400454D8
IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_MULTI_QUEUE = 0x0100
IFF_VNET_HDR = 0x4000
IFF_TUN_EXCL = 0x8000
MODES = {"tun": IFF_TUN, "tap": IFF_TAP}


def tun_path() -> str:
    """The tun clone device (overridable for tests of a missing device)."""
    return os.environ.get("VNETCTL_TUN_PATH", TUN_PATH)


def _open_clone() -> int:
    path = tun_path()
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        raise Unsupported(f"{path} is missing", "load the tun module (modprobe tun) or create the device node as the administrator") from None
    except PermissionError:
        raise PermissionDenied(f"cannot open {path}", "needs root or membership of the device's owner/group") from None


def ifreq(name: str, flags: int) -> bytes:
    """A struct ifreq with ifr_name and ifr_flags set."""
    return struct.pack("16sH22x", name.encode(), flags)


def _setiff(fd: int, name: str, flags: int, mode: str) -> str:
    try:
        res = fcntl.ioctl(fd, TUNSETIFF, ifreq(name, flags))
    except OSError as e:
        os.close(fd)
        if e.errno == errno.EBUSY:
            raise Busy(f"{mode} device {name!r} is busy", "another process holds it; see 'vnetctl inspect holders " + name + "'") from None
        if e.errno == errno.EINVAL:
            raise UsageError(f"{name!r} exists but is not a {mode} device with these flags",
                             "use the device's own mode (tun or tap) and queue setting") from None
        if e.errno == errno.EPERM:
            raise PermissionDenied(f"cannot attach to {name!r}", "needs CAP_NET_ADMIN or the device's owner/group") from None
        raise BackendError(f"cannot attach to {mode} device {name!r}", e.errno or 0) from None
    return res[:16].rstrip(b"\0").decode()


def create(name: str, mode: str, ns: NsRef | None = None, *, user: int | None = None,
           group: int | None = None, multi_queue: bool = False) -> None:
    """Create a persistent tun/tap device (like `ip tuntap add`), inside ns."""
    flags = MODES[mode] | IFF_NO_PI | (IFF_MULTI_QUEUE if multi_queue else 0) | IFF_TUN_EXCL

    def make() -> None:
        fd = _open_clone()
        _setiff(fd, name, flags, mode)
        try:
            if user is not None:
                fcntl.ioctl(fd, TUNSETOWNER, user)
            if group is not None:
                fcntl.ioctl(fd, TUNSETGROUP, group)
            fcntl.ioctl(fd, TUNSETPERSIST, 1)
        finally:
            os.close(fd)

    call_in(ns, make)


def attach(name: str, mode: str, ns: NsRef | None = None, *, multi_queue: bool = False,
           vnet_hdr: bool = False, nonblock: bool = False) -> int:
    """Open /dev/net/tun attached to device `name` (created, non-persistent, if missing); return the fd."""
    flags = MODES[mode] | IFF_NO_PI | (IFF_MULTI_QUEUE if multi_queue else 0) | (IFF_VNET_HDR if vnet_hdr else 0)

    def open_() -> int:
        fd = _open_clone()
        _setiff(fd, name, flags, mode)
        if nonblock:
            os.set_blocking(fd, False)
        return fd

    return call_in(ns, open_)


def set_persist(fd: int, on: bool) -> None:
    """Make the device behind fd outlive (or not) the last fd."""
    fcntl.ioctl(fd, TUNSETPERSIST, 1 if on else 0)


def delete(name: str, mode: str, ns: NsRef | None = None) -> None:
    """Clear persistence so the device goes away (used when netlink deletion is refused)."""
    def clear() -> None:
        fd = _open_clone()
        _setiff(fd, name, MODES[mode] | IFF_NO_PI, mode)
        try:
            fcntl.ioctl(fd, TUNSETPERSIST, 0)
        finally:
            os.close(fd)

    try:
        call_in(ns, clear)
    except UsageError:
        raise NotFound(f"{mode} device {name!r} not found", "see 'vnetctl tuntap list'") from None
