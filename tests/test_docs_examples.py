"""Every README/docs example marked runnable runs as shown (tests/docexamples.py says how blocks are marked)."""

from __future__ import annotations

import difflib

import pytest

from tests import docexamples as D

EXAMPLES = D.examples()


def test_there_are_runnable_examples_in_the_readme_and_the_docs() -> None:
    files = {ex.path for ex in EXAMPLES}
    assert {"README.md", "docs/userspace.md", "docs/labs.md"} <= files
    assert sum(len(ex.steps) for ex in EXAMPLES) >= 20


def test_the_comparison_ignores_what_varies_and_nothing_else() -> None:
    shown = ["Read 84 bytes from tun/tap device: ICMP 192.168.10.11 > 192.168.10.12 echo request id 14 seq 1",
             "(host)  inode 4026532527  pids 1,12  [sh,vnetctl]", "...",
             "4 packets, 261 bytes in 2.92 s (1 packets/s, 0.00 Mbit/s)"]
    real = ["Read 84 bytes from tun/tap device: ICMP 192.168.10.11 > 192.168.10.12 echo request id 977 seq 1",
            "(host)   inode 4026999999 pids 1,7 [sh,vnetctl]", "one more line", "and another",
            "4 packets, 261 bytes in 13.01 s (12 packets/s, 0.01 Mbit/s)"]
    assert D.matches(shown, real, [])
    assert not D.matches(shown, [real[0].replace("84", "48"), *real[1:]], [])
    assert not D.matches(shown, [real[0].replace("seq 1", "seq 2"), *real[1:]], [])
    assert not D.matches(shown, real[:-1], [])
    assert not D.matches(["a 10.1.1.2/24 b"], ["a 10.1.1.3/24 b"], [])
    assert not D.matches(["vethDemo0 veth UP 6a:c1:82:c2:1f:fd"], ["vethDemo0 veth DOWN 6a:c1:82:c2:1f:fd"], [])
    assert D.matches(["port 50280 > 5000"], ["port 41000 > 5000"], [r"\d+ > 5000"])


def test_the_parser_reads_options_commands_and_output() -> None:
    text = ("intro\n<!-- runnable\nsetup: ip link add br0 type bridge\nbackground: sleep 1; ping -c1 10.0.0.1\n"
            "mask: seq \\d+\n-->\n```\n$ vnetctl bridge show\nBRIDGE\nbr0\n# not a command here\n$ echo hi\nhi\n```\n")
    (ex,) = D.parse(text, "x.md")
    assert ex.line == 2 and ex.setup == ["ip link add br0 type bridge"] and ex.masks == ["seq \\d+"]
    assert ex.background == ["sleep 1; ping -c1 10.0.0.1"]
    assert ex.steps == [("vnetctl bridge show", ["BRIDGE", "br0", "# not a command here"]), ("echo hi", ["hi"])]
    with pytest.raises(ValueError, match="unknown runnable option"):
        D.parse("<!-- runnable\nsetpu: x\n-->\n```\n$ true\n```\n", "x.md")


@pytest.mark.kernel
@pytest.mark.parametrize("ex", EXAMPLES, ids=[ex.id for ex in EXAMPLES])
def test_runnable_example_runs_as_shown(ex: D.Example) -> None:
    got = D.run(ex)
    for (cmd, expected), actual in zip(ex.steps, got, strict=True):
        if not D.matches(expected, actual, ex.masks):
            diff = "\n".join(difflib.unified_diff([D.normalize(x, ex.masks) for x in D._trim(expected)],
                                                  [D.normalize(x, ex.masks) for x in actual], "shown", "real", lineterm=""))
            pytest.fail(f"{ex.id}: '{cmd}' printed something else (normalised):\n{diff}\n--- real output:\n" + "\n".join(actual))
