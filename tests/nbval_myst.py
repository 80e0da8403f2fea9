"""nbval for the book's MyST Markdown notebooks, executing each chapter once.

nbval collects ``.ipynb`` files. The chapters are MyST ``.md`` notebooks, so
for every ``.md`` file whose front matter declares a kernel we hand nbval a
collector that reads the file with MyST-NB's own reader: the notebook nbval
executes is, cell for cell, the one the book build would execute.

With ``--nb-cache DIR`` the collector also records every message the kernel
sends, rebuilds the executed notebook from them exactly as ``nbclient`` (the
book build's executor) would, and stores it in the jupyter-cache at ``DIR``
once every cell of the chapter has passed. The book build (MyST-NB,
``execute_notebooks: cache``) then finds each chapter there and renders the
outputs nbval produced instead of running the kernel a second time. The cache
is keyed by the code cells' source, so a changed chapter misses the cache and
is executed again; ``make test`` empties the cache before nbval runs, so a
changed ``companion`` can never be served from it. A chapter with a failing or
skipped cell is not stored.

``make test`` runs ``pytest tests book --nbval-lax --nb-cache _build/.jupyter_cache``
(see the Makefile); the root ``conftest.py`` loads this plugin.
"""
from __future__ import annotations

import copy
import os
import sqlite3
import time
import types
from collections import defaultdict
from pathlib import Path

import pytest
from nbval import plugin as _nbval

ROOT = Path(__file__).resolve().parents[1]
MYST_EXTENSIONS = ["amsmath", "colon_fence", "dollarmath", "deflist", "substitution"]  # _config.yml


def is_notebook(path: Path) -> bool:
    """A MyST notebook is a ``.md`` file whose front matter names a kernel."""
    if path.suffix != ".md" or "_build" in path.parts:
        return False
    head = path.read_text(encoding="utf-8")[:1000]
    return head.startswith("---") and "kernelspec:" in head


def read_notebook(path: str | Path):
    """Read a MyST notebook as MyST-NB reads it for the book build."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    config = MdParserConfig(enable_extensions=set(MYST_EXTENSIONS))
    return read_myst_markdown_notebook(Path(path).read_text(encoding="utf-8"), config=config,
                                       add_source_map=True, path=str(path))


def pytest_addoption(parser):
    parser.getgroup("nbval").addoption(
        "--nb-cache", metavar="DIR", default=None,
        help="store each notebook that passes, with the outputs nbval produced, in the "
             "jupyter-cache at DIR (the book build then renders them without re-executing)")


def pytest_collect_file(file_path: Path, parent):
    opt = parent.config.option
    if (getattr(opt, "nbval", False) or getattr(opt, "nbval_lax", False)) and is_notebook(file_path):
        return MystNotebook.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if isinstance(item, _nbval.IPyNbCell) and report.when == "call":
        item.parent.outcomes[item.cell_num] = report.outcome


class MystNotebook(_nbval.IPyNbFile):
    """nbval's notebook collector for a MyST Markdown file (see the module docstring)."""

    def collect(self):
        self.outcomes: dict[int, str] = {}
        self.messages: dict[str | None, list] = defaultdict(list)
        self.started = time.perf_counter()
        # nbval reads the file with ``nbformat.read`` while collecting; swap in
        # MyST-NB's reader for that moment only.
        reader = types.SimpleNamespace(read=lambda path, as_version=4: read_notebook(path))
        original, _nbval.nbformat = _nbval.nbformat, reader
        try:
            yield from super().collect()
        finally:
            _nbval.nbformat = original

    def get_kernel_message(self, timeout=None, stream="iopub"):
        msg = super().get_kernel_message(timeout=timeout, stream=stream)
        if stream == "iopub":   # every output, status and widget message, by request
            self.messages[msg["parent_header"].get("msg_id")].append(msg)
        return msg

    def teardown(self):
        try:
            cache = self.config.option.nb_cache
            code_cells = [c for c in self.nb.cells if c.cell_type == "code"]
            passed = len(self.outcomes) == len(code_cells) and all(
                outcome == "passed" for outcome in self.outcomes.values())
            if cache and passed and not self.timed_out:
                store_executed(self.executed_notebook(), self.fspath, cache,
                               seconds=time.perf_counter() - self.started)
        finally:
            super().teardown()

    def executed_notebook(self):
        """The notebook with the outputs of this run, built as nbclient builds them."""
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionComplete

        nb = copy.deepcopy(self.nb)
        client = NotebookClient(nb, record_timing=False)
        client.reset_execution_trackers()
        # The kernel announces each request it runs with an ``execute_input``
        # message that carries the code: pair the requests with the cells in order.
        requests = [parent for parent, msgs in self.messages.items()
                    if any(m["msg_type"] == "execute_input" for m in msgs)]
        code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
        if len(requests) != len(code_cells):
            raise RuntimeError(f"{self.fspath}: {len(code_cells)} code cells but "
                               f"{len(requests)} executions were seen")
        for index, (cell, request) in enumerate(zip(code_cells, requests)):
            executed = next(m for m in self.messages[request] if m["msg_type"] == "execute_input")
            if executed["content"]["code"] != cell.source:
                raise RuntimeError(f"{self.fspath}: execution {index} ran other code than cell {index}")
            cell.outputs, cell.execution_count = [], None
            client.clear_before_next_output = False   # as nbclient does before each cell
            for msg in self.messages[request]:
                try:
                    client.process_message(msg, cell, index)
                except CellExecutionComplete:
                    break
            cell.execution_count = index + 1   # nbval runs cells without a history count
        client.set_widgets_metadata()
        # nbclient records the kernel's language_info (MyST-NB picks the code
        # lexer from it); the kernel is ipykernel in this same environment.
        from ipykernel.ipkernel import IPythonKernel

        nb.metadata["language_info"] = dict(IPythonKernel.language_info)
        return nb


def store_executed(nb, path, cache_dir, seconds: float, attempts: int = 20):
    """Put an executed notebook into the jupyter-cache at ``cache_dir``.

    Two nbval workers may write at the same moment; SQLite then reports a
    locked database, so the write is retried.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    data = {"execution_seconds": seconds, "executed_by": "nbval"}
    for attempt in range(attempts):
        try:
            cache = get_cache(os.fspath(cache_dir))
            return cache.cache_notebook_bundle(CacheBundleIn(nb, str(path), data=data),
                                               check_validity=False, overwrite=True)
        except Exception as exc:  # sqlalchemy wraps sqlite3's "database is locked"
            if "locked" not in str(exc) and not isinstance(exc, sqlite3.OperationalError):
                raise
            time.sleep(0.5 + 0.25 * attempt)
    raise RuntimeError(f"could not write {path} to the notebook cache at {cache_dir}")


class NotebookProgress:
    """One line per finished chapter: ``[ 7/27] book/cnn/alexnet.md: 31 cells passed (48 s)``."""

    def __init__(self, config):
        self.config = config
        self.cells: dict[str, int] = {}
        self.done: dict[str, int] = defaultdict(int)
        self.failed: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.finished = 0

    def count(self, nodeids):
        if not self.cells:
            for nodeid in nodeids:
                if "::Cell " in nodeid:
                    path = nodeid.split("::")[0]
                    self.cells[path] = self.cells.get(path, 0) + 1

    def pytest_collection_modifyitems(self, items):
        self.count(item.nodeid for item in items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        self.count(ids)

    def pytest_runtest_logreport(self, report):
        path = report.nodeid.split("::")[0]
        if path not in self.cells:
            return
        self.seconds[path] += report.duration
        self.failed[path] += report.failed
        if report.when != "teardown":
            return
        self.done[path] += 1
        if self.done[path] == self.cells[path]:
            self.finished += 1
            status = f"{self.failed[path]} failed" if self.failed[path] else "passed"
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"[{self.finished:2d}/{len(self.cells)}] {path}: "
                                    f"{self.cells[path]} cells {status} ({self.seconds[path]:.0f} s)")


def pytest_configure(config):
    opt = config.option
    worker = hasattr(config, "workerinput")   # xdist workers report to the controller
    if (getattr(opt, "nbval", False) or getattr(opt, "nbval_lax", False)) and not worker:
        config.pluginmanager.register(NotebookProgress(config), "notebook-progress")
