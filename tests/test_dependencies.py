"""Every third-party module amc imports is declared in pyproject.toml (issue 22, item 1).

A module imported only by an optional part of amc (training, export, the HTTP server, TensorRT) must be
declared in that part's extra; every other import must be a base dependency, since a base install
(`pip install amc`) runs it. CI also installs the base alone and runs `amc --help` (.ci/plain_install.sh).
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions

import pytest

from tests.test_architecture import ROOT, Imports, modules

tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")
PYPROJECT = ROOT.parent / "pyproject.toml"

# Import names that only optional parts of amc use, and the extra that declares them.
OPTIONAL = {"torch": "train", "onnxslim": "train", "fastapi": "serve", "starlette": "serve", "uvicorn": "serve",
            "prometheus_client": "serve", "tensorrt": "trt"}
# Import name -> distribution, for packages this machine may lack (installed ones are looked up).
NOT_INSTALLED = {"tensorrt": "tensorrt"}
# Not pip packages: GNU Radio is a system package, imported only by amc.data.gr_chain, which runs under
# the Python that has it (amc data synth --generator gnuradio finds that Python and says how to install it).
SYSTEM = {"gnuradio"}


def requirement_names(reqs: list[str]) -> set[str]:
    return {canonical(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in reqs}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    return (requirement_names(project["dependencies"]),
            {k: requirement_names(v) for k, v in project["optional-dependencies"].items()})


def third_party_imports() -> dict[str, list[str]]:
    """Top-level import name -> ['module:line', ...] for every non-stdlib, non-amc import in amc/."""
    found: dict[str, list[str]] = {}
    for name, path in modules().items():
        v = Imports(name, path.name == "__init__.py")
        v.visit(ast.parse(path.read_text()))
        for target, _, line in v.found:
            top = target.split(".")[0]
            if top in ("amc", "__future__") or top in sys.stdlib_module_names or top in SYSTEM:
                continue
            found.setdefault(top, []).append(f"{name}:{line}")
    return found


def distribution(top: str) -> str:
    dists = packages_distributions().get(top) or [NOT_INSTALLED.get(top, top)]
    return canonical(dists[0])


def test_every_import_is_declared_where_its_users_get_it():
    base, extras = declared()
    bad = []
    for top, where in sorted(third_party_imports().items()):
        dist = distribution(top)
        extra = OPTIONAL.get(top)
        if extra is None and dist not in base:
            bad.append(f"{top} ({dist}) is imported by {where[:3]} but is not a base dependency")
        elif extra is not None and dist not in base | extras.get(extra, set()):
            bad.append(f"{top} ({dist}) is imported by {where[:3]} but is in neither the base nor [{extra}]")
    assert not bad, "\n".join(bad)


def test_the_scan_sees_click_and_dev_pulls_every_extra_that_tests_need():
    """The scan finds the import that broke a plain install (click, used by amc.cli.evaluate), and [dev]
    (what CI and the tests install) includes [train] and [serve]."""
    found = third_party_imports()
    assert any(w.startswith("amc.cli.evaluate:") for w in found["click"])
    assert "torch" in found and "jsonschema" in found
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    dev = " ".join(project["optional-dependencies"]["dev"])
    assert re.search(r"amc\[[^\]]*train", dev) and re.search(r"amc\[[^\]]*serve", dev), dev
