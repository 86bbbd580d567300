# Both main targets install themselves into .venv first, so a fresh checkout needs only python3 and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint screenshots bench clean compile

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

test: $(STAMP)
	command -v promtool >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } || echo "prometheus not installed: its tests will skip"
	$(BIN)/python -m pytest -q $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check pulse_tui tests bench
	$(BIN)/mypy

screenshots: $(STAMP)
	$(BIN)/python -m pulse_tui.tui.screenshots screenshots

bench: $(STAMP) compile
	for b in bench/[!_]*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
