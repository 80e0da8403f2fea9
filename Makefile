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

# Jupyter's execution cache hashes code cells only. A change in companion/
# (or in the dependencies) must re-execute the chapters, so the cache is
# dropped whenever that fingerprint changes.
_build/.companion-fingerprint: FORCE | $(STAMP)
	@mkdir -p _build
	@new=$$(cat pyproject.toml $$(find companion -name '*.py' | sort) | sha256sum | cut -c1-16); \
	old=$$(cat $@ 2>/dev/null || true); \
	if [ "$$new" != "$$old" ]; then \
		echo "companion/ changed ($$old -> $$new): clearing the execution cache"; \
		rm -rf _build/.jupyter_cache; echo $$new > $@; \
	fi
FORCE:

book: _build/.companion-fingerprint
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going
	@echo "The book is in _build/html: open file://$(CURDIR)/_build/html/index.html"

# Debian's Chromium and ChromeDriver for the browser test (needs root, as on CI).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
		else \
			echo "Chromium is not installed and this is not root: the browser test will be skipped."; \
		fi; \
	fi

test: $(STAMP) browser
	COMPANION_PROFILE=quick $(PY) -m pytest tests book --nbval-lax -n $(JOBS) --dist loadfile

lab: $(STAMP)
	$(VENV)/bin/jupyter lab book

# .ipynb copies of the chapters (no outputs), e.g. to upload to Colab.
notebooks: $(STAMP)
	@for f in $$(grep -rl --include='*.md' '^kernelspec:' book); do \
		mkdir -p _build/notebooks/$$(dirname $$f); \
		$(VENV)/bin/jupytext --quiet --to ipynb -o _build/notebooks/$${f%.md}.ipynb $$f; \
	done
	@echo "Notebooks written to _build/notebooks/"

benchmark: $(STAMP)
	$(PY) tests/benchmark_notebooks.py

clean-cache:
	rm -rf _build/.jupyter_cache _build/.companion-fingerprint

clean:
	rm -rf _build $(VENV)
