"""The lab file's small, strict templating: `{expr}` substitutions and `for:` expansions.

`{expr}` in a string is replaced by the value of expr: a parameter or loop variable, an
integer, or integer arithmetic on them (+ - * // %, parentheses). A string that is one
`{expr}` and nothing else takes the value's type (so `vni: "{i+1}"` is an int).
`{{` and `}}` stand for literal braces. A list item that is a mapping with a `for` key
(`for: {var: i, range: hosts}`) is repeated once per value of the range, with the rest of
the mapping as the template. Nothing else is evaluated.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable
from typing import Any

from .yamlload import MList, MMap, Pos

MAX_ITEMS = 65536
MAX_VALUES = 1_000_000  # values in the whole expanded file: nested `for:` loops multiply
MAX_INT = 2 ** 63
_EXPR = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_OPS: dict[type, Callable[[int, int], int]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
}


class TemplateError(Exception):
    """A substitution or expansion that cannot be done; carries the position."""

    def __init__(self, where: Pos, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


@functools.lru_cache(maxsize=1024)
def _parse(expr: str) -> ast.expr:
    # a `for:` body repeats the same few expressions thousands of times: parse each once
    return ast.parse(expr.strip(), mode="eval").body


def evaluate(expr: str, env: dict[str, Any], where: Pos) -> Any:
    """The value of one `{expr}`: a name, an integer or integer arithmetic."""
    try:
        return _eval(_parse(expr), env, expr, where)
    except (SyntaxError, ValueError):
        raise TemplateError(where, f"invalid expression {{{expr}}}: write a name or integer arithmetic") from None
    except (RecursionError, MemoryError):
        raise TemplateError(where, f"expression {{{expr[:40]}...}} is too complex") from None


def _eval(node: ast.AST, env: dict[str, Any], expr: str, where: Pos) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return _small(node.value, expr, where)
    if isinstance(node, ast.Name):
        if node.id not in env:
            known = ", ".join(sorted(env)) or "none"
            raise TemplateError(where, f"unknown name {node.id!r} in {{{expr}}} (known: {known})")
        return env[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_int(_eval(node.operand, env, expr, where), expr, where)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left = _int(_eval(node.left, env, expr, where), expr, where)
        right = _int(_eval(node.right, env, expr, where), expr, where)
        if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and right == 0:
            raise TemplateError(where, f"division by zero in {{{expr}}}")
        return _small(_OPS[type(node.op)](left, right), expr, where)
    raise TemplateError(where, f"unsupported expression {{{expr}}}: only names, integers and + - * // %")


def _small(value: int, expr: str, where: Pos) -> int:
    if abs(value) >= MAX_INT:
        raise TemplateError(where, f"{{{expr[:40]}}}: number out of range (at most 2**63)")
    return value


def _int(value: Any, expr: str, where: Pos) -> int:
    if type(value) is not int:
        raise TemplateError(where, f"{{{expr}}}: arithmetic needs integers, got {value!r}")
    return value


def substitute(text: str, env: dict[str, Any], where: Pos) -> Any:
    """Replace every `{expr}` in text; a text that is exactly one `{expr}` keeps its type."""
    if "{" not in text and "}" not in text:
        return text
    whole = re.fullmatch(r"\{([^{}]*)\}", text)
    if whole:
        return evaluate(whole.group(1), env, where)

    def repl(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "{{":
            return "{"
        if tok == "}}":
            return "}"
        if m.group(1) is None:
            raise TemplateError(where, f"unbalanced {tok!r} in {text!r}: write {tok * 2} for a literal brace")
        return str(evaluate(m.group(1), env, where))

    return _EXPR.sub(repl, text)


def expand(node: Any, env: dict[str, Any], where: Pos, problems: list[TemplateError],
           budget: list[int] | None = None) -> Any:
    """A copy of the tree with substitutions done and `for:` items expanded; problems collected."""
    if budget is None:
        budget = [MAX_VALUES]
    budget[0] -= 1
    if budget[0] < 0:
        if budget[0] == -1:
            problems.append(TemplateError(where, f"the lab expands to more than {MAX_VALUES} values"))
        return node
    if isinstance(node, MMap):
        out = MMap()
        out.mark = node.mark
        for key, value in node.items():
            out[key] = expand(value, env, node.at(key), problems, budget)
            out.kmarks[key] = node.key_at(key)
            out.vmarks[key] = node.at(key)
        return out
    if isinstance(node, MList):
        items = MList()
        items.mark = node.mark
        for i, item in enumerate(node):
            at = node.at(i)
            if isinstance(item, MMap) and "for" in item:
                for value_env in _range_envs(item, env, problems):
                    body = MMap({k: v for k, v in item.items() if k != "for"})
                    body.mark = item.mark
                    body.kmarks = {k: v for k, v in item.kmarks.items() if k != "for"}
                    body.vmarks = {k: v for k, v in item.vmarks.items() if k != "for"}
                    items.append(expand(body, value_env, at, problems, budget))
                    items.imarks.append(at)
                    if len(items) > MAX_ITEMS:
                        problems.append(TemplateError(at, f"expansion gives more than {MAX_ITEMS} items"))
                        return items
                continue
            items.append(expand(item, env, at, problems, budget))
            items.imarks.append(at)
        return items
    if isinstance(node, str):
        try:
            return substitute(node, env, where)
        except TemplateError as e:
            problems.append(e)
            return node
    return node


def _range_envs(item: MMap, env: dict[str, Any], problems: list[TemplateError]) -> list[dict[str, Any]]:
    spec = item["for"]
    where = item.at("for")
    if not isinstance(spec, MMap):
        problems.append(TemplateError(where, "'for' needs a mapping: {var: NAME, range: N | PARAM | [START, STOP]}"))
        return []
    for key in spec:
        if key not in ("var", "range"):
            problems.append(TemplateError(spec.key_at(key), f"unknown key {key!r} in 'for' (known: range, var)"))
    var = spec.get("var")
    if not isinstance(var, str) or not var.isidentifier():
        problems.append(TemplateError(spec.at("var"), "'for' needs var: a name such as i"))
        return []
    if var in env:
        problems.append(TemplateError(spec.at("var"), f"loop variable {var!r} hides a parameter or outer loop variable"))
        return []
    bounds = _bounds(spec.get("range"), env, spec.at("range"), problems)
    if bounds is None:
        return []
    start, stop = bounds
    if stop - start > MAX_ITEMS:
        problems.append(TemplateError(spec.at("range"), f"range of {stop - start} is over the limit of {MAX_ITEMS}"))
        return []
    return [dict(env, **{var: n}) for n in range(start, stop)]


def _bounds(raw: Any, env: dict[str, Any], where: Pos, problems: list[TemplateError]) -> tuple[int, int] | None:
    def one(value: Any) -> int | None:
        if type(value) is int:
            return value
        if isinstance(value, str):
            try:
                got = evaluate(value.strip("{}"), env, where)
            except TemplateError as e:
                problems.append(e)
                return None
            if type(got) is int:
                return got
        problems.append(TemplateError(where, f"range bound {value!r} is not an integer or an integer parameter"))
        return None

    if isinstance(raw, list) and len(raw) == 2:
        lo, hi = one(raw[0]), one(raw[1])
        return None if lo is None or hi is None else (lo, hi)
    if raw is None or isinstance(raw, (list, dict)):
        problems.append(TemplateError(where, "'for' needs range: N, a parameter name, or [START, STOP]"))
        return None
    hi = one(raw)
    return None if hi is None else (0, hi)
