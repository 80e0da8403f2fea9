"""Root conftest: lets nbval execute the book's MyST Markdown notebooks.

nbval collects ``.ipynb`` files. The chapters are MyST ``.md`` notebooks, so
for every ``.md`` file under ``book/`` whose front matter declares a kernel we
hand nbval a collector that reads the file through jupytext instead. Run with
``pytest book --nbval-lax`` (``make test`` does).
"""
from __future__ import annotations

import os
import types
from pathlib import Path

import nbformat
import pytest

os.environ.setdefault("COMPANION_PROFILE", "quick")  # tests run the quick profile
# The tests run notebooks side by side (nbval workers and the book build). The
# quick-profile models are tiny, and two multi-threaded kernels on two cores
# oversubscribe the CPU: PyTorch training then slows down more than tenfold.
# One thread per kernel (inherited by every kernel the tests start) avoids it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

BOOK = Path(__file__).parent / "book"


def is_notebook(path: Path) -> bool:
    """A MyST notebook is a .md file whose front matter names a kernel."""
    if path.suffix != ".md" or BOOK not in path.resolve().parents:
        return False
    head = path.read_text(encoding="utf-8")[:1000]
    return head.startswith("---") and "kernelspec:" in head


def pytest_collect_file(file_path: Path, parent):
    opt = parent.config.option
    if (getattr(opt, "nbval", False) or getattr(opt, "nbval_lax", False)) and is_notebook(file_path):
        return MystNotebook.from_parent(parent, path=file_path)
    return None


def _myst_reader():
    import jupytext

    return types.SimpleNamespace(
        read=lambda path, as_version=4: jupytext.read(path, fmt="md:myst"),
        from_dict=nbformat.from_dict,
    )


from nbval import plugin as _nbval  # noqa: E402  (after the docstring and helpers)


class MystNotebook(_nbval.IPyNbFile):
    """nbval's notebook collector for a MyST Markdown file."""

    def collect(self):
        # nbval reads the file with ``nbformat.read`` while collecting; swap in
        # jupytext's reader for that moment only.
        original, _nbval.nbformat = _nbval.nbformat, _myst_reader()
        try:
            yield from super().collect()
        finally:
            _nbval.nbformat = original
