"""YAML for lab files: every node keeps its file:line:col, duplicate keys are errors.

Plain YAML loaders silently keep the last of two equal keys; this one records a problem
for each duplicate and goes on, so a lab file's problems are all reported at once.
"""

from __future__ import annotations

from typing import Any

import yaml

Pos = tuple[int, int]
MAX_DEPTH = 64
MAX_VALUES = 100_000  # values in the file once its aliases are followed (an "alias bomb" has billions)


class MMap(dict):
    """A mapping that remembers where it, each key and each value were written."""

    mark: Pos = (1, 1)

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.kmarks: dict[Any, Pos] = {}
        self.vmarks: dict[Any, Pos] = {}

    def at(self, key: Any) -> Pos:
        """Where the value of `key` was written (the mapping itself when the key is absent)."""
        return self.vmarks.get(key, self.mark)

    def key_at(self, key: Any) -> Pos:
        """Where `key` was written."""
        return self.kmarks.get(key, self.mark)


class MList(list):
    """A sequence that remembers where it and each item were written."""

    mark: Pos = (1, 1)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.imarks: list[Pos] = []

    def at(self, index: int) -> Pos:
        """Where item `index` was written."""
        return self.imarks[index] if index < len(self.imarks) else self.mark


def pos(mark: yaml.Mark) -> Pos:
    """A YAML mark as 1-based (line, column)."""
    return (mark.line + 1, mark.column + 1)


class MarkedLoader(yaml.SafeLoader):
    """SafeLoader that builds MMap/MList with marks and records duplicate keys as problems."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.problems: list[tuple[Pos, str]] = []

    def construct_marked_map(self, node: yaml.MappingNode) -> MMap:
        """Build an MMap, recording a problem for every duplicate key."""
        self.flatten_mapping(node)
        out = MMap()
        out.mark = pos(node.start_mark)
        for knode, vnode in node.value:
            key = self.construct_object(knode, deep=True)
            try:
                hash(key)
            except TypeError:
                self.problems.append((pos(knode.start_mark), "a mapping key must be a plain value"))
                continue
            if key in out:
                first = out.kmarks[key]
                self.problems.append((pos(knode.start_mark),
                                      f"duplicate key {key!r} (first given at line {first[0]}, column {first[1]})"))
                continue
            out[key] = self.construct_object(vnode, deep=True)
            out.kmarks[key] = pos(knode.start_mark)
            out.vmarks[key] = pos(vnode.start_mark)
        return out

    def construct_checked_int(self, node: yaml.ScalarNode) -> int | None:
        """An integer; one too long to convert is a problem (Python refuses > 4300 digits), read as null."""
        try:
            return int(self.construct_yaml_int(node))
        except ValueError:
            self.problems.append((pos(node.start_mark), f"integer of {len(node.value)} digits: far beyond any value a lab takes"))
            return None

    def construct_marked_seq(self, node: yaml.SequenceNode) -> MList:
        """Build an MList with the mark of each item."""
        out = MList(self.construct_object(child, deep=True) for child in node.value)
        out.mark = pos(node.start_mark)
        out.imarks = [pos(child.start_mark) for child in node.value]
        return out


MarkedLoader.add_constructor("tag:yaml.org,2002:map", MarkedLoader.construct_marked_map)
MarkedLoader.add_constructor("tag:yaml.org,2002:seq", MarkedLoader.construct_marked_seq)
MarkedLoader.add_constructor("tag:yaml.org,2002:int", MarkedLoader.construct_checked_int)


def load_text(text: str) -> tuple[Any, list[tuple[Pos, str]]]:
    """Parse YAML text; return the document and the problems found (syntax, duplicate keys)."""
    try:
        loader = MarkedLoader(text)
    except yaml.reader.ReaderError as e:  # raised for the whole text, before parsing starts
        line = text.count("\n", 0, e.position) + 1
        col = e.position - text.rfind("\n", 0, e.position)
        return None, [((line, col), f"syntax error: character U+{e.character:04X} is not allowed in YAML")]
    try:
        doc = loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = pos(mark) if mark is not None else (1, 1)
        what = e.problem or e.context or "invalid YAML"
        return None, loader.problems + [(where, f"syntax error: {what}")]
    except yaml.YAMLError as e:
        return None, loader.problems + [((1, 1), "syntax error: " + " ".join(str(e).split()))]
    except RecursionError:
        return None, loader.problems + [((1, 1), f"nested more than {MAX_DEPTH} levels deep")]
    finally:
        loader.dispose()
    shape = shape_problem(doc)
    if shape is not None:
        return None, loader.problems + [shape]
    return doc, loader.problems


def shape_problem(doc: Any) -> tuple[Pos, str] | None:
    """A problem if the document nests too deep, contains itself or expands too far through aliases."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(doc, 0, False)]
    while stack:
        node, depth, finished = stack.pop()
        if not isinstance(node, (MMap, MList)):
            continue
        key = id(node)
        children = list(node.values()) if isinstance(node, MMap) else list(node)
        if finished:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in children)
            if sizes[key] > MAX_VALUES:
                return node.mark, f"the file expands to more than {MAX_VALUES} values (through YAML aliases)"
            continue
        if key in on_path:
            return node.mark, "a YAML alias refers to the value that contains it"
        if key in sizes:
            continue
        if depth > MAX_DEPTH:
            return node.mark, f"nested more than {MAX_DEPTH} levels deep"
        on_path.add(key)
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children)
    return None
