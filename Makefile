# The README's two commands live here: `make lab` (JupyterLab on the quickstart, embedded model,
# no key) and `make test` (the whole suite). Both build .venv from scratch when it is missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.rlm-installed

.PHONY: lab test test-fast install browser bench clean

# llama-cpp-python compiles from source. pip's own build targets the building CPU (-march=native):
# on a CPU that advertises AMX but whose kernel does not grant it, that build crashes (SIGSEGV in
# ggml's AMX matmul), and a cached wheel moved to an older CPU dies of an illegal instruction. So it
# is built once for portable x86-64 (AVX2/FMA, chosen at run time by ggml's dispatch where it can)
# into a wheelhouse keyed by its flags, outside pip's cache (which keys wheels by version alone and
# would hand back a native build), and installed from there. ~10 min on 2 cores, once per machine.
# `make test` hands its path on as $RLM_WHEELS (the Binder test and a nested `make lab` use it).
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
LLAMA_SPEC       := llama-cpp-python>=0.3.7
WHEELS           ?= $(or $(RLM_WHEELS),$(HOME)/.cache/rlm/wheels/$(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | cksum | cut -d' ' -f1))

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	mkdir -p $(WHEELS)
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(PY) -m pip wheel --no-deps --no-cache-dir --prefer-binary \
	  --find-links $(WHEELS) -w $(WHEELS) '$(LLAMA_SPEC)'
	$(PY) -m pip install --find-links $(WHEELS) --only-binary llama-cpp-python -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "browser tests need Debian's chromium: sudo apt-get install chromium"; fi; }

# As root (containers, CI machines) Jupyter needs --allow-root; with no display it cannot open a
# browser, so it only prints the URL to open. LAB_ARGS adds options (e.g. LAB_ARGS=--port=8899).
LAB_ARGS ?=
lab: install
	$(VENV)/bin/jupyter lab notebooks/quickstart.ipynb \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root) \
	  $$([ "$$(uname -s)" = Linux ] && [ -z "$${DISPLAY}$${WAYLAND_DISPLAY}" ] && echo --no-browser) \
	  $(LAB_ARGS)

# The lint (ruff: pyflakes, pycodestyle at 110 columns, import order, bugbear, pyupgrade; the
# rules are in pyproject.toml) and the type checker (mypy, both packages; [tool.mypy]) run first:
# a red lint or a type error fails the suite as a red test does.
test: install browser
	$(PY) -m ruff check .
	$(PY) -m mypy
	RLM_WHEELS=$(WHEELS) $(PY) -m pytest -p no:cacheprovider -ra $(PYTEST_ARGS)

test-fast: install
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -p no:cacheprovider -ra -m "not model and not browser and not binder" $(PYTEST_ARGS)

bench: install
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
