"""README set-up a new user can follow: bare `amc` after activating the venv, outputs of the README's commands
ignored by git, the re-check a plain `amc` command, install advice that names NVIDIA's index, no machine paths."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amc.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
runner = CliRunner()


def _commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    inline = re.findall(r"`(amc [^`]+)`", " ".join(README.split()))  # commands quoted in prose
    return [ln.split("#")[0] for b in blocks for ln in b.splitlines() if ln.strip().startswith("amc ")] + inline


def test_setup_says_to_activate_the_venv_before_bare_amc_commands():
    setup = README[README.index("## Set-up"):README.index("## Set-up") + 2500]
    assert "source .venv/bin/activate" in setup


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs the git checkout")
def test_what_the_readme_commands_write_in_the_repo_root_is_ignored():
    outputs = set()
    for cmd in _commands():
        for opt in ("--out", "-o", "--plot", "--rows", "--json"):
            for m in re.finditer(rf"(?:^|\s){opt} (\S+)", cmd):
                target = m.group(1)
                if target in ("-", "PATH") or target.isupper() or target.startswith("docs/") \
                        or target.startswith("results/"):  # placeholders, committed pictures and results
                    continue
                outputs.add(target)
    assert {"models/a4.onnx", "reports/a4_fp32", "triton_repo", "small.h5", "train.h5"} <= outputs
    r = subprocess.run(["git", "check-ignore", "--no-index", *sorted(outputs)], cwd=ROOT, capture_output=True,
                       text=True)
    assert sorted(r.stdout.split()) == sorted(outputs), set(outputs) - set(r.stdout.split())


def test_the_recheck_is_a_plain_amc_command_and_eval_engine_takes_a_packaged_name(tmp_path):
    recheck = README[README.index("**Re-check.**"):][:800]
    assert "python -c" not in recheck and "amc eval-engine default --data train.h5 --split test" in recheck
    r = runner.invoke(app, ["eval-engine", "default", "--data", str(tmp_path / "missing.h5")])
    assert r.exit_code == 2 and "missing.h5" in r.output and "default: no such" not in r.output, r.output


def test_tensorrt_install_advice_names_nvidias_index():
    from amc.export.tensorrt import MISSING
    from amc.runtime.tensorrt_backend import TRT_MISSING

    for text in (MISSING, TRT_MISSING):
        assert "--extra-index-url https://pypi.nvidia.com" in text


def test_readme_shows_no_paths_of_the_build_machine():
    assert not re.search(r"(?<![\w.])/(work|tmp|root)/", README), re.search(r"/(work|tmp|root)/\S*", README)
