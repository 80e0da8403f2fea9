"""Serve MathJax from the book's own ``_static`` folder.

Sphinx loads MathJax from a CDN by default, so a reader offline (or a test
machine without internet) sees raw LaTeX. The ``django-static-mathjax``
package on PyPI ships MathJax 3 as plain files, with no dependencies; this
extension copies its ``es5`` bundle into ``_static/mathjax`` and points
``mathjax_path`` at it (``_config.yml`` sets ``mathjax_path``).
"""
from __future__ import annotations

import shutil
from pathlib import Path


def _bundle() -> Path:
    import mathjax  # installed by the django-static-mathjax package

    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def _copy(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    if not (target / "tex-mml-chtml.js").exists():
        shutil.copytree(_bundle(), target, dirs_exist_ok=True)


def setup(app):
    if not (_bundle() / "tex-mml-chtml.js").exists():
        raise RuntimeError("MathJax files not found: pip install django-static-mathjax")
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
