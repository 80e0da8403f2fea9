"""The book's sources: table of contents, chapter anatomy, both frameworks, citations."""
import re

import pytest

from companion import registry
from tests.book_files import (LENSES, ROOT, bib_keys, chapter_sources, citation_keys, prose_lines,
                              h2_headings, latex_outside_math, section, tagged_cells,
                              toc_files)

# A family's overview (index.md) is free in structure (BOOK.md section 4), even
# when a model is introduced there (a VGG block, an Inception module, a seq2seq
# model); every other chapter of a model has the lenses.
MODEL_CHAPTERS = sorted({spec.chapter for spec in registry.MODELS
                         if spec.in_depth and not spec.chapter.endswith("/index.md")})
ALL_MODEL_PAGES = sorted({spec.chapter for spec in registry.MODELS})
OVERVIEWS = sorted({spec.chapter for spec in registry.MODELS if spec.chapter.endswith("/index.md")})


# The run time comes from the benchmark table (book/_ext/runtimes.py); the
# directive's body says what the full profile changes.
RUNTIME = re.compile(r"^```\{runtime\}\n(.*\n)*?.*Full profile.*\n(.*\n)*?```$", re.M)


def _notebook_chapters():
    from tests.nbval_myst import is_notebook

    return [f"{f}.md" for f in toc_files() if is_notebook(ROOT / f"{f}.md")]


@pytest.mark.parametrize("chapter", [c for c in _notebook_chapters() if c != "book/intro.md"])
def test_every_chapter_states_its_measured_run_time(chapter):
    """Its opening has the {runtime} directive and the table has its quick-profile time."""
    import sys

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    from runtimes import read_table

    opening = (ROOT / chapter).read_text().split("\n## ", 1)[0]
    assert RUNTIME.search(opening), "the opening needs a {runtime} directive"
    row = read_table().get((chapter, "quick"))
    assert row, f"no quick-profile time in book/_benchmarks.csv: make benchmark CHAPTERS={chapter}"
    assert 0 < float(row["seconds"]) <= 60, "the quick profile's budget is 60 s"


def test_no_page_states_a_run_time_by_hand():
    for page in chapter_sources():
        text = page.read_text()
        assert "**Run time.**" not in text, page
        assert not re.search(r"not (yet )?timed", text), page


def test_every_toc_entry_exists():
    missing = [f for f in toc_files()
               if not any((ROOT / f"{f}{ext}").exists() for ext in (".md", ".ipynb"))]
    assert not missing, f"in _toc.yml but not on disk: {missing}"


def test_every_chapter_is_in_the_toc():
    listed = set(toc_files())
    orphans = [str(p.relative_to(ROOT)) for p in chapter_sources()
               if str(p.relative_to(ROOT).with_suffix("")) not in listed]
    assert not orphans, f"on disk but not in _toc.yml: {orphans}"


def test_toc_has_no_duplicates():
    files = toc_files()
    assert len(files) == len(set(files))


@pytest.mark.parametrize("chapter", ALL_MODEL_PAGES)
def test_model_chapter_is_in_the_toc(chapter):
    assert chapter.removesuffix(".md") in toc_files()


@pytest.mark.parametrize("chapter", MODEL_CHAPTERS)
def test_model_chapter_has_the_ten_lenses_in_order_then_exercises(chapter):
    text = (ROOT / chapter).read_text()
    assert h2_headings(text) == LENSES + ["Exercises"]


@pytest.mark.parametrize("chapter", MODEL_CHAPTERS)
def test_model_chapter_opening(chapter):
    text = (ROOT / chapter).read_text()
    opening = text.split("\n## ", 1)[0]
    assert "**Prerequisites.**" in opening
    assert RUNTIME.search(opening), "the opening needs a {runtime} directive"


@pytest.mark.parametrize("chapter", MODEL_CHAPTERS)
def test_model_chapter_runs_both_frameworks_in_the_executable_lenses(chapter):
    text = (ROOT / chapter).read_text()
    counts = tagged_cells(text)
    assert counts.get("pytorch", 0) >= 3 and counts.get("pytorch") == counts.get("keras"), counts
    for lens in ("4. Mathematical foundation", "5. Training logic", "7. Key hyperparameters"):
        body = "```{code-cell}" + section(text, lens)
        lens_counts = tagged_cells(body)
        assert lens_counts.get("pytorch") and lens_counts.get("keras"), f"{lens}: {lens_counts}"


@pytest.mark.parametrize("chapter", OVERVIEWS)
def test_overview_with_a_model_runs_both_frameworks(chapter):
    assert chapter.removesuffix(".md") in toc_files()
    # Overviews may hold a framework-specific demonstration with no twin (e.g.
    # Keras's "same" padding), so only the presence of both is required here.
    counts = tagged_cells((ROOT / chapter).read_text())
    assert counts.get("pytorch", 0) >= 1 and counts.get("keras", 0) >= 1, counts


@pytest.mark.parametrize("chapter", MODEL_CHAPTERS)
def test_model_chapter_references(chapter):
    refs = section((ROOT / chapter).read_text(), "10. References")
    assert len(citation_keys(refs)) >= 3, "at least three papers cited from references.bib"
    assert len(set(re.findall(r"\]\((https?://[^)]+)\)", refs))) >= 2, "at least two web resources"


@pytest.mark.parametrize("chapter", MODEL_CHAPTERS)
def test_model_chapter_exercises_have_solutions(chapter):
    exercises = section((ROOT / chapter).read_text(), "Exercises")
    assert len(re.findall(r"^\*\*Exercise \d+", exercises, flags=re.M)) >= 3
    assert exercises.count(":::{dropdown} Solution") >= 3


FOUNDATIONS = sorted(f"{f}.md" for f in toc_files() if f.startswith("book/foundations/"))
OVERVIEW_PAGES = sorted(f"{f}.md" for f in toc_files() if f.endswith("/index"))


@pytest.mark.parametrize("page", OVERVIEW_PAGES)
def test_every_overview_has_exercises_with_solutions(page):
    exercises = section((ROOT / page).read_text(), "Exercises")
    count = len(re.findall(r"^\*\*Exercise \d+", exercises, flags=re.M))
    assert count >= 3
    assert exercises.count(":::{dropdown} Solution") == count


def _prerequisites(page: str) -> str:
    opening = (ROOT / page).read_text().split("\n## ", 1)[0]
    match = re.search(r"^\*\*Prerequisites\.\*\*(.*?)(?=\n\s*\n|\Z)", opening, re.S | re.M)
    return match.group(1) if match else ""


_LINK = re.compile(r"\{(ref|doc)\}`[^`]+`")


@pytest.mark.parametrize("page", sorted(set(MODEL_CHAPTERS) | set(FOUNDATIONS)))
def test_prerequisites_are_cross_reference_links(page):
    """Prerequisites name what to read first as {ref}/{doc} links, not plain text."""
    text = _prerequisites(page)
    assert text, "the opening needs a **Prerequisites.** paragraph"
    if "None beyond" not in text:
        assert _LINK.search(text), text
        assert "](" not in text, "use {ref} links, not Markdown file links"


@pytest.mark.parametrize("page", FOUNDATIONS)
def test_foundations_do_not_require_later_parts(page):
    """Part I comes first: its prerequisites stay inside Part I (no circles)."""
    text = _prerequisites(page)
    for later in ("../feedforward", "../cnn", "../rnn", "{ref}`mlp`", "{ref}`perceptron`"):
        assert later not in text, f"{page} lists a later part as a prerequisite: {later}"


@pytest.mark.parametrize("page", sorted(set(MODEL_CHAPTERS) | set(FOUNDATIONS)))
def test_references_to_sections_are_links(page):
    """'section 5' in the prose is a {ref} link to the section, not plain text."""
    plain = []
    for line in prose_lines((ROOT / page).read_text()):
        text = re.sub(r"\{ref\}`[^`]*`|`[^`]*`|\$[^$]*\$", "", line)
        if re.search(r"\b[Ss]ections? \d+\b(?!\.\d)", text) and "their section" not in text:
            plain.append(line.strip())
    assert not plain, plain


@pytest.mark.parametrize("chapter", MODEL_CHAPTERS)
def test_model_chapter_draws_its_architecture(chapter):
    """Lens 1 or 3 shows the architecture as a figure (a companion.plots.draw_* function)."""
    text = (ROOT / chapter).read_text()
    early = section(text, LENSES[0]) + section(text, LENSES[2])
    assert re.search(r"\bplots\.draw_\w+\(", early), "draw the architecture in lens 1 or 3"


_CELL = re.compile(r"```\{code-cell\}[^\n]*\n((?::[^\n]*\n)*)\n?(.*?)\n```", re.S)


def _only_checks(source: str) -> bool:
    """A cell whose statements are all asserts and prints (continuation lines aside)."""
    statements = [line for line in source.splitlines()
                  if line.strip() and not line.startswith((" ", "\t", "#", ")", "]"))]
    return bool(statements) and any(s.startswith("assert") for s in statements) and all(
        s.startswith(("assert", "print(")) for s in statements)


@pytest.mark.parametrize("page", [f"{f}.md" for f in toc_files()
                                  if (ROOT / f"{f}.md").read_text().count("{code-cell}")])
def test_check_cells_are_folded_and_say_what_was_measured(page):
    """The reader sees results, not test code: check cells are hide-input and print a line."""
    text = (ROOT / page).read_text()
    for match in _CELL.finditer(text):
        options, source = match.group(1), match.group(2)
        if _only_checks(source):
            assert "hide-input" in options, f"fold this check cell (tags: [hide-input]):\n{source}"
            assert "print(" in source, f"a folded check prints a one-line result:\n{source}"
    for phrase in ("required:", "the check cell", "check cell asserts"):
        assert phrase not in text, f"say what was measured, not '{phrase}'"


@pytest.mark.parametrize("page", [f"{f}.md" for f in toc_files()
                                  if (ROOT / f"{f}.md").read_text().count("{code-cell}")])
def test_lesson_cells_do_not_mix_checks_into_the_code(page):
    """A visible cell teaches; its top-level asserts belong in a folded cell after it."""
    text = (ROOT / page).read_text()
    mixed = []
    for match in _CELL.finditer(text):
        options, source = match.group(1), match.group(2)
        if "hide-input" in options or "remove-" in options:
            continue
        statements = [line for line in source.splitlines()
                      if line.strip() and not line.startswith((" ", "\t", "#", ")", "]"))]
        if any(s.startswith("assert") for s in statements) and not _only_checks(source):
            mixed.append(text[:match.start()].count("\n") + 1)
    assert not mixed, f"move the asserts of the cells at lines {mixed} into a folded cell"


def test_every_citation_resolves():
    known = bib_keys()
    for page in chapter_sources():
        unknown = citation_keys(page.read_text()) - known
        assert not unknown, f"{page.relative_to(ROOT)} cites keys missing from references.bib: {unknown}"


def test_cell_tags_are_known():
    allowed = {"pytorch", "keras", "remove-input", "remove-output", "remove-cell",
               "hide-input", "hide-output", "hide-cell", "raises-exception", "nbval-skip"}
    for page in chapter_sources():
        unknown = set(tagged_cells(page.read_text())) - allowed
        assert not unknown, f"{page.relative_to(ROOT)}: unknown cell tags {unknown}"


def test_latex_check_catches_the_seeds_breakage():
    bad = "where \\eta is the learning rate and h_{t-1} the state; $\\eta$ is fine"
    assert latex_outside_math(bad) == ["\\eta", "h_{t-1}"]
    assert latex_outside_math("$$\n\\sum_{i} x_{i}\n$$ and `a_{b}`") == []


@pytest.mark.parametrize("page", chapter_sources(), ids=lambda p: p.name)
def test_no_bare_latex_in_prose(page):
    """Inline maths is always delimited, unlike in the seeds (seed-notes: broken LaTeX)."""
    assert latex_outside_math(page.read_text()) == []


@pytest.mark.parametrize("page", ALL_MODEL_PAGES)
def test_every_registered_model_runs_in_both_frameworks_on_its_page(page):
    """Short variants live on overview pages, but still with both frameworks' cells."""
    text = (ROOT / page).read_text()
    counts = tagged_cells(text)
    assert counts.get("pytorch", 0) >= 1 and counts.get("keras", 0) >= 1, counts
    cells = code_cells(text)
    for spec in registry.MODELS:
        if spec.chapter != page:
            continue
        for framework in ("pytorch", "keras"):
            used = [src for tags, src in cells if framework in tags and re.search(rf"\b{spec.name}\(", src)]
            assert used, f"{spec.name} is registered for {page} but no {framework} cell builds it"


def test_only_the_back_matter_prints_the_bibliography():
    """One global bibliography (BOOK.md): a chapter's own {bibliography} would
    duplicate every entry and make the build warn."""
    pages = [p for p in (ROOT / "book").rglob("*.md") if "{bibliography}" in p.read_text()]
    assert [p.relative_to(ROOT).as_posix() for p in pages] == ["book/bibliography.md"]


# Part I, Foundations: free in structure (BOOK.md section 4) but with the same
# opening, references and exercises as a model chapter, and both frameworks
# wherever a model is trained.
_TRAINS = re.compile(r"\.fit\(|\.backward\(|\btrain\(|train_on_batch\(|\.step\(|apply_gradients\(")


def code_cells(text: str) -> list[tuple[list[str], str]]:
    """(tags, source) of every code cell of a MyST notebook."""
    cells = []
    for match in re.finditer(r"```\{code-cell\}[^\n]*\n((?::[^\n]*\n)*)(.*?)\n```", text, flags=re.S):
        tags = re.search(r":tags:\s*\[([^\]]*)\]", match.group(1))
        names = [t.strip().strip("'\"") for t in tags.group(1).split(",")] if tags else []
        cells.append((names, match.group(2)))
    return cells


def test_part_one_has_the_twelve_foundation_chapters():
    assert len(FOUNDATIONS) == 12, FOUNDATIONS


def test_code_cells_parser_sees_tags_and_sources():
    text = ("```{code-cell} ipython3\n:tags: [pytorch]\n\nmodel.fit(x)\n```\n\n"
            "```{code-cell} ipython3\nx = 1\n```\n")
    assert code_cells(text) == [(["pytorch"], "\nmodel.fit(x)"), ([], "x = 1")]
    assert _TRAINS.search(code_cells(text)[0][1]) and not _TRAINS.search(code_cells(text)[1][1])


@pytest.mark.parametrize("chapter", FOUNDATIONS)
def test_foundation_chapter_opening(chapter):
    opening = (ROOT / chapter).read_text().split("\n## ", 1)[0]
    assert "**Prerequisites.**" in opening
    assert RUNTIME.search(opening), "the opening needs a {runtime} directive"


@pytest.mark.parametrize("chapter", FOUNDATIONS)
def test_foundation_chapter_ends_with_references_then_exercises(chapter):
    text = (ROOT / chapter).read_text()
    assert h2_headings(text)[-2:] == ["References", "Exercises"]
    refs = section(text, "References")
    assert len(citation_keys(refs)) >= 3, "at least three works cited from references.bib"
    assert len(set(re.findall(r"\]\((https?://[^)]+)\)", refs))) >= 2, "at least two web resources"
    exercises = section(text, "Exercises")
    assert len(re.findall(r"^\*\*Exercise \d+", exercises, flags=re.M)) >= 3
    assert exercises.count(":::{dropdown} Solution") >= 3


@pytest.mark.parametrize("chapter", FOUNDATIONS)
def test_foundation_chapter_that_trains_uses_both_frameworks(chapter):
    """Training (fit, backward, optimizer steps) appears in both frameworks, in pairs."""
    cells = code_cells((ROOT / chapter).read_text())
    tags = [t for names, _ in cells for t in names if t in ("pytorch", "keras")]
    trains = any(_TRAINS.search(src) for names, src in cells
                 if "pytorch" in names or "keras" in names or not names)
    if trains:
        assert "pytorch" in tags and "keras" in tags, f"{chapter} trains a model in one framework only"
    assert tags.count("pytorch") == tags.count("keras"), tags
    # Each Keras cell directly follows its PyTorch twin (the pair becomes one tab set).
    framework = [names for names, _ in cells]
    for i, names in enumerate(framework):
        if "keras" in names:
            assert i > 0 and "pytorch" in framework[i - 1], f"{chapter}: Keras cell {i} has no PyTorch twin before it"


# ------------------------------------------------------------- Part IX: applications
# Every study follows one workflow (issue 15): problem and metric, data (origin and
# licence), classical baselines, the book's models in both frameworks, tuning on
# the validation split only, one evaluation on the test split ending in a results
# table, error analysis, and what a practitioner takes away.
APPLICATION_SECTIONS = [
    "1. The problem and its metric",
    "2. The data",
    "3. Baselines",
    "4. The book's models",
    "5. Tuning on the validation split",
    "6. One evaluation on the test split",
    "7. Error analysis",
    "8. What a practitioner should take away",
    "9. References",
]
APPLICATIONS = sorted(f"{f}.md" for f in toc_files()
                      if f.startswith("book/applications/") and not f.endswith("/index"))


def test_part_nine_has_the_five_studies():
    names = {page.rsplit("/", 1)[-1] for page in APPLICATIONS}
    assert names == {"image_classification.md", "sentiment.md", "forecasting.md",
                     "anomaly_detection.md", "generation.md"}, names


@pytest.mark.parametrize("page", APPLICATIONS)
def test_application_follows_the_workflow(page):
    text = (ROOT / page).read_text()
    assert h2_headings(text) == APPLICATION_SECTIONS + ["Exercises"]
    assert re.search(r"^\(app-[a-z-]+\)=\n# ", text, re.M), "a label before the H1"
    data = section(text, "2. The data").lower()
    assert "licen" in data, "the data section names the data's licence"
    assert "companion.data." in text or "data." in data


@pytest.mark.parametrize("page", APPLICATIONS)
def test_application_trains_both_frameworks_and_prints_a_results_table(page):
    text = (ROOT / page).read_text()
    counts = tagged_cells(text)
    assert counts.get("pytorch", 0) >= 3 and counts.get("pytorch") == counts.get("keras"), counts
    models = section(text, "4. The book's models")
    assert "tags: [pytorch]" in models and "tags: [keras]" in models
    final = section(text, "6. One evaluation on the test split")
    assert "Results(" in text and ".frame()" in final, "the study ends on a results table"
    assert "assert" in final, "the test-split section asserts the quality bars"


@pytest.mark.parametrize("page", APPLICATIONS)
def test_application_opening_references_and_exercises(page):
    text = (ROOT / page).read_text()
    prerequisites = _prerequisites(page)
    assert _LINK.search(prerequisites) and "](" not in prerequisites
    assert RUNTIME.search(text.split("\n## ", 1)[0]), "the opening needs a {runtime} directive"
    refs = section(text, "9. References")
    assert len(citation_keys(refs)) >= 3
    assert len(set(re.findall(r"\]\((https?://[^)]+)\)", refs))) >= 2
    exercises = section(text, "Exercises")
    count = len(re.findall(r"^\*\*Exercise \d+", exercises, flags=re.M))
    assert count >= 3 and exercises.count(":::{dropdown} Solution") == count


@pytest.mark.parametrize("page", APPLICATIONS)
def test_application_section_references_are_links(page):
    plain = []
    for line in prose_lines((ROOT / page).read_text()):
        text = re.sub(r"\{ref\}`[^`]*`|`[^`]*`|\$[^$]*\$", "", line)
        if re.search(r"\b[Ss]ections? \d+\b(?!\.\d)", text):
            plain.append(line.strip())
    assert not plain, plain


def _glossary_terms() -> list[str]:
    text = (ROOT / "book/appendix/glossary.md").read_text()
    body = re.search(r"```\{glossary\}\n(.*?)\n```", text, re.S).group(1)
    return [line.strip() for line in body.splitlines()
            if line.strip() and not line.startswith((" ", "\t", ":"))]


def test_every_glossary_term_is_linked_from_a_chapter():
    """The glossary is used: each term is the target of a {term} link somewhere in the book."""
    terms = _glossary_terms()
    assert len(terms) >= 100
    linked = set()
    for page in chapter_sources():
        if page.name == "glossary.md":
            continue
        for target in re.findall(r"\{term\}`([^`]+)`", page.read_text()):
            inner = re.search(r"<([^>]+)>", target)
            linked.add((inner.group(1) if inner else target).strip().lower())
    missing = [t for t in terms if t.lower() not in linked]
    assert not missing, f"glossary terms no chapter links with {{term}}: {missing}"
