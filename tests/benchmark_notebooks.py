"""Time every chapter notebook in the quick profile (``make benchmark``).

Runs each MyST notebook in a fresh kernel, both frameworks, and prints the
wall time including kernel start-up, with the settings of the tests (quick
profile, one CPU thread per kernel: see conftest.py). Chapters state these numbers in their
opening; this script is how they are measured. Exit status 1 if any chapter
exceeds its profile's budget (quick: 60 s) or fails.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BUDGETS_S = {"quick": 60.0, "full": 300.0}  # full: on one modern GPU (BOOK.md section 7)


def main(argv: list[str]) -> int:
    import jupytext
    from nbclient import NotebookClient

    from conftest import is_notebook  # also sets the thread counts the tests use

    os.environ.setdefault("COMPANION_PROFILE", "quick")
    budget = BUDGETS_S[os.environ["COMPANION_PROFILE"]]
    pages = [Path(a).resolve() for a in argv] or sorted(
        p for p in (ROOT / "book").rglob("*.md") if is_notebook(p))
    failures = 0
    for page in pages:
        nb = jupytext.read(page, fmt="md:myst")
        start = time.perf_counter()
        try:
            NotebookClient(nb, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(page.parent)}}).execute()
            status = "ok"
        except Exception as exc:  # report and go on with the other chapters
            status = f"FAILED: {type(exc).__name__}"
        seconds = time.perf_counter() - start
        over = seconds > budget
        failures += over or status != "ok"
        print(f"{seconds:6.1f} s  {'OVER ' if over else ''}{status:8}  {page.relative_to(ROOT)}",
              flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
