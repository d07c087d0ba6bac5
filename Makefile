VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install system-deps demo test test-fast test-phoenix lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tokenwire demo

# System packages the tests run: nginx (in front of the gateway), chromium (the web UI's
# browser tests) and prometheus (promtool checks deploy/prometheus/alerts.yml; a real
# Prometheus scrapes a live gateway for the dashboard's queries). Idempotent: only missing
# ones are installed, in one apt-get call; needs apt-get (Debian/Ubuntu), root or sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@missing=""; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	{ [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; } || missing="$$missing prometheus"; \
	if [ -z "$$missing" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing for the integration and browser tests"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing >/dev/null \
			|| { $(SUDO) apt-get update >/dev/null \
				&& $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing >/dev/null; }; \
	else echo "no apt-get: install$$missing yourself, or their tests skip (and fail under CI=true)"; fi

test: $(STAMP) system-deps
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench
	$(VENV)/bin/lint-imports
	$(PY) -m mypy
	$(PY) -m pytest -q

# The inner loop: the unit tests only (no servers, Redis, PostgreSQL or browser; the split
# is made in tests/conftest.py), in about 20 seconds.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m unit

# Against a real Arize Phoenix (tests/phoenix, marker `phoenix`, left out of `make test`):
# Phoenix and its pins live in a venv of their own (about a minute to install from a warm
# package cache); the test serves it on 127.0.0.1 with telemetry and outside fetches off.
PHOENIX_VENV ?= .phoenix-venv
PHOENIX_STAMP := $(PHOENIX_VENV)/.installed

$(PHOENIX_STAMP):
	test -x $(PHOENIX_VENV)/bin/python || python3 -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/pip install --quiet 'arize-phoenix>=20,<21'
	touch $(PHOENIX_STAMP)

test-phoenix: $(STAMP) $(PHOENIX_STAMP)
	TOKENWIRE_TEST_PHOENIX=$(abspath $(PHOENIX_VENV))/bin/phoenix $(PY) -m pytest -q -m phoenix tests/phoenix

lint: $(STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(PY) -m mypy

# The side-by-side servers (LangServe) and the profiler; about 5 minutes on 2 cores.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench

# The real Vercel AI SDK for tests/protocols/test_ai_sdk.py (the tests also run this on
# first use; pinned by package-lock.json, fetched from the npm registry only).
node-deps: tests/protocols/node/node_modules/.package-lock.json

tests/protocols/node/node_modules/.package-lock.json: tests/protocols/node/package-lock.json
	cd tests/protocols/node && npm ci --no-audit --no-fund

clean:
	rm -rf $(VENV) $(PHOENIX_VENV) .pytest_cache .mypy_cache .ruff_cache
