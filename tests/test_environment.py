"""pyproject.toml and environment.yml describe the same environment."""
import re
import tomllib

import yaml
from packaging.requirements import Requirement

from tests.conftest import ROOT


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values()
                                      for r in extra]
    out = {}
    for line in reqs:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"sys_platform": "linux"}):
            out[req.name.lower()] = str(req.specifier)
    return out


def _environment() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        for line in dep["pip"] if isinstance(dep, dict) else [dep]:
            name, spec = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", line).groups()
            if name.lower() not in {"python", "pip"}:
                out[name.lower()] = str(Requirement(f"x{spec.replace('=', '==', 1) if re.match(r'=[0-9]', spec) else spec}").specifier)
    return out


def test_same_packages_and_ranges():
    assert _pyproject() == _environment()


def test_pyproject_uses_ranges_not_pins():
    pinned = [name for name, spec in _pyproject().items() if spec.startswith("==")]
    assert not pinned, f"exact pins in pyproject.toml: {pinned}"


def test_jupyter_book_stays_on_version_1():
    spec = _pyproject()["jupyter-book"]
    assert ">=1" in spec and "<2" in spec
