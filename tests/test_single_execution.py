"""``make test`` executes each chapter once, and a cache can never show stale outputs.

nbval stores each executed chapter in the build's jupyter-cache
(``tests/nbval_myst.py``); the book build renders it from there. These tests
run the real pieces on a one-chapter book in a temporary folder: nbval with
``--nb-cache``, then ``jupyter-book build``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import build_book  # noqa: E402

CHAPTER = """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

```{{code-cell}} ipython3
print("the answer is", {value})
```
"""


@pytest.fixture
def book(tmp_path):
    (tmp_path / "_config.yml").write_text(
        "title: t\nexecute:\n  execute_notebooks: cache\nsphinx:\n  config:\n"
        "    nb_execution_raise_on_error: true\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: chapter\n")
    return tmp_path


def write_chapter(book: Path, value: int) -> None:
    (book / "chapter.md").write_text(CHAPTER.format(value=value))


def run_nbval(book: Path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "pytest", "-p", "tests.nbval_myst", "-p", "no:cacheprovider",
           "-p", "no:xdist", "--nbval-lax", "--nb-cache", str(book / "_build" / ".jupyter_cache"),
           "chapter.md", "-q"]
    result = subprocess.run(cmd, cwd=book, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def run_build(book: Path) -> tuple[str, str]:
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", str(book)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr, (book / "_build/html/chapter.html").read_text()


@pytest.mark.slow
def test_the_build_renders_nbval_outputs_and_reexecutes_a_changed_chapter(book):
    write_chapter(book, 1)
    run_nbval(book)
    log, html = run_build(book)
    assert "Using cached notebook" in log and "Executing notebook" not in log
    assert "the answer is 1" in html

    # A changed chapter misses the cache: the build executes it, never shows the old output.
    write_chapter(book, 2)
    log, html = run_build(book)
    assert "Executing notebook" in log
    assert "the answer is 2" in html and "the answer is 1" not in html

    # After nbval has run the changed chapter, the build takes nbval's output again.
    write_chapter(book, 3)
    run_nbval(book)
    log, html = run_build(book)
    assert "Using cached notebook" in log and "Executing notebook" not in log
    assert "the answer is 3" in html


def test_a_failing_chapter_is_not_cached(book):
    (book / "chapter.md").write_text(CHAPTER.format(value="1 / 0"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cache = book / "_build" / ".jupyter_cache"
    cmd = [sys.executable, "-m", "pytest", "-p", "tests.nbval_myst", "-p", "no:cacheprovider",
           "-p", "no:xdist", "--nbval-lax", "--nb-cache", str(cache), "chapter.md", "-q"]
    result = subprocess.run(cmd, cwd=book, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "ZeroDivisionError" in result.stdout
    from jupyter_cache import get_cache

    assert not cache.exists() or get_cache(str(cache)).list_cache_records() == []


def test_the_fingerprint_follows_the_library_and_the_profile(tmp_path):
    (tmp_path / "companion" / "torch").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    module = tmp_path / "companion" / "torch" / "cnn.py"
    module.write_text("WIDTH = 8\n")
    before = build_book.fingerprint("quick", tmp_path)
    assert build_book.fingerprint("quick", tmp_path) == before
    assert build_book.fingerprint("full", tmp_path) != before
    module.write_text("WIDTH = 16\n")
    assert build_book.fingerprint("quick", tmp_path) != before


def test_the_console_filter_drops_only_kernel_start_up_notices():
    noise = [
        "[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication",
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796522638.732056    5275 port.cc:153] oneDNN custom operations are on.",
        "I0000 00:00:1796522638.806254    5275 cpu_feature_guard.cc:227] This TensorFlow binary",
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow "
        "with the appropriate compiler flags.",
    ]
    kept = [
        "/book/cnn/lenet5.md:12: WARNING: undefined label: 'x' [ref.ref]",
        "W0000 00:00:1796522638.806254    5275 op_level_cost_estimator.cc:699] Error in PredictCost",
        "[IPKernelApp] ERROR | Exception in message handler",
        "build succeeded.",
    ]
    assert all(build_book.is_noise(line) for line in noise)
    assert not any(build_book.is_noise(line) for line in kept)
