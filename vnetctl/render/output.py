"""Where output goes: data to stdout (table, plain text or JSON), diagnostics to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

from rich.console import Console
from rich.table import Table


def stdout_console() -> Console:
    """A console for data; no markup or highlighting so user data prints verbatim."""
    return Console(highlight=False, markup=False, emoji=False, soft_wrap=False)


def stderr_console() -> Console:
    """A console for diagnostics."""
    return Console(stderr=True, highlight=False, markup=False, emoji=False)


def is_tty() -> bool:
    """True when stdout is a terminal (rich output), False when piped (plain text)."""
    return sys.stdout.isatty()


def to_jsonable(data: Any) -> Any:
    """Dataclasses, tuples and sets as plain JSON values."""
    if is_dataclass(data) and not isinstance(data, type):
        return to_jsonable(asdict(data))
    if isinstance(data, dict):
        return {str(k): to_jsonable(v) for k, v in data.items()}
    if isinstance(data, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in data]
    return data


def emit_json(data: Any) -> None:
    """Print data as indented JSON on stdout."""
    sys.stdout.write(json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")


def cell(value: Any) -> str:
    """One table cell as text."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ",".join(cell(v) for v in value) if value else "-"
    return str(value)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    """Print rows: a rich table on a terminal, whitespace-aligned plain text when piped."""
    texts = [[cell(v) for v in row] for row in rows]
    if is_tty():
        t = Table(title=title, show_edge=False, header_style="bold", box=None, pad_edge=False)
        for c in columns:
            t.add_column(c, overflow="fold")
        for row in texts:
            t.add_row(*row)
        stdout_console().print(t)
        return
    widths = [max([len(c)] + [len(r[i]) for r in texts]) for i, c in enumerate(columns)]
    if title:
        sys.stdout.write(title + "\n")
    for row in [list(columns)] + texts:
        sys.stdout.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)).rstrip() + "\n")


def script(lines: Iterable[str]) -> None:
    """Print command lines (a --dry-run), one per line, runnable as a shell script."""
    for line in lines:
        sys.stdout.write(line + "\n")
