"""docs/json.md as a checker: parse its ```shape blocks and validate real JSON output against them.

A block holds lines `vnetctl WORDS ... --json  ->  TYPE` (what a command prints) and
`NAME = TYPE` (a named shape); a line that starts with a space continues the one above.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parent.parent / "docs" / "json.md"
TOKEN = re.compile(r'\s*(->|"(?:[^"\\]|\\.)*"\??|[A-Za-z_][A-Za-z0-9_]*|[\[\]{}:,|?])')


@dataclass
class Shapes:
    """The named shapes and, per command path (e.g. 'link show'), the shape of its output."""

    names: dict[str, Any] = field(default_factory=dict)
    commands: dict[str, tuple[bool, Any]] = field(default_factory=dict)  # path -> (json lines?, type)


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot parse shape at {text[pos:pos + 30]!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise ValueError(f"expected {want!r}, got {tok!r} in {' '.join(self.toks)}")
        self.i += 1
        return tok

    def union(self) -> Any:
        alts = [self.atom()]
        while self.peek() == "|":
            self.take("|")
            alts.append(self.atom())
        return ("union", alts) if len(alts) > 1 else alts[0]

    def atom(self) -> Any:
        tok = self.take()
        if tok == "[":
            inner = self.union()
            self.take("]")
            return ("list", inner)
        if tok == "{":
            return self.obj()
        if tok.startswith('"'):
            return ("const", json.loads(tok))
        return ("name", tok)

    def obj(self) -> Any:
        if self.peek() == "str":
            self.take()
            self.take(":")
            value = self.union()
            self.take("}")
            return ("map", value)
        fields: dict[str, tuple[bool, Any]] = {}
        while self.peek() != "}":
            key = self.take()
            optional = key.endswith("?")
            self.take(":")
            fields[json.loads(key.rstrip("?"))] = (optional, self.union())
            if self.peek() == ",":
                self.take(",")
        self.take("}")
        return ("obj", fields)

    def done(self) -> Any:
        value = self.union()
        if self.peek() is not None:
            raise ValueError(f"trailing {self.peek()!r} in {' '.join(self.toks)}")
        return value


def _logical_lines(block: str) -> list[str]:
    lines: list[str] = []
    for raw in block.splitlines():
        if raw.startswith((" ", "\t")) and lines:
            lines[-1] += " " + raw.strip()
        elif raw.strip():
            lines.append(raw.strip())
    return lines


def command_path(words: str) -> str:
    """'vnetctl lab plan FILE --json' -> 'lab plan': the words before the first argument or option."""
    path = []
    for w in words.split()[1:]:
        if w.startswith(("-", "[")) or not re.fullmatch(r"[a-z]+", w):
            break
        path.append(w)
    return " ".join(path)


def load(doc: Path = DOC) -> Shapes:
    """Parse every shape block of the page."""
    shapes = Shapes()
    for block in re.findall(r"```shape\n(.*?)```", doc.read_text(), re.S):
        for line in _logical_lines(block):
            if line.startswith("vnetctl "):
                cmd, _, shape = line.partition("->")
                lines = shape.strip().startswith("lines of ")
                text = shape.strip().removeprefix("lines of ")
                shapes.commands[command_path(cmd)] = (lines, _Parser(text).done())
            else:
                name, eq, shape = line.partition("=")
                assert eq, f"neither a command nor a definition: {line}"
                shapes.names[name.strip()] = _Parser(shape).done()
    return shapes


def names_used(t: Any) -> set[str]:
    """Every NAME a type refers to."""
    kind = t[0]
    if kind == "name":
        return {t[1]}
    if kind == "union":
        return set().union(*(names_used(a) for a in t[1]))
    if kind in ("list", "map"):
        return names_used(t[1])
    if kind == "obj":
        return set().union(set(), *(names_used(v) for _, v in t[1].values()))
    return set()


BUILTIN = {"str": str, "int": int, "bool": bool, "float": (int, float), "null": type(None)}


def errors(value: Any, t: Any, shapes: Shapes, where: str = "$") -> list[str]:
    """What in value does not match type t (empty when it matches)."""
    kind = t[0]
    if kind == "name":
        if t[1] == "any":
            return []
        if t[1] in BUILTIN:
            ok = isinstance(value, BUILTIN[t[1]]) and not (t[1] in ("int", "float") and isinstance(value, bool))
            return [] if ok else [f"{where}: {value!r} is not {t[1]}"]
        return errors(value, shapes.names[t[1]], shapes, where)
    if kind == "const":
        return [] if value == t[1] else [f"{where}: {value!r} is not {t[1]!r}"]
    if kind == "union":
        found = [errors(value, a, shapes, where) for a in t[1]]
        return [] if any(not f for f in found) else min(found, key=len)
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        return [e for i, v in enumerate(value) for e in errors(v, t[1], shapes, f"{where}[{i}]")]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        return [e for k, v in value.items() for e in errors(v, t[1], shapes, f"{where}.{k}")]
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    rest = t[1].get("*")
    out = [f"{where}: unexpected key {k!r}" for k in value if k not in t[1] and rest is None]
    out += [e for k, v in value.items() if k not in t[1] and rest is not None for e in errors(v, rest[1], shapes, f"{where}.{k}")]
    for key, (optional, vt) in t[1].items():
        if key == "*":
            continue
        if key not in value:
            if not optional:
                out.append(f"{where}: missing key {key!r}")
            continue
        out += errors(value[key], vt, shapes, f"{where}.{key}")
    return out


def check_output(path: str, stdout: str, shapes: Shapes | None = None) -> list[Any]:
    """Parse a command's stdout and assert it has the documented shape; returns the parsed value(s)."""
    shapes = shapes or load()
    lines, t = shapes.commands[path]
    values = [json.loads(ln) for ln in stdout.splitlines() if ln.strip()] if lines else [json.loads(stdout)]
    if not lines:
        assert len(stdout.strip().splitlines()) == 1, f"'{path} --json' piped is not one compact line"
    problems = [e for v in values for e in errors(v, t, shapes)]
    assert not problems, f"'vnetctl {path} --json' does not match docs/json.md: " + "; ".join(problems[:8])
    return values
