"""The README's quoted outputs, re-run from the code.

A fenced block in README.md preceded by a line `<!-- output: NAME -->` quotes what a command prints.
Each NAME has a recipe here: the commands a user would type (run as `python -m amc ...` in a fresh
folder, output piped, as the README says), and which lines of their stdout the README shows. A block
whose first line is `$ COMMAND` runs that command itself, in the folder its recipe prepared.

`tests/test_readme.py` compares every marked block with a fresh run; what differs fails the test.
Only figures that no two runs can share are masked: times, rates and speeds (a number followed by
`ms`, `s`, `min`, `frames/s`, `fr/s`, `MS/s`, a real-time factor `x0.8`), and runs of spaces are
compared as one (a column widens when a rate gains a digit). Everything else, accuracies and
fingerprints included, must be what the code prints today: training is seeded and runs the same
arithmetic on the same kind of machine. Float results of training differ between CPUs (another
instruction set picks other kernels, and the rounding grows over epochs), so for the blocks that
depend on a training run the figures are compared exactly only on the machine kind the README's
outputs were made on (CPU model, torch and numpy versions; recorded in tests/readme_env.json by
`--update`); elsewhere their decimals are masked too and the check covers the words, the layout and
the counts.

`python -m tests.readme_outputs --update [NAME...]` re-runs the recipes and rewrites the blocks in
place (review the diff: it is what a user would now see).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARK = re.compile(r"^<!-- output: ([a-z0-9-]+) -->\s*$")

UNIT = r"(?:ms|s|min|h|frames/s|fr/s|MS/s|kS/s|samples/s)"
VOLATILE = [
    re.compile(r"[+-]?\d[\d,]*(?:\.\d+)?(?=\s?" + UNIT + r"\b)"),  # 0.50 ms, 1,969 frames/s, 1.31 s
    re.compile(r"(?<=real time x)\d+(?:\.\d+)?"),  # real-time factor
    re.compile(r"(?<=\bx)\d+\.\d+(?=x?\b)"),  # speed-up ratios such as x1.28
]


DECIMAL = re.compile(r"[+-]?\d+\.\d+(?:e[+-]?\d+)?")
ENV_FILE = Path(__file__).with_name("readme_env.json")


def mask(line: str, decimals: bool = False) -> str:
    """A line as compared: volatile figures as '#', runs of spaces as one, no trailing blanks.

    decimals: also mask every decimal number (training-dependent figures on another machine kind)."""
    for pattern in VOLATILE:
        line = pattern.sub("#", line)
    if decimals:
        line = DECIMAL.sub("#", line)
    return re.sub(r" {2,}", " ", line).rstrip()


def machine() -> dict[str, str]:
    """What decides a training run's float results here: CPU model, architecture, torch and numpy."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    import torch
    return {"cpu": cpu, "arch": platform.machine(), "torch": torch.__version__, "numpy": numpy.__version__}


def same_machine() -> bool:
    """True when this machine is the kind the README's trained figures were made on."""
    try:
        return json.loads(ENV_FILE.read_text()) == machine()
    except (OSError, ValueError):
        return False


@dataclass
class Block:
    name: str
    start: int  # index of the first content line in README's lines
    stop: int  # index of the closing fence
    lines: list[str]


def blocks(text: str) -> list[Block]:
    """Every marked block of the README, in order."""
    lines = text.splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i])
        if m:
            if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
                raise ValueError(f"README line {i + 1}: '{lines[i]}' must be followed by a ``` fence")
            j = i + 2
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if j >= len(lines):
                raise ValueError(f"README line {i + 2}: the block for {m.group(1)} never closes")
            found.append(Block(m.group(1), i + 2, j, lines[i + 2:j]))
            i = j
        i += 1
    return found


def amc(args: list[str], cwd: Path) -> str:
    """stdout of `amc ARGS` in cwd, piped (not a terminal), as a user's shell would run it."""
    env = dict(os.environ, COLUMNS="80", AMC_NO_COLOR="1", NO_COLOR="1")
    env.pop("FORCE_COLOR", None)
    res = subprocess.run([sys.executable, "-m", "amc", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if res.returncode not in (0, 1, 4):  # a verdict (pass, drift, inconclusive) is output; 2, 3 are failures
        raise RuntimeError(f"amc {' '.join(args)} exited {res.returncode}:\n{res.stderr[-3000:]}")
    return res.stdout


def shown_command(block_lines: list[str]) -> list[str] | None:
    if block_lines and block_lines[0].startswith("$ amc "):
        return shlex.split(block_lines[0][len("$ amc "):])
    return None


# --- recipes: (setup of the folder, then the output the block shows) ---------------------------------

Setup = Callable[[Path], str]  # prepares the folder, returns the stdout of what it ran


def _setup_none(folder: Path) -> str:
    return ""


def _setup_small(folder: Path) -> str:
    amc(["data", "synth", "--out", "small.h5", "--classes", "BPSK,QPSK,AM-DSB,WBFM", "--snrs=-10:20:10",
         "--frames", "100"], folder)
    return amc(["data", "info", "small.h5"], folder)


def _setup_other(folder: Path) -> str:
    """A file of the default model's classes made with another seed than its training file."""
    amc(["data", "synth", "--out", "other.h5", "--frames", "20", "--seed", "7"], folder)
    return ""


def _setup_quickstart(folder: Path) -> str:
    return amc(["quickstart", "--no-progress"], folder)


def _from(prefix: str) -> Callable[[str], list[str]]:
    def select(out: str) -> list[str]:
        lines = out.splitlines()
        for i, line in enumerate(lines):
            if line.startswith(prefix):
                return lines[i:]
        raise LookupError(f"no line starts with {prefix!r}")
    return select


def _last(prefix: str, n: int) -> Callable[[str], list[str]]:
    def select(out: str) -> list[str]:
        picked = [line for line in out.splitlines() if line.startswith(prefix)]
        if len(picked) < n:
            raise LookupError(f"fewer than {n} lines start with {prefix!r}")
        return picked[-n:]
    return select


def _whole(out: str) -> list[str]:
    return out.splitlines()


@dataclass
class Recipe:
    setup: Setup
    select: Callable[[str], list[str]] = _whole
    slow: bool = False
    trained: bool = False  # figures from a training run or float inference (exact only on the same machine kind)


RECIPES: dict[str, Recipe] = {
    "data-info": Recipe(_setup_small),
    "quickstart": Recipe(_setup_quickstart, _from("amc quickstart: everything is in"), slow=True, trained=True),
    "train-epochs": Recipe(_setup_quickstart, _last("epoch ", 3), slow=True, trained=True),
    "eval-engine-default": Recipe(_setup_other, slow=True, trained=True),
}


class Runner:
    """Runs each distinct setup once per folder, so blocks sharing the quickstart share one run."""

    def __init__(self, base: Path):
        self.base = base
        self.done: dict[Setup, tuple[Path, str]] = {}

    def output(self, block: Block) -> list[str]:
        recipe = RECIPES.get(block.name)
        if recipe is None:
            raise KeyError(f"README block '{block.name}' has no recipe in tests/readme_outputs.py")
        if recipe.setup not in self.done:
            folder = self.base / recipe.setup.__name__.strip("_")
            folder.mkdir(parents=True, exist_ok=True)
            self.done[recipe.setup] = (folder, recipe.setup(folder))
        folder, out = self.done[recipe.setup]
        cmd = shown_command(block.lines)
        if cmd is not None:
            return [block.lines[0], *_relative(amc(cmd, folder), folder).splitlines()]
        return recipe.select(_relative(out, folder))


def _relative(out: str, folder: Path) -> str:
    """Paths under the run's folder as a user in that folder sees them (the README shows no home)."""
    for f in {str(folder), str(folder.resolve()), str(ROOT)}:  # the checkout: the packaged model's place
        out = out.replace(f + os.sep, "")
    return out


def differences(expected: list[str], actual: list[str], decimals: bool = False) -> list[str]:
    """Lines that differ after masking, as 'README: ...' / 'code:   ...' pairs; [] when they agree."""
    exp = [mask(x, decimals) for x in expected]
    act = [mask(x, decimals) for x in actual]
    if exp == act or " ".join(exp).split() == " ".join(act).split():
        return []  # the same words: a note wrapped at other points (a path of another length) is the same
    out = []
    for i in range(max(len(exp), len(act))):
        e = expected[i] if i < len(expected) else "<missing>"
        a = actual[i] if i < len(actual) else "<missing>"
        if (exp[i] if i < len(exp) else None) != (act[i] if i < len(act) else None):
            out += [f"line {i + 1}:", f"  README: {e}", f"  code:   {a}"]
    return out


def update(names: set[str] | None) -> int:
    text = README.read_text()
    lines = text.splitlines()
    changed = 0
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(Path(tmp))
        for block in reversed(blocks(text)):  # from the end, so earlier indices stay valid
            if names and block.name not in names:
                continue
            new = runner.output(block)
            if new != block.lines:
                lines[block.start:block.stop] = new
                changed += 1
                print(f"updated {block.name}")
    if changed:
        README.write_text("\n".join(lines) + "\n")
    ENV_FILE.write_text(json.dumps(machine(), indent=1) + "\n")
    return changed


def loose(name: str) -> bool:
    """Whether block NAME's decimals are masked here (a trained figure on another machine kind)."""
    recipe = RECIPES.get(name)
    return bool(recipe and recipe.trained and not same_machine())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="rewrite the README's marked blocks from fresh runs")
    ap.add_argument("names", nargs="*", help="only these blocks")
    args = ap.parse_args()
    if args.update:
        print(f"{update(set(args.names) or None)} block(s) changed")
        return
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(Path(tmp))
        bad = 0
        for block in blocks(README.read_text()):
            if args.names and block.name not in args.names:
                continue
            diff = differences(block.lines, runner.output(block), loose(block.name))
            how = " (decimals masked: another machine kind)" if loose(block.name) else ""
            print(f"{block.name}: {'same' if not diff else 'DIFFERS'}{how}")
            for d in diff:
                print(d)
            bad += bool(diff)
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
