"""One vocabulary across commands: how --help names arguments, defaults, ranges and options, checked on every
command's help as click builds it."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from typer.testing import CliRunner

from amc.cli import app
from amc.export.formats import FORMATS

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def commands(group=None, path=()):
    group = group or typer.main.get_command(app)
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


def helps():
    return {p: runner.invoke(app, [*p, "--help"], env={"COLUMNS": "80"}).output for p, _ in commands()}


def test_root_help_gives_every_command_its_whole_first_sentence():
    text = " ".join(runner.invoke(app, ["--help"]).output.split())
    for path, cmd in commands():
        if len(path) == 1:
            first = " ".join(cmd.help.split("\n\n")[0].split())
            assert f"{path[0]} {first}" in text, path
    assert "..." not in text.split("Commands:")[1]


def test_arguments_read_as_what_to_type_and_usage_names_only_listed_arguments():
    for path, text in helps().items():
        assert "<list[" not in text and "Path>" not in text, path
        usage = text.splitlines()[0]
        listed = text.split("Arguments:")[1].split("Options:")[0] if "Arguments:" in text else ""
        for arg in re.findall(r"\[?([A-Z][A-Z_]+)\]?(?:\.\.\.)?", usage.split("[OPTIONS]")[1]):
            assert re.search(rf"^\s+{arg}\b", listed, re.M), (path, arg, usage)  # every usage argument explained
    h = helps()
    assert "RUN <path>" in h[("compare",)] and "INPUT <path>" in h[("classify",)]
    assert h[("data", "synth")].splitlines()[0].endswith(" data synth [OPTIONS]")  # no unexplained [OUT]


def test_defaults_are_written_one_way():
    for path, text in helps().items():
        assert "(default:" not in " ".join(text.split()), path


def test_threads_mean_the_same_on_every_command():
    for path, text in helps().items():
        if "--threads" in text:
            flat = " ".join(text.split())
            assert re.search(r"--threads <int(?: range)?> .*?\[default: 0; 0<=x<=1024\]", flat), (path, flat)
    for args in (["bench", "x.onnx", "--threads", "-1"], ["serve", "x.onnx", "--threads", "-1"],
                 ["classify", "x.cf32", "--threads", "-1"], ["train", "x.h5", "--threads", "-1"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and "--threads" in r.output, (args, r.output)


def test_export_help_says_which_precision_each_format_takes():
    export = typer.main.get_command(app).commands["export"]
    help_text = next(p for p in export.params if p.name == "precision").help
    groups = dict(part.split(": ") for part in help_text.split(". ")[0].split("; "))
    for names, precisions in groups.items():
        for name in names.split(", "):
            assert tuple(precisions.split()) == FORMATS[name].precisions, name
    assert {n for names in groups for n in names.split(", ")} == set(FORMATS)
    assert "bf16" not in groups["onnx, triton"].split()


def test_markdown_is_offered_exactly_where_the_readme_promises_it():
    with_markdown = {" ".join(p) for p, text in helps().items() if "--markdown" in text}
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert with_markdown == {"data info", "compare"}
    assert "the tables a write-up quotes, `data info` and `compare`, also print as valid Markdown" in readme


def test_batch_options_name_one_thing_each():
    flat = {p: " ".join(t.split()) for p, t in helps().items()}
    assert "--batch-sizes <n,...>" in flat[("bench",)]  # the sizes to time
    for p in (("export",), ("serve",)):
        assert "--max-batch" in flat[p]  # the largest batch an engine takes
    for p in (("train",), ("eval-engine",), ("classify",)):
        assert "--batch-size" in flat[p]  # frames per call or step
