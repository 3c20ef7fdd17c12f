"""Text that is safe on a terminal: control characters in names, comms and paths shown escaped.

Device names may hold ESC and BEL (the kernel refuses only '/', ':' and whitespace) and a
process can name itself anything, so `\\e]0;...\\a` or `\\e[8m` printed raw would retitle the
terminal or hide what follows. Every text renderer passes what it prints through safe();
JSON needs nothing (json.dumps escapes control characters).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, TypeVar

T = TypeVar("T")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(m: re.Match[str]) -> str:
    c = m.group(0)
    return _NAMED.get(c) or f"\\x{ord(c):02x}"


def safe(text: Any) -> str:
    """text as a str with every control character (C0, DEL, C1) written as an escape such as \\x1b."""
    s = str(text)
    return _CONTROL.sub(_escape, s) if _CONTROL.search(s) else s


def sanitized(obj: T) -> T:
    """A copy of model data (dataclasses, tuples, lists, dicts) with every string made safe()."""
    if isinstance(obj, str):
        return safe(obj)  # type: ignore[return-value]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: sanitized(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return dataclasses.replace(obj, **changes)
    if isinstance(obj, tuple):
        return tuple(sanitized(v) for v in obj)  # type: ignore[return-value]
    if isinstance(obj, list):
        return [sanitized(v) for v in obj]  # type: ignore[return-value]
    if isinstance(obj, dict):
        return {k: sanitized(v) for k, v in obj.items()}  # type: ignore[return-value]
    return obj
