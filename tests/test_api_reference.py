"""The book's API reference documents every public module of companion."""
import importlib
import pkgutil
import re
import sys

import companion
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from api_reference import submodules  # noqa: E402


def all_public_modules() -> set[str]:
    names = {"companion"}
    for info in pkgutil.walk_packages(companion.__path__, prefix="companion."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.add(info.name)
    return names


def test_the_api_page_covers_every_public_module():
    page = (ROOT / "book" / "api.md").read_text()
    covered = set()
    for package, flags in re.findall(r"```\{companion-modules\} (\S+)\n((?::[^\n]*\n)*)```", page):
        covered |= set(submodules(package, subpackages=":no-subpackages:" not in flags))
    assert covered == all_public_modules()


def test_submodules_can_leave_out_subpackages():
    top = submodules("companion", subpackages=False)
    assert "companion.parity" in top and "companion.registry" in top
    assert not any(name.startswith(("companion.torch", "companion.keras")) for name in top)
    assert "companion.torch.cnn" in submodules("companion.torch")


def test_every_module_imports_for_autodoc():
    for name in all_public_modules():
        importlib.import_module(name)
