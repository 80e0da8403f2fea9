"""The ``runtime`` directive: a chapter's measured run time, from the benchmark table.

``make benchmark`` times every chapter and records the result in
``book/_benchmarks.csv`` (chapter, profile, seconds, device, date, the quality
numbers the chapter asserted). A chapter opens with::

    ```{runtime}
    What the full profile changes, in the chapter's own words.
    ```

and the book shows **Run time.** with the recorded quick-profile time, the
body, and the full-profile time where one has been recorded. A chapter with no
quick-profile record is a build warning (an error under ``-W``): run
``make benchmark CHAPTERS=book/<part>/<chapter>.md``.
"""
from __future__ import annotations

import csv
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

TABLE = Path(__file__).resolve().parents[1] / "_benchmarks.csv"
logger = logging.getLogger(__name__)


def read_table(path: Path = TABLE) -> dict[tuple[str, str], dict]:
    """Rows of the benchmark table by (chapter source, profile)."""
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        return {(row["chapter"], row["profile"]): row for row in csv.DictReader(f)}


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def measured(row: dict) -> str:
    return (f"{duration(float(row['seconds']))} on {row['device']}, both frameworks "
            f"(measured {row['date']} with `make benchmark`)")


class RuntimeDirective(SphinxDirective):
    has_content = True

    def run(self):
        self.env.note_dependency(str(TABLE))
        chapter = f"{self.env.docname}.md"
        rows = read_table()
        quick, full = rows.get((chapter, "quick")), rows.get((chapter, "full"))
        if quick is None:
            logger.warning(f"{chapter} has no quick-profile run time in {TABLE.name}: run "
                           f"make benchmark CHAPTERS={chapter}", location=self.get_location())
        parts = ["**Run time.**"]
        if quick:
            parts.append(f"Quick profile: {measured(quick)}.")
        parts.extend(self.content)
        if full:
            parts.append(f"In the full profile it took {measured(full)}.")
        container = nodes.container(classes=["chapter-runtime"])
        container.extend(self.parse_text_to_nodes(" ".join(parts)))
        return [container]


def setup(app):
    app.add_directive("runtime", RuntimeDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
