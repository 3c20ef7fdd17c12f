"""The bundle vnetctl carries to other hosts: itself and its pure-Python dependencies, named by hash.

Sent once as a zip over the SSH channel, unpacked into the host's cache (its state
directory's `agent/<hash>/`, or ~/.cache/vnetctl for a user) and reused while the hash matches.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import io
import os
import zipfile
from functools import lru_cache

PACKAGES = ("vnetctl", "pyroute2", "yaml")  # what the agent imports; click and rich stay home
STAMP = (2020, 1, 1, 0, 0, 0)  # fixed: the same sources give the same bytes, so the same hash

# Runs on the other host: take the bundle from the cache, or receive it once, then start the agent.
BOOT = r"""
import json, os, sys
h = sys.argv[1]
if sys.version_info < (3, 11):
    print(json.dumps({"error": "python", "version": sys.version.split()[0]}), flush=True)
    sys.exit(69)
base = os.environ.get("VNETCTL_STATE_DIR", "/run/vnetctl") if os.geteuid() == 0 else os.path.expanduser("~/.cache/vnetctl")
d = os.path.join(base, "agent")
p = os.path.join(d, h)
if not os.path.isdir(p):
    import io, shutil, zipfile
    print(json.dumps({"need": h}), flush=True)
    n = int(sys.stdin.buffer.readline())
    data = sys.stdin.buffer.read(n)
    if len(data) != n:
        sys.exit(65)
    os.makedirs(base, 0o700, exist_ok=True)
    os.makedirs(d, 0o700, exist_ok=True)
    tmp = "%s.%d" % (p, os.getpid())
    zipfile.ZipFile(io.BytesIO(data)).extractall(tmp)  # unpacked, so Python caches the compiled modules
    try:
        os.rename(tmp, p)
    except OSError:  # another controller unpacked it first
        shutil.rmtree(tmp, ignore_errors=True)
sys.path.insert(0, p)
from vnetctl.remote.agent import main
main(h)
"""


def _files(package: str) -> list[tuple[str, str]]:
    """(archive name, path) of every .py file of an installed package."""
    root = os.path.dirname(importlib.import_module(package).__file__ or "")
    top = os.path.dirname(root)
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        out += [(os.path.relpath(os.path.join(d, f), top), os.path.join(d, f)) for f in sorted(files) if f.endswith(".py")]
    return out


@lru_cache(maxsize=1)
def sources() -> tuple[tuple[str, bytes], ...]:
    """Every file of the bundle, (archive name, content), in a fixed order."""
    out = []
    for package in PACKAGES:
        for name, path in _files(package):
            with open(path, "rb") as f:
                out.append((name, f.read()))
    return tuple(out)


@lru_cache(maxsize=1)
def digest() -> str:
    """The bundle's name: a hash of its sources (compressing is left until a host needs it)."""
    h = hashlib.sha256()
    for name, data in sources():
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:24]


@lru_cache(maxsize=1)
def build() -> bytes:
    """The bundle as zip bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in sources():
            info = zipfile.ZipInfo(name, STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def boot_argv(python: str, digest: str) -> list[str]:
    """The command run on the other host: its Python, isolated, running BOOT for bundle `digest`."""
    code = "import base64;exec(base64.b64decode('" + base64.b64encode(BOOT.encode()).decode() + "'))"
    return [python, "-I", "-S", "-c", code, digest]
