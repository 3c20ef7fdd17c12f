"""Load a lab file into a LabSpec, reporting every problem at once (LabError, exit 65)."""

from __future__ import annotations

import os
from typing import Any

from ..errors import LabError, NotFound
from . import paths
from .resolve import Resolver
from .schema import Checker, unknown_key
from .spec import Check, LabSpec, Process
from .template import TemplateError, expand
from .yamlload import MMap, Pos, load_text


def read(path: str) -> str:
    """The text of a lab file (NotFound if it is missing)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise NotFound(f"lab file {path!r} not found", "give the path of a lab YAML file, e.g. labs/veth-netns.yaml") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LabError([f"{path}:1:1: cannot read the lab file: {e}"]) from None


def load_spec(path: str, params: dict[str, str] | None = None, text: str | None = None, plan: bool = False) -> LabSpec:
    """Parse, expand and validate a lab file; LabError lists every problem found.

    With plan, `{run}` is the runtime directory of the lab's plan script instead of the lab's.
    """
    source = read(path) if text is None else text
    ck = Checker(path)
    doc, syntax = load_text(source)
    ck.problems += syntax
    if doc is None and not syntax:
        ck.add((1, 1), "the lab file is empty; it needs at least 'name'")
    if doc is not None and not isinstance(doc, MMap):
        ck.add((1, 1), "a lab file is a mapping with at least 'name'")
    if doc is None or not isinstance(doc, MMap):
        raise LabError(ck.lines())
    env = _params(doc, params or {}, ck)
    raw_name = doc.get("name")
    name = raw_name
    if isinstance(raw_name, str):
        tproblems: list[TemplateError] = []
        name = expand(raw_name, env, doc.at("name"), tproblems)
        ck.problems += [(p.where, p.message) for p in tproblems]
    if isinstance(name, str) and paths.valid_name(name):  # else reported as an invalid name
        env.update(lab=name, run=paths.plan_run_dir(name) if plan else paths.run_dir(name))
    tproblems = []
    tree = expand(doc, env, doc.mark, tproblems)
    ck.problems += [(p.where, p.message) for p in tproblems]
    top = ck.obj(tree, _top_fields(), tree.mark, "lab")
    assert top is not None
    spec = _build(top, tree, ck, path, source, env)
    from .hosts import place
    spec = place(spec, top["hosts"], ck)
    if ck.problems:
        raise LabError(ck.lines())
    return spec


def _top_fields() -> dict[str, Any]:
    from .schema import SCHEMA
    return SCHEMA["lab"]


def _params(doc: MMap, given: dict[str, str], ck: Checker) -> dict[str, Any]:
    declared = doc.get("params") or {}
    env: dict[str, Any] = {}
    if not isinstance(declared, MMap):
        return env
    for key, value in declared.items():
        if not isinstance(key, str) or not key.isidentifier() or key in ("lab", "run"):
            ck.add(declared.key_at(key), f"parameter name {key!r} must be an identifier other than 'lab' and 'run'")
        elif type(value) not in (int, str):
            ck.add(declared.at(key), f"parameter {key!r} needs an integer or string default")
        else:
            env[key] = value
    for key, text in given.items():
        if key not in env:
            ck.add(doc.key_at("params") if "params" in doc else doc.mark,
                   f"--set {_shown(key)}={_shown(text)}: " + unknown_key(key, list(env), "params").replace(" in params", ""))
        elif type(env[key]) is int:
            try:
                env[key] = int(text)
            except ValueError:
                ck.add(declared.at(key), f"--set {_shown(key)}={_shown(text)}: parameter {key!r} is an integer")
        else:
            env[key] = text
    return env


def _shown(text: str) -> str:
    """A --set word as given, quoted when it holds a newline or control character (problems are one line)."""
    return text if text.isprintable() else repr(text)


def _build(top: dict[str, Any], tree: MMap, ck: Checker, path: str, source: str, env: dict[str, Any]) -> LabSpec:
    r = Resolver(ck)
    namespaces = r.namespaces(top)
    r.read_devices(top)
    devices = r.cross_references()
    routes = r.routes(top)
    processes = _processes(top, ck, r.known_ns, env.get("run"))
    checks = _checks(top, ck, r.known_ns, r.kinds(), {p.name for p in processes}, env.get("run"))
    return LabSpec(name=top["name"] or "", path=os.path.abspath(path), source=source,
                   params={k: v for k, v in env.items() if k not in ("lab", "run")}, description=top["description"],
                   namespaces=tuple(namespaces), devices=tuple(devices), routes=tuple(routes),
                   sysctls=tuple(top["sysctls"].items()), processes=tuple(processes), checks=tuple(checks))


def _processes(top: dict[str, Any], ck: Checker, known_ns: Any, run: str | None) -> list[Process]:
    out: list[Process] = []
    seen: dict[str, Pos] = {}
    for item, at in top["processes"]:
        name = item["name"]
        if name is None:
            continue
        if name in seen:
            ck.add(at, f"duplicate process {name!r} (first declared at line {seen[name][0]})")
        seen[name] = at
        known_ns(item["netns"], at, f"process {name!r}")
        given: dict[str, Pos] = getattr(item, "at", {})
        forms = [k for k in ("argv", "vnetctl", "command") if item[k] or k in given]
        if len(forms) != 1:
            ck.add(at, f"process {name!r} needs exactly one of argv, vnetctl, command")
            continue
        if not item[forms[0]]:
            continue  # given, but invalid: already reported
        if item["command"] is not None and not item["shell"]:
            ck.add(at, f"process {name!r}: 'command' is a shell string and needs 'shell: true' (or use argv)")
            continue
        if item["shell"] and item["command"] is None:
            ck.add(at, f"process {name!r}: 'shell: true' goes with 'command', a shell string")
            continue
        if item["argv"]:
            argv = item["argv"]
        elif item["vnetctl"]:
            argv = ("vnetctl", *item["vnetctl"])
        else:
            argv = ("sh", "-c", item["command"])
        own = [f"{run}/{name}.{ext}" for ext in ("pid", "log") if run and any(f"{run}/{name}.{ext}" in a for a in argv)]
        if own:
            ck.add(at, f"process {name!r}: {own[0]} is where vnetctl keeps this process's own record; "
                       "give the program's file another name")
        ready = tuple((k, v) for k, v in (item["ready"] or {}).items() if v is not None)
        if ready and dict(ready).keys() <= {"proto"}:
            ck.add(at, f"process {name!r}: 'ready' needs device, port or file")
        out.append(Process(name, tuple(argv), ck.loc(at), item["netns"], item["shell"], ready, item["timeout"],
                           tuple(item["env"].items()), item["host"]))
    return out


def _checks(top: dict[str, Any], ck: Checker, known_ns: Any, kinds: dict[tuple[str | None, str], str],
            processes: set[str], run: str | None) -> list[Check]:
    from .checks import CHECK_KINDS, CheckContext, entry_fields
    ctx = CheckContext(ck, known_ns, kinds, processes, run)
    out: list[Check] = []
    for n, (raw, at) in enumerate(top["checks"]):
        item = ck.obj(raw, entry_fields(), at, "check")
        if item is None:
            continue
        given = [k for k in CHECK_KINDS if item.get(k) is not None]
        if len(given) != 1:
            ck.add(at, f"a check needs exactly one of {', '.join(CHECK_KINDS)}" + (f" (got {', '.join(given)})" if given else ""))
            continue
        kind = CHECK_KINDS[given[0]]
        body, bat = item[kind.name]
        args = ck.obj(body, kind.schema, bat, kind.name)
        if args is None or not kind.validate(args, ctx, bat):
            continue
        out.append(Check(kind.name, item["name"] or f"{kind.name} #{n + 1}", ck.loc(at), args))
    return out
