"""`vnetctl link add NAME [type] KIND ...`: ip's spelling, handed to the noun command that makes KIND.

The words after KIND may be vnetctl's options (`--vni 42`) or ip's (`id 42 remote 10.0.0.2 dev eth0`):
each ip word is looked up in the device-kind registry, so nothing here knows a kind's options.
"""

from __future__ import annotations

import difflib

import click

from .. import kinds
from ..errors import UsageError

NOUNS = {"veth": "veth", "bridge": "bridge"}


def ip_words(kind: kinds.Kind, words: list[str], takes_value: set[str]) -> list[str]:
    """Translate ip link add's words for `kind` (id 42, remote IP, nolearning, dev X) into vnetctl options.

    Words that are already options pass through, with their value when `takes_value` says they have one.
    """
    by_word = {o.word: o for o in kind.options if not o.flag_words}
    flags = {w: (o, on) for o in kind.options for on, w in enumerate(o.flag_words)}
    out, i = [], 0
    while i < len(words):
        word = words[i]
        if word.startswith("-"):
            out += words[i:i + 2] if word in takes_value else [word]
            i += 1 if word in takes_value else 0
        elif word in flags:
            opt, on = flags[word]
            out.append(f"--{'' if on else 'no-'}{opt.name}")
        elif word in by_word and by_word[word].type == "bool" and i + 1 < len(words):
            i += 1
            out.append(f"--{'' if words[i] in ('1', 'on', 'true', 'yes') else 'no-'}{by_word[word].name}")
        elif (word in by_word or word == kind.lower_word) and i + 1 < len(words):
            i += 1
            out += [f"--{by_word[word].name if word in by_word else kind.lower_flag}", words[i]]
        else:
            known = sorted([*by_word, *flags] + ([kind.lower_word] if kind.lower_word else []))
            near = difflib.get_close_matches(word, known, 1)
            raise UsageError(f"{kind.name} has no option {word!r}" + (" without a value" if word in known else ""),
                             f"did you mean {near[0]!r}?" if near and word not in known else
                             f"ip's words for {kind.name}: {', '.join(known) or 'none'}")
        i += 1
    return out


def veth_words(words: list[str]) -> list[str]:
    """`peer name PEER` or `peer PEER` (ip's spellings) as veth add's PEER argument, first."""
    for i, word in enumerate(words):
        if word == "peer":
            rest = words[i + 1:]
            if rest[:1] == ["name"]:
                rest = rest[1:]
            if rest:
                return [rest[0], *words[:i], *rest[1:]]
    raise UsageError("a veth needs a peer", "say 'peer name PEER', e.g. vnetctl link add v0 type veth peer name v1")


def noun_for(kind_name: str) -> str:
    """The noun whose `add` makes kind_name; UsageError for an unknown kind or one vnetctl makes elsewhere or not at all."""
    if kind_name in ("tun", "tap", "tuntap"):
        raise UsageError(f"link add does not make {kind_name} devices", "use 'vnetctl tuntap add NAME --mode tun|tap'")
    declared = kinds.get(kind_name)
    made = sorted(k.name for k in kinds.all_kinds() if k.cli or k.name in NOUNS)
    if declared is None or kind_name not in made:
        near = difflib.get_close_matches(kind_name, made, 1)
        what = "unknown device type" if declared is None else "vnetctl does not make devices of type"
        raise UsageError(f"{what} {kind_name!r}", f"did you mean {near[0]!r}?" if near else f"it makes: {', '.join(made)}")
    return NOUNS.get(kind_name, kind_name)


def forward(ctx: click.Context, name: str, words: list[str]) -> None:
    """Run the `add` of the noun that makes the kind named in words (`[type] KIND ...`)."""
    if words[:1] == ["type"]:
        words = words[1:]
    if not words or words[0].startswith("-"):
        raise UsageError("link add needs a device type", "e.g. vnetctl link add vx0 type vxlan id 42 dev eth0")
    kind_name, rest = words[0], words[1:]
    noun = noun_for(kind_name)
    root = ctx.find_root().command
    assert isinstance(root, click.Group)
    group = root.get_command(ctx, noun)
    cmd = group.get_command(ctx, "add") if isinstance(group, click.Group) else None
    assert cmd is not None
    takes_value = {o for p in cmd.params if isinstance(p, click.Option) and not p.is_flag for o in p.opts}
    declared = kinds.get(kind_name)
    assert declared is not None
    args = [name, *(veth_words(rest) if noun == "veth" else ip_words(declared, rest, takes_value))]
    with cmd.make_context(f"vnetctl {noun} add", args, parent=ctx.parent) as sub:
        cmd.invoke(sub)
