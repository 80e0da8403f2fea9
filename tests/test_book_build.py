"""The whole book builds with zero warnings, and its framework tabs work in a real browser.

The tests share one build (a module-scoped fixture) of the book in
``_build/html``. ``make test`` runs this file after nbval has executed every
chapter into the build's cache (``--nb-cache``, see ``tests/nbval_myst.py``)
and sets ``NB_EXPECT_CACHED=1``: the build must then render nbval's outputs and
execute nothing, so each chapter runs once per ``make test``.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


pytestmark = pytest.mark.book_build
EXPECT_CACHED = os.environ.get("NB_EXPECT_CACHED") == "1"


@pytest.fixture(scope="module")
def build():
    cmd = [sys.executable, str(ROOT / "tools" / "build_book.py")]
    cmd += ["--expect-cached"] if EXPECT_CACHED else []
    env = dict(os.environ, COMPANION_PROFILE="quick")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=env, cwd=ROOT)
    return result, ROOT / "_build" / "html"


def test_book_builds_with_zero_warnings(build):
    result, html = build
    log = result.stdout + result.stderr
    assert result.returncode in (0, 3), log[-5000:]   # 3: built, but executed chapters (below)
    sphinx_warnings = [line for line in log.splitlines() if "WARNING:" in line]
    assert not sphinx_warnings, "\n".join(sphinx_warnings)
    for page in ("index.html", "book/intro.html", "book/feedforward/mlp.html",
                 "_static/framework-tabs.js", "_static/mathjax/tex-mml-chtml.js"):
        assert (html / page).exists(), page


@pytest.mark.skipif(not EXPECT_CACHED, reason="only after nbval filled the cache "
                    "(make test sets NB_EXPECT_CACHED=1)")
def test_every_chapter_executed_once_by_nbval(build):
    """The build took every chapter from nbval's executions and ran no kernel."""
    from tests.book_files import toc_files
    from tests.nbval_myst import is_notebook

    result, _ = build
    log = result.stdout + result.stderr
    chapters = sorted(f for f in toc_files() if is_notebook(ROOT / f"{f}.md"))
    from_cache = sorted(re.findall(r"^\[ *\d+/\d+\] (\S+): from the cache$", log, re.M))
    executed = re.findall(r"^\[ *\d+/\d+\] (\S+): executing$", log, re.M)
    assert not executed, f"the build executed {executed} again"
    assert from_cache == chapters
    assert result.returncode == 0


def test_every_chapter_shows_its_measured_run_time(build):
    """The {runtime} directive rendered the time recorded by make benchmark."""
    from tests.book_files import toc_files
    from tests.nbval_myst import is_notebook

    _, html = build
    chapters = [f for f in toc_files() if is_notebook(ROOT / f"{f}.md") and f != "book/intro"]
    for chapter in chapters:
        page = (html / f"{chapter}.html").read_text()
        shown = re.search(r'class="[^"]*chapter-runtime[^"]*">(.*?)</div>', page, re.S)
        assert shown, chapter
        text = re.sub(r"<[^>]+>", "", shown.group(1))
        assert re.search(r"Run time\. Quick profile: \d+ s on a \d+-core CPU", text), text


def test_built_chapter_has_outputs_of_both_frameworks(build):
    _, html = build
    page = (html / "book" / "feedforward" / "mlp.html").read_text()
    assert page.count("tag_pytorch") >= 5 and page.count("tag_keras") >= 5
    assert "PyTorch training accuracy" in page and "Keras training accuracy" in page
    assert "test accuracy: PyTorch" in page
    assert "Traceback" not in page


@pytest.mark.parametrize("chapter", ["index", "simple_rnn", "lstm", "gru"])
def test_recurrent_chapters_are_built_with_both_frameworks(build, chapter):
    _, html = build
    page = (html / "book" / "rnn" / f"{chapter}.html").read_text()
    assert page.count("tag_pytorch") >= 3 and page.count("tag_keras") >= 3
    assert "Traceback" not in page
    assert "chapter ran in" in page          # the last cell ran: every check before it passed


# ---------------------------------------------------------------- browser

@pytest.fixture(scope="module")
def site(build):
    _, html = build
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if os.environ.get("CI"):
            pytest.fail("Chromium is required on CI: apt-get install chromium chromium-driver")
        pytest.skip("Debian's chromium and chromium-driver are not installed (make browser)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,1600"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def _wait(driver, condition, what, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _shown(driver, framework):
    from selenium.webdriver.common.by import By

    panels = driver.find_elements(By.CSS_SELECTOR, ".fw-panel")
    assert panels, "no framework tabs on the page"
    shown = {p.get_attribute("data-framework") for p in panels if p.is_displayed()}
    return shown == {framework}


def test_framework_tabs_switch_and_persist(browser, site):
    from selenium.webdriver.common.by import By

    browser.get(f"{site}/book/feedforward/mlp.html")
    _wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, ".fw-tabset"), "tab sets")
    browser.execute_script("window.localStorage.clear()")
    browser.refresh()
    _wait(browser, lambda: _shown(browser, "pytorch"), "PyTorch as the default")
    tabsets = browser.find_elements(By.CSS_SELECTOR, ".fw-tabset")
    assert len(tabsets) >= 5
    body = browser.find_element(By.TAG_NAME, "body")
    assert "ct.MLP(" in body.text and "ck.MLP(" not in body.text

    # one click on any Keras tab switches every pair on the page
    keras_tab = tabsets[2].find_element(By.CSS_SELECTOR, ".fw-tab[data-framework=keras]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", keras_tab)
    keras_tab.click()
    _wait(browser, lambda: _shown(browser, "keras"), "every set to switch to Keras")
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "ck.MLP(" in text and "Keras training accuracy" in text   # code and its output
    assert "PyTorch training accuracy" not in text

    # the choice survives a reload ...
    browser.refresh()
    _wait(browser, lambda: _shown(browser, "keras"), "Keras after a reload")
    # ... and another page
    browser.get(f"{site}/book/intro.html")
    _wait(browser, lambda: _shown(browser, "keras"), "Keras on the welcome page")
    assert "Keras model with 67 parameters" in browser.find_element(By.TAG_NAME, "body").text

    # and switching back works the same way
    browser.find_element(By.CSS_SELECTOR, ".fw-tab[data-framework=pytorch]").click()
    _wait(browser, lambda: _shown(browser, "pytorch"), "PyTorch on the welcome page")
    browser.get(f"{site}/book/feedforward/mlp.html")
    _wait(browser, lambda: _shown(browser, "pytorch"), "PyTorch back on the MLP page")


def test_maths_renders_offline(browser, site):
    from selenium.webdriver.common.by import By

    browser.get(f"{site}/book/feedforward/mlp.html")
    _wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "mjx-container")) > 20,
          "MathJax to typeset the page")
    assert "\\mathbf" not in browser.find_element(By.TAG_NAME, "body").text
