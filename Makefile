# Everything runs in a virtual environment that `make` creates (.venv).
#   make book   build the HTML book into _build/html
#   make test   run every test (unit, parity, structure, notebooks, build, browser)
#   make lab    open the chapters in JupyterLab
# See README.md.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The CPU build of PyTorch, installed before the rest so that pip does not pull
# a multi-GB CUDA build; override on a GPU machine: make TORCH="torch" ...
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed
JOBS   ?= 2

.PHONY: book test lab notebooks benchmark browser clean clean-cache

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[book,test]"
	touch $(STAMP)

# Jupyter's execution cache hashes code cells only; tools/build_book.py also
# empties it when companion/, pyproject.toml or the profile changed, and keeps
# the console readable (one progress line per chapter, no kernel start-up notices).
book: $(STAMP)
	$(PY) tools/build_book.py

# Debian's Chromium and ChromeDriver for the browser test (needs root, as on CI).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
		else \
			echo "Chromium is not installed and this is not root: the browser test will be skipped."; \
		fi; \
	fi

# Every chapter is executed once: nbval runs it (the executor of record) and
# stores the executed notebook in the build's cache (--nb-cache); the book is
# then built from that cache, and the build tests fail if it executed anything.
test: $(STAMP) browser
	COMPANION_PROFILE=quick $(PY) tools/build_book.py --reset-cache
	COMPANION_PROFILE=quick $(PY) -m pytest tests book --nbval-lax --nb-cache _build/.jupyter_cache \
		-n $(JOBS) --dist loadfile -m "not book_build"
	COMPANION_PROFILE=quick NB_EXPECT_CACHED=1 $(PY) -m pytest tests/test_book_build.py -m book_build

lab: $(STAMP)
	$(VENV)/bin/jupyter lab book

# .ipynb copies of the chapters (no outputs), e.g. to upload to Colab.
notebooks: $(STAMP)
	$(PY) tools/make_colab_notebooks.py --out _build/notebooks

# Times every chapter, one after another, and records the table in
# book/_benchmarks.csv (the chapters' run-time lines come from it).
# make benchmark PROFILE=full on a GPU; CHAPTERS="book/cnn/alexnet.md ..." for some.
PROFILE ?= quick
benchmark: $(STAMP)
	COMPANION_PROFILE=$(PROFILE) $(PY) tests/benchmark_notebooks.py $(CHAPTERS)

clean-cache:
	rm -rf _build/.jupyter_cache _build/.companion-fingerprint

clean:
	rm -rf _build $(VENV)

# The built HTML book as an archive, for a release (publish.yml attaches it):
# dist/neural-networks-executable-<version>-html.tar.gz, version from companion/__init__.py.
VERSION = $(shell sed -n 's/^__version__ = "\([^"]*\)".*/\1/p' companion/__init__.py)
DIST    = dist/neural-networks-executable-$(VERSION)-html.tar.gz
.PHONY: dist
dist:
	@test -n "$(VERSION)" || { echo "make dist: no __version__ in companion/__init__.py" >&2; exit 1; }
	@test -f _build/html/index.html || { echo "make dist: the book is not built (_build/html/index.html is missing): run make book first" >&2; exit 1; }
	@mkdir -p dist
	tar -czf $(DIST) -C _build --transform 's,^html,neural-networks-executable-$(VERSION)-html,' html
	@echo "The HTML book is in $(DIST)"
