"""Reading the book's sources for the structure tests: toc, chapters, headings, cells."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

LENSES = [
    "1. What is it?",
    "2. Why use it?",
    "3. Intuition",
    "4. Mathematical foundation",
    "5. Training logic",
    "6. Assumptions and limitations",
    "7. Key hyperparameters",
    "8. Evaluation focus",
    "9. When to use / When not to use",
    "10. References",
]


def toc_files() -> list[str]:
    """Every file named in _toc.yml, without extension, relative to the root."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    return found


def chapter_sources() -> list[Path]:
    """Every page source under book/ (not the static files or extensions)."""
    return sorted(p for p in BOOK.rglob("*.md")
                  if not any(part.startswith("_") for part in p.relative_to(BOOK).parts))


def prose_lines(text: str) -> list[str]:
    """The lines of a MyST file outside code fences and code cells."""
    lines, fence = [], None
    for line in text.splitlines():
        stripped = line.lstrip()
        match = re.match(r"(`{3,}|~{3,})", stripped)
        if match:
            if fence is None:
                fence = match.group(1)
                continue
            if stripped.startswith(fence) and stripped.strip() == stripped[:len(fence)]:
                fence = None
                continue
        if fence is None:
            lines.append(line)
    return lines


def h2_headings(text: str) -> list[str]:
    return [line[3:].strip() for line in prose_lines(text) if line.startswith("## ")]


def section(text: str, heading: str) -> str:
    """The prose of one H2 section (up to the next H2)."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            inside = line[3:].strip() == heading
            continue
        if inside:
            out.append(line)
    return "\n".join(out)


def tagged_cells(text: str) -> dict[str, int]:
    """How many code cells carry each tag."""
    counts: dict[str, int] = {}
    for match in re.finditer(r"```\{code-cell\}[^\n]*\n((?::[^\n]*\n)*)", text):
        tags = re.search(r":tags:\s*\[([^\]]*)\]", match.group(1))
        for tag in (t.strip().strip("'\"") for t in tags.group(1).split(",")) if tags else []:
            counts[tag] = counts.get(tag, 0) + 1
    return counts


def citation_keys(text: str) -> set[str]:
    keys = set()
    for group in re.findall(r"\{cite(?::[a-z]+)?\}`([^`]+)`", text):
        keys.update(k.strip() for k in group.split(","))
    return keys


def bib_keys() -> set[str]:
    return set(re.findall(r"@\w+\{([^,\s]+),", (BOOK / "references.bib").read_text()))


_LATEX = re.compile(r"\\(?:eta|mathbf|mathcal|mathbb|sum|frac|alpha|beta|theta|tilde|hat|sigma|odot)\b"
                    r"|\b[a-zA-Z]_\{[^}]*\}")


def latex_outside_math(text: str) -> list[str]:
    """Snippets of LaTeX left bare in prose (outside $...$, $$...$$, code and directives)."""
    prose = "\n".join(prose_lines(text))
    prose = re.sub(r"\$\$.*?\$\$", " ", prose, flags=re.S)
    prose = re.sub(r"\$[^$\n]+\$", " ", prose)
    prose = re.sub(r"`[^`\n]*`", " ", prose)
    return [m.group(0) for m in _LATEX.finditer(prose)]
