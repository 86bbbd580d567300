# Both main targets install themselves into .venv first, so a fresh checkout needs only python3 and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint screenshots bench clean compile system-parts

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
test: $(STAMP) system-parts
	$(BIN)/python -m pytest -q -rs $(ARGS)

# Debian's chromium (tests/test_chromium_real.py) and prometheus (promtool and a real server for the exporter
# tests), installed when missing and we are root with apt. Never fails the build: without them those tests skip
# and say why.
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends
system-parts:
	@for part in chromium:chromium prometheus:promtool; do \
	  pkg=$${part%%:*}; cmd=$${part##*:}; \
	  command -v $$cmd >/dev/null 2>&1 && continue; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    $(APT_INSTALL) $$pkg >/dev/null 2>&1 \
	      || { apt-get update >/dev/null 2>&1 && $(APT_INSTALL) $$pkg >/dev/null 2>&1; } \
	      || echo "$$pkg: apt-get install failed; the tests that need it will skip"; \
	  else echo "$$pkg: not installed and not root with apt; the tests that need it will skip"; fi; \
	done

lint: $(STAMP)
	$(BIN)/ruff check pulse_tui tests bench
	$(BIN)/mypy

screenshots: $(STAMP)
	$(BIN)/python -m pulse_tui.tui.screenshots screenshots

bench: $(STAMP) compile
	for b in bench/[!_]*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
