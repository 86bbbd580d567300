# Both main targets install themselves into .venv first, so a fresh checkout needs only python3 and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint screenshots bench clean compile chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

# An editable install is never byte-compiled (pip compiles only what it copies), and PYTHONDONTWRITEBYTECODE
# stops Python from caching it: compile it here, or every start pays for compiling pulse_tui (~20 ms).
compile: $(STAMP)
	$(BIN)/python -m compileall -q pulse_tui

demo: $(STAMP) compile
	$(BIN)/pulse-tui demo

# -rs: a skipped test prints why (tests/test_chromium_real.py without a chromium, for one).
test: $(STAMP) chromium
	$(BIN)/python -m pytest -q -rs $(ARGS)

# Debian's chromium for tests/test_chromium_real.py: installed when missing and we are root with apt. Never fails
# the build: without it those tests skip and say why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
	      || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; } \
	      || echo "chromium: apt-get install failed; tests/test_chromium_real.py will skip"; \
	  else echo "chromium: not installed and not root with apt; tests/test_chromium_real.py will skip"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check pulse_tui tests bench
	$(BIN)/mypy

screenshots: $(STAMP)
	$(BIN)/python -m pulse_tui.tui.screenshots screenshots

bench: $(STAMP) compile
	for b in bench/[!_]*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
