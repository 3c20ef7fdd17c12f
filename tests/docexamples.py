"""Runnable examples in the README and docs/: find them, run them in a fresh sandbox, compare their output.

A fenced block is runnable when an HTML comment starting with `runnable` comes right before it:

    <!-- runnable -->
    ```
    $ vnetctl tuntap add tun2 --mode tun
    $ vnetctl tuntap list
    NAME  MODE  STATE  PERSIST  MULTI_QUEUE  OWNER  GROUP  HOLDERS
    tun2  tun   DOWN   yes      no           -      -      -
    ```

Lines starting with the prompt of the block's first line (`$ ` or `# `) are commands, run one by
one with `sh -c` from the repository's root (vnetctl on PATH), in a fresh sandbox per block
(tests/sandbox.sh, with its own /tmp); the lines after a command are its expected output,
stdout and stderr together as a terminal shows them, then `[exit N]` when it exits N != 0. The
comment may hold lines `setup: SH` (run first, each in order; its output is not compared),
`background: SH` (started in the background before the commands) and `mask: REGEX` (what it
matches is not compared). In expected output, `...` inside a line matches any text, and a line
that is only `...` any number of lines. Besides the masks, MACs, IPv6 link-local addresses, nsfs
inodes, large (random) ifindexes, pids, ICMP ids, times, durations, rates and fractional numbers
are not compared, nor is the amount of white space.

To refresh a block with real output: `python -m tests.docexamples FILE:LINE` (as root) prints
its commands with what they print now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROMPT = re.compile(r"^[$#] (.*)$")
SEPARATOR = "@@@vnetctl-doc-step@@@"

# (pattern, replacement) applied to expected and actual output alike, after the block's own masks.
NORMALIZE = [
    (r"\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b", "MAC"),
    (r"\bfe80::[0-9a-f:]+", "fe80::X"),
    (r"\b4026\d{6}\b", "INODE"),
    (r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?", "TIME"),
    (r"\b\d\d:\d\d:\d\d(\.\d+)?\b", "TIME"),
    (r"(?<=#)\d{4,}|(?<=@if)\d{4,}", "IFINDEX"),  # what the kernel picks, or a lab asks at random
    (r"\[\d+\]", "[PID]"),
    (r"\bpids? [\d,]+", "pids PID"),
    (r"\bpid \d+", "pid PID"),
    (r"\bid \d+", "id ID"),
    (r"\bxid 0x[0-9a-f]+", "xid X"),
    (r"\btime[= ]\d+(\.\d+)? ?ms\b", "time DURATION"),
    (r"[\d,]+(\.\d+)? (packets/s|Mbit/s|Gbits/sec|Mbits/sec)", "RATE"),
    (r"\b\d+(\.\d+)? s\b", "DURATION"),
    (r"(?<![\w.:])\d+\.\d+(?![\w.:])", "FLOAT"),
]


@dataclass
class Example:
    """One runnable block: where it is, what to run before and beside it, and each command with its expected output."""

    path: str
    line: int
    setup: list[str] = field(default_factory=list)
    background: list[str] = field(default_factory=list)
    masks: list[str] = field(default_factory=list)
    steps: list[tuple[str, list[str]]] = field(default_factory=list)
    prompt: str = "$ "

    @property
    def id(self) -> str:
        """FILE:LINE, the test id."""
        return f"{self.path}:{self.line}"


def parse(text: str, path: str) -> list[Example]:
    """The runnable examples of one Markdown file."""
    lines = text.splitlines()
    out: list[Example] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("<!-- runnable"):
            i += 1
            continue
        ex = Example(path, i + 1)
        opts = [lines[i][len("<!-- runnable"):]]
        while "-->" not in opts[-1]:
            i += 1
            opts.append(lines[i])
        for opt in "\n".join(opts).replace("-->", "").splitlines():
            key, _, value = opt.strip().partition(": ")
            if key in ("setup", "background", "mask"):
                {"setup": ex.setup, "background": ex.background, "mask": ex.masks}[key].append(value)
            elif opt.strip():
                raise ValueError(f"{ex.id}: unknown runnable option {opt.strip()!r}")
        i += 1
        if i >= len(lines) or not lines[i].startswith("```"):
            raise ValueError(f"{ex.id}: a runnable comment must come right before a fenced block")
        i += 1
        ex.prompt = prompt = lines[i][:2]  # the first line's prompt: only lines with it are commands
        while not lines[i].startswith("```"):
            m = PROMPT.match(lines[i])
            if m and lines[i].startswith(prompt):
                ex.steps.append((m.group(1), []))
            elif ex.steps:
                ex.steps[-1][1].append(lines[i])
            elif lines[i].strip():
                raise ValueError(f"{ex.id}: output before the first command")
            i += 1
        out.append(ex)
        i += 1
    return out


def examples() -> list[Example]:
    """Every runnable example of the README and docs/."""
    return [ex for p in DOCS for ex in parse(p.read_text(), str(p.relative_to(ROOT)))]


def private_tmp() -> list[str]:
    """Shell lines giving the sandbox its own /tmp, keeping the checkout and its venv visible when they live there."""
    import sys

    keep = [p for p in dict.fromkeys([str(ROOT), sys.prefix]) if p.startswith("/tmp/")]
    keep = [p for p in keep if not any(p.startswith(q + "/") for q in keep)]
    lines = [f"mkdir -p /run/doc-keep/{i} && mount --bind {p} /run/doc-keep/{i}" for i, p in enumerate(keep)]
    lines.append("mount -t tmpfs -o mode=1777 vnetctl-doc-tmp /tmp")
    return lines + [f"mkdir -p {p} && mount --bind /run/doc-keep/{i} {p}" for i, p in enumerate(keep)]


def script(ex: Example) -> str:
    """The shell script that runs the example in a sandbox: setup, background, then each command after a separator."""
    parts = [*private_tmp(), f"cd {ROOT}"]
    parts += [f"{{ {s}\n}} >/tmp/.setup.log 2>&1 || {{ echo 'setup failed: {_quote(s)}'; cat /tmp/.setup.log; exit 99; }}"
              for s in ex.setup]
    parts += [f"( {b}\n) >/dev/null 2>&1 &" for b in ex.background]
    for cmd, _ in ex.steps:
        parts.append(f"printf '\\n{SEPARATOR}\\n'; ( {cmd}\n) 2>&1; rc=$?; [ $rc = 0 ] || echo \"[exit $rc]\"")
    return "\n".join(parts) + "\n"


def _quote(s: str) -> str:
    return s.replace("'", "'\\''")


def outputs(stdout: str, n: int) -> list[list[str]]:
    """Each command's output lines from the script's stdout."""
    chunks = stdout.split(f"\n{SEPARATOR}\n")
    if len(chunks) != n + 1:
        raise AssertionError(f"expected {n} command outputs, got {len(chunks) - 1}:\n{stdout}")
    return [_trim(c.splitlines()) for c in chunks[1:]]


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    while lines and not lines[0].strip():
        lines = lines[1:]
    return lines


def normalize(line: str, masks: list[str]) -> str:
    """A line as compared: masks, then the variable parts, then white space collapsed."""
    for m in masks:
        line = re.sub(m, "MASKED", line)
    for pattern, repl in NORMALIZE:
        line = re.sub(pattern, repl, line)
    return " ".join(line.split())


def matches(expected: list[str], actual: list[str], masks: list[str]) -> bool:
    """True if actual is what expected shows, modulo the normalisation and `...` wildcards."""
    exp = [normalize(x, masks) for x in _trim(expected)]
    act = [normalize(x, masks) for x in actual]
    pattern = "".join(r"(?:[^\n]*\n)*?" if x == "..." else re.escape(x).replace(r"\.\.\.", "[^\n]*") + "\n" for x in exp)
    return re.fullmatch(pattern, "".join(a + "\n" for a in act)) is not None


def run(ex: Example, timeout: float = 180) -> list[list[str]]:
    """Run the example in a fresh sandbox (tests/sandbox.sh, a private /tmp too): each command's output lines."""
    import os
    import signal
    import subprocess
    import sys

    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + ":" + os.environ.get("PATH", ""), COLUMNS="250")
    proc = subprocess.Popen([str(ROOT / "tests" / "sandbox.sh"), "sh", "-c", script(ex)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the sandbox's pid 1 with it: everything the example started ends
        out, err = proc.communicate()
        raise AssertionError(f"{ex.id}: still running after {timeout:.0f} s; what it printed:\n{out}{err}") from None
    if proc.returncode == 99:
        raise AssertionError(f"{ex.id}: {out}{err}")
    return outputs(out, len(ex.steps))


if __name__ == "__main__":  # python -m tests.docexamples FILE:LINE — the block as it runs now, to paste
    import sys

    (wanted,) = sys.argv[1:]
    for ex in examples():
        if ex.id == wanted:
            for (cmd, _), got in zip(ex.steps, run(ex), strict=True):
                print(ex.prompt + cmd)
                print("\n".join(got))
