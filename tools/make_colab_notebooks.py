"""Write an ``.ipynb`` copy of every chapter, ready for Colab (``make notebooks``).

The chapters are MyST Markdown notebooks (``book/**/*.md`` with a kernel in
their front matter); Colab opens only ``.ipynb`` files. Each copy (converted
with jupytext, no outputs) gets a first code cell that installs the book's
``companion`` package when, and only when, the notebook runs in Colab::

    import sys
    if "google.colab" in sys.modules:
        %pip install --quiet --no-deps "companion @ git+https://github.com/OWNER/REPO@REF"

``--no-deps``: Colab already provides every dependency (torch, keras,
tensorflow, scikit-learn, scikit-image, statsmodels, matplotlib, tqdm);
installing them again would put ``tensorflow-cpu`` over Colab's ``tensorflow``.
Elsewhere (JupyterLab, Binder) the cell does nothing.

    python tools/make_colab_notebooks.py                       # -> _build/notebooks/book/...
    python tools/make_colab_notebooks.py --out . --ref v0.2.0  # beside the sources (publish.yml)

``--out .`` is for publish.yml's throwaway checkout: an ``.ipynb`` beside each
chapter is what makes the published Colab button open ``.ipynb`` files
(``_config.publish.yml``). In a working tree, nbval would then collect every
chapter twice; delete the copies with ``find book -name '*.ipynb' -delete``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REPOSITORY = "executable-dl-book/neural-networks-executable"
INSTALL_TAG = "colab-install"


def chapters(book: Path = ROOT / "book") -> list[Path]:
    """Every MyST notebook under book/ (front matter that names a kernel)."""
    out = []
    for path in sorted(book.rglob("*.md")):
        if any(part.startswith((".", "_")) for part in path.relative_to(book).parts[:-1]):
            continue
        head = path.read_text(encoding="utf-8")[:1000]
        if head.startswith("---") and "kernelspec:" in head:
            out.append(path)
    return out


def install_source(repository: str, ref: str) -> str:
    return (
        "# In Colab, install the book's companion package (elsewhere it is already installed).\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet --no-deps "companion @ git+https://github.com/{repository}@{ref}"'
    )


def to_colab_notebook(path: Path, repository: str, ref: str):
    """The chapter as an nbformat notebook with the install cell first."""
    import jupytext
    from nbformat.v4 import new_code_cell

    nb = jupytext.read(path, fmt="md:myst")
    cell = new_code_cell(install_source(repository, ref), metadata={"tags": [INSTALL_TAG]})
    nb.cells.insert(0, cell)
    nb.metadata.pop("jupytext", None)   # a plain notebook, not one paired with the .md
    nb.metadata.setdefault("colab", {})["provenance"] = []
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "notebooks",
                        help="folder to write book/... into (default: _build/notebooks; "
                             "'.' writes each copy beside its chapter)")
    parser.add_argument("--repository", default=DEFAULT_REPOSITORY,
                        help="GitHub OWNER/NAME that the install cell installs from")
    parser.add_argument("--ref", default="main", help="branch or tag to install (default: main)")
    args = parser.parse_args(argv)

    import jupytext

    written = 0
    for path in chapters():
        target = args.out / path.relative_to(ROOT).with_suffix(".ipynb")
        target.parent.mkdir(parents=True, exist_ok=True)
        jupytext.write(to_colab_notebook(path, args.repository, args.ref), target, fmt="ipynb")
        written += 1
    print(f"{written} notebooks written to {args.out}/book "
          f"(Colab installs companion from {args.repository}@{args.ref})")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
