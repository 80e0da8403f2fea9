"""Time every chapter notebook and record the table (``make benchmark``).

Runs each MyST notebook in a fresh kernel, both frameworks, with the settings
of the tests (one CPU thread per kernel: see conftest.py), in the profile of
``COMPANION_PROFILE`` (``make benchmark PROFILE=full``), and prints the wall
time including kernel start-up. The results go into ``book/_benchmarks.csv``,
one row per chapter and profile (rows of chapters not run this time are
kept): the seconds, the device, the date, and the one-line results of the
chapter's check cells (every cell that asserts prints what it measured). The
chapters' run-time lines are rendered from that table (``book/_ext/runtimes.py``).

Exit status 1 if any chapter fails or exceeds its profile's budget (quick:
60 s on the 2-core reference machine; full: 5 min on one GPU); a failed
chapter is not recorded.
"""
from __future__ import annotations

import csv
import datetime
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TABLE = ROOT / "book" / "_benchmarks.csv"
COLUMNS = ["chapter", "profile", "seconds", "device", "date", "quality"]
BUDGETS_S = {"quick": 60.0, "full": 300.0}  # full: on one modern GPU (BOOK.md section 7)


def device() -> str:
    """The machine in a few words: the GPU's name, or the number of CPU cores."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"a {os.cpu_count()}-core CPU"


def quality_lines(nb) -> str:
    """What the chapter's check cells printed: the last line of each asserting cell."""
    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "assert " not in cell.source:
            continue
        text = "".join(o.get("text", "") for o in cell.get("outputs", [])
                       if o.get("output_type") == "stream" and o.get("name") == "stdout")
        printed = [line.strip() for line in text.splitlines() if line.strip()]
        if printed:
            lines.append(printed[-1])
    return " | ".join(lines)


def record(rows: list[dict]) -> None:
    table = {}
    if TABLE.exists():
        with TABLE.open(newline="", encoding="utf-8") as f:
            table = {(r["chapter"], r["profile"]): r for r in csv.DictReader(f)}
    table.update({(r["chapter"], r["profile"]): r for r in rows})
    with TABLE.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table[key] for key in sorted(table))


def main(argv: list[str]) -> int:
    import jupytext
    from nbclient import NotebookClient

    import conftest  # noqa: F401  (sets the thread counts the tests use)
    from tests.nbval_myst import is_notebook

    profile = os.environ.setdefault("COMPANION_PROFILE", "quick")
    budget = BUDGETS_S[profile]
    pages = [Path(a).resolve() for a in argv] or sorted(
        p for p in (ROOT / "book").rglob("*.md") if is_notebook(p))
    where, today = device(), datetime.date.today().isoformat()
    failures, rows = 0, []
    for page in pages:
        nb = jupytext.read(page, fmt="md:myst")
        start = time.perf_counter()
        try:
            NotebookClient(nb, timeout=1800, kernel_name="python3",
                           resources={"metadata": {"path": str(page.parent)}}).execute()
            status = "ok"
        except Exception as exc:  # report and go on with the other chapters
            status = f"FAILED: {type(exc).__name__}"
        seconds = time.perf_counter() - start
        over = seconds > budget
        failures += over or status != "ok"
        chapter = page.relative_to(ROOT).as_posix()
        print(f"{seconds:6.1f} s  {'OVER ' if over else ''}{status:8}  {chapter}", flush=True)
        if status == "ok":
            rows.append(dict(chapter=chapter, profile=profile, seconds=f"{seconds:.1f}",
                             device=where, date=today, quality=quality_lines(nb)))
    record(rows)
    print(f"{len(rows)} chapter(s) recorded in {TABLE.relative_to(ROOT)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
