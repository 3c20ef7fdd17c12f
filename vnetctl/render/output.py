"""The output contract: data to stdout (table, plain text or JSON), diagnostics to stderr.

- JSON: one emitter, `emit_json`. Compact (one line, like `ip -j`) when piped; indented on
  a terminal or when `--pretty` asked for it. Every shape is documented in docs/json.md.
- Tables: `table`. Piped, every column in full, whitespace-aligned. On a terminal they fit
  the width (COLUMNS or the terminal's), never by wrapping a value: low-value columns are
  dropped first, then free-text columns are cut with an ellipsis (as `ip -br` and `lsns` do);
  names, addresses, numbers and MACs are printed whole or not at all.
- Diagnostics: `warn` for what could not be seen; errors are the CLI's job.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from typing import TYPE_CHECKING, Any

from .safe import safe

if TYPE_CHECKING:
    from rich.console import Console

_pretty = False


def set_pretty(on: bool = True) -> None:
    """Indent JSON even when piped (`--pretty`)."""
    global _pretty
    _pretty = on


def stdout_console() -> Console:
    """A console for data; no markup or highlighting so user data prints verbatim."""
    from rich.console import Console
    return Console(highlight=False, markup=False, emoji=False, soft_wrap=False)


def stderr_console() -> Console:
    """A console for diagnostics."""
    from rich.console import Console
    return Console(stderr=True, highlight=False, markup=False, emoji=False)


def is_tty() -> bool:
    """True when stdout is a terminal (rich output), False when piped (plain text)."""
    return sys.stdout.isatty()


def to_jsonable(data: Any) -> Any:
    """Dataclasses, tuples and sets as plain JSON values."""
    if hasattr(data, "to_json") and not isinstance(data, type):
        return to_jsonable(data.to_json())
    if is_dataclass(data) and not isinstance(data, type):
        return to_jsonable(asdict(data))
    if isinstance(data, dict):
        return {str(k): to_jsonable(v) for k, v in data.items()}
    if isinstance(data, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in data]
    return data


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return to_jsonable(value)


def json_text(data: Any, pretty: bool | None = None) -> str:
    """Data as JSON text: indented when pretty (default: on a terminal or after set_pretty), else one line."""
    indent = 2 if (pretty if pretty is not None else (_pretty or is_tty())) else None
    return json.dumps(data, indent=indent, default=_default)


def emit_json(data: Any, pretty: bool | None = None) -> None:
    """Print data as JSON on stdout, by the one rule of json_text."""
    sys.stdout.write(json_text(data, pretty) + "\n")


def warn(warnings: Iterable[str]) -> None:
    """Print each thing that could not be seen as `warning: ...` on stderr."""
    for w in warnings:
        sys.stderr.write(f"warning: {safe(w)}\n")
    sys.stderr.flush()


@dataclass(frozen=True)
class Col:
    """A table column: `drop` > 0 may go when the terminal is narrow (highest first); `cut` may be shortened with …."""

    name: str
    drop: int = 0
    cut: bool = False


def cell(value: Any) -> str:
    """One table cell as text."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ",".join(cell(v) for v in value) if value else "-"
    return safe(value)


CUT_MIN = 12  # a cut column keeps at least this much (or its header)


def fit(columns: Sequence[Col], rows: list[list[str]], width: int) -> tuple[list[int], list[int]]:
    """Which columns to keep and how wide each is, so a line fits `width` without wrapping a value."""
    keep = list(range(len(columns)))
    widths = [max([len(c.name)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]

    def total() -> int:
        return sum(widths[i] for i in keep) + 2 * (len(keep) - 1)

    droppable = sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i: (-columns[i].drop, -i))
    for i in droppable:
        if total() <= width:
            break
        keep.remove(i)
    for i in sorted((i for i in keep if columns[i].cut), key=lambda i: -widths[i]):
        excess = total() - width
        if excess <= 0:
            break
        widths[i] = max(widths[i] - excess, min(widths[i], max(CUT_MIN, len(columns[i].name))))
    return keep, widths


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def terminal_width() -> int:
    """The width tables fit on a terminal: COLUMNS when set, else the terminal's."""
    return shutil.get_terminal_size((200, 24)).columns


def table(columns: Sequence[str | Col], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    """Print rows: fitted to the terminal with a bold header, or every column in full when piped."""
    cols = [c if isinstance(c, Col) else Col(c) for c in columns]
    texts = [[cell(v) for v in row] for row in rows]
    tty = is_tty()
    if tty:
        keep, widths = fit(cols, texts, terminal_width())
    else:
        keep, widths = fit(cols, texts, 1 << 30)
    lines = []
    for row in [[c.name for c in cols]] + texts:
        parts = [_cut(row[i], widths[i]) if cols[i].cut else row[i] for i in keep]
        lines.append("  ".join(p.ljust(widths[i]) for p, i in zip(parts, keep, strict=True)).rstrip())
    out = sys.stdout
    if title:
        out.write(title + "\n")
    bold = tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    out.write((f"\x1b[1m{lines[0]}\x1b[0m" if bold else lines[0]) + "\n")
    for line in lines[1:]:
        out.write(line + "\n")


def script(lines: Iterable[str]) -> None:
    """Print command lines (a --dry-run), one per line, runnable as a shell script."""
    for line in lines:  # a Step's command may be several lines: each is made safe, the line breaks stay
        sys.stdout.write("\n".join(safe(part) for part in line.split("\n")) + "\n")
