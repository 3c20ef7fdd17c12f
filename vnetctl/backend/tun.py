"""/dev/net/tun: create persistent tun/tap devices and attach programs to them."""

from __future__ import annotations

import errno
import fcntl
import os
import struct

from ..errors import BackendError, Busy, NotFound, PermissionDenied, Unsupported, UsageError
from . import procfs
from .netns import NsRef, call_in, current_inode

TUN_PATH = "/dev/net/tun"
TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
TUNSETOWNER = 0x400454CC
TUNSETGROUP = 0x400454CE
TUNSETIFINDEX = 0x400454DA
# What read/write on a tun fd fail with once its device was deleted under it
VANISHED = frozenset({errno.EFAULT, errno.EBADFD, errno.ENODEV, errno.ENXIO})
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
TUN_F_CSUM = 0x01
TUN_F_TSO4 = 0x02
TUN_F_TSO6 = 0x04
TUN_F_TSO_ECN = 0x08
TUN_F_USO4 = 0x20
TUN_F_USO6 = 0x40
# What the tunnel asks for: checksum offload and TCP segmentation in both directions.
OFFLOAD_TCP = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN
VNET_HDR_LEN = 10


def tun_path() -> str:
    """The tun clone device (overridable for tests of a missing device)."""
    return os.environ.get("VNETCTL_TUN_PATH", TUN_PATH)


def _open_clone() -> int:
    path = tun_path()
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        raise Unsupported(f"{path} is missing",
                          "load the tun module (modprobe tun) or create the device node as the administrator") from None
    except PermissionError:
        raise PermissionDenied(f"cannot open {path}", "needs root or membership of the device's owner/group") from None


def ifreq(name: str, flags: int) -> bytes:
    """A struct ifreq with ifr_name and ifr_flags set."""
    return struct.pack("16sH22x", name.encode(), flags)


def holders(name: str, ns_inode: int | None = None) -> list[tuple[int, str, int]]:
    """(pid, comm, fd) of every process with an fd attached to tun/tap `name` (the `iff:` line of fdinfo).

    With ns_inode, a holder whose device the kernel places in another namespace is left out.
    """
    found = []
    for pid, fd in procfs.scan(fds=True).tun_fds:
        if procfs.tun_iff(pid, fd) != name:
            continue
        where = procfs.tun_device_netns(pid, fd) if ns_inode is not None else None
        if where is None or where == ns_inode:
            found.append((pid, procfs.comm(pid), fd))
    return found


def _holders_text(name: str, ns_inode: int | None) -> str:
    held = [h for h in holders(name, ns_inode) if h[0] != os.getpid()]
    return ", ".join(f"{c}[{p}] fd {fd}" for p, c, fd in held) or "an unknown process"


def device_flags(name: str) -> tuple[str, bool] | None:
    """('tun' or 'tap', multi-queue?) of an existing tun/tap `name` in the calling thread's namespace, else None."""
    from .netlink import Netlink  # netlink imports this module's neighbours; import late

    nl = Netlink(None)
    try:
        link = nl.link(name)
    finally:
        nl.close()
    if link is None or link.kind != "tun":
        return None
    return "tap" if link.detail("tun_type") == 2 else "tun", bool(link.detail("tun_multi_queue"))


def device_mode(name: str) -> str | None:
    """'tun' or 'tap' for an existing tun/tap `name` in the calling thread's namespace, else None."""
    found = device_flags(name)
    return found[0] if found else None


def existing(name: str, ns: NsRef | None = None) -> tuple[str, bool] | None:
    """('tun' or 'tap', multi-queue?) of tun/tap `name` in ns, as the kernel reports it (IFLA_TUN_*), or None."""
    return call_in(ns, lambda: device_flags(name))


def _setiff(fd: int, name: str, flags: int, mode: str, ns: NsRef | None = None) -> str:
    try:
        res = fcntl.ioctl(fd, TUNSETIFF, ifreq(name, flags))
    except OSError as e:
        os.close(fd)
        if e.errno == errno.EBUSY:
            held = _holders_text(name, ns.inode if ns else current_inode())
            raise Busy(f"{mode} device {name!r} is busy: held by {held}",
                       f"stop that process, or recreate {name} multi-queue ('vnetctl tuntap add {name} --mode {mode} "
                       "--multi-queue') so that several programs can attach, each with its own queues") from None
        if e.errno == errno.EINVAL:
            actual = device_mode(name)
            if actual is not None and actual != mode:
                raise UsageError(f"{name!r} is a {actual} device, not {mode}",
                                 f"attach with --mode {actual}, or pick another name") from None
            raise UsageError(f"{name!r} exists but is not a {mode} device with these flags",
                             "use the device's own mode (tun or tap) and queue setting") from None
        if e.errno == errno.EPERM:
            raise PermissionDenied(f"cannot attach to {name!r}", "needs CAP_NET_ADMIN or the device's owner/group") from None
        raise BackendError(f"cannot attach to {mode} device {name!r}", e.errno or 0) from None
    return res[:16].rstrip(b"\0").decode()


def create(name: str, mode: str, ns: NsRef | None = None, *, user: int | None = None,
           group: int | None = None, multi_queue: bool = False, index: int = 0) -> None:
    """Create a persistent tun/tap device (like `ip tuntap add`), inside ns; a non-zero index asks for that ifindex."""
    flags = MODES[mode] | IFF_NO_PI | (IFF_MULTI_QUEUE if multi_queue else 0) | IFF_TUN_EXCL

    def make() -> None:
        fd = _open_clone()
        if index:
            try:
                fcntl.ioctl(fd, TUNSETIFINDEX, struct.pack("I", index))
            except OSError:
                os.close(fd)
                raise
        _setiff(fd, name, flags, mode, ns)
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
        _setiff(fd, name, flags, mode, ns)
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


def set_offload(fd: int, flags: int) -> None:
    """Tell the kernel which offloads the reader of fd handles (TUNSETOFFLOAD); needs IFF_VNET_HDR."""
    try:
        fcntl.ioctl(fd, TUNSETOFFLOAD, flags)
    except OSError as e:
        raise Unsupported("the tun driver refused TUNSETOFFLOAD", f"offload flags {flags:#x}: {e.strerror}") from None


def set_vnet_hdr_size(fd: int, size: int) -> None:
    """Set the size of the virtio_net_hdr prefixed to every packet (TUNSETVNETHDRSZ)."""
    fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", size))


def attach_queues(name: str, mode: str, ns: NsRef | None, queues: int, *, vnet_hdr: bool = False,
                  offload: int = 0, multi_queue: bool | None = None) -> list[int]:
    """Open `queues` fds on `name` (multi-queue when more than one, or as multi_queue says), with vnet_hdr and offloads set."""
    mq = queues > 1 if multi_queue is None else multi_queue
    fds: list[int] = []
    try:
        for _ in range(queues):
            fd = attach(name, mode, ns, multi_queue=mq, vnet_hdr=vnet_hdr)
            fds.append(fd)
            if vnet_hdr and offload:
                set_offload(fd, offload)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def set_gso_max_size(name: str, ns: NsRef | None, size: int) -> None:
    """Cap the GSO packets the stack builds for device `name` (IFLA_GSO_MAX_SIZE)."""
    from .netlink import Netlink, kernel

    nl = Netlink(ns)
    try:
        link = nl.require(name)
        with kernel(f"cannot set gso_max_size on {name}{nl.where}"):
            nl.ipr.link("set", index=link.index, gso_max_size=size)
    finally:
        nl.close()
