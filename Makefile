# The two commands of the README: `make run` and `make test`. Everything else is a step they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# opentelemetry-exporter-otlp-json-http pins older opentelemetry packages than the other
# exporters, so the JSON exporter used by the tests lives in a virtualenv of its own.
JSON_VENV := .venv-json
# pydantic-ai 2.x sends instrumentation versions 2 to 6 only; version 1 needs pydantic-ai 1.x, which
# pins older genai-prices (price data without the newest models), so it has a virtualenv of its own.
PAI1_VENV := .venv-pai1
# Prefect 3.9 pins its own pydantic, fastapi, sqlalchemy and opentelemetry versions; its workflow
# workers (tests/e2e/workflows/prefect_worker.py) run in a virtualenv of their own.
PREFECT_VENV := .venv-prefect

.PHONY: run demo test install test-deps chromium bench clean

run: install
	$(BIN)/spyglass serve

install: $(VENV)/.installed

# The example agents and durable workflows, run against the server `make run` started (the examples'
# packages are the `examples` extra, never the server's).
demo: $(VENV)/.examples-installed
	$(BIN)/spyglass demo

$(VENV)/.examples-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install -q -e '.[examples]'
	touch $@

$(VENV)/.installed: pyproject.toml setup.py collector/fastspans.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

test-deps: $(VENV)/.test-installed $(JSON_VENV)/.installed $(PAI1_VENV)/.installed $(PREFECT_VENV)/.installed chromium

# Browser tests drive Debian's Chromium through Playwright; Playwright never downloads a browser.
chromium:
	@test -x /usr/bin/chromium || { \
		echo "Installing Debian's chromium with apt-get (this step needs root)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

$(VENV)/.test-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

$(JSON_VENV)/.installed:
	test -x $(JSON_VENV)/bin/python || $(PYTHON) -m venv $(JSON_VENV)
	$(JSON_VENV)/bin/python -m pip install -q --upgrade pip
	$(JSON_VENV)/bin/python -m pip install -q opentelemetry-sdk opentelemetry-exporter-otlp-json-http
	touch $@

$(PAI1_VENV)/.installed:
	test -x $(PAI1_VENV)/bin/python || $(PYTHON) -m venv $(PAI1_VENV)
	$(PAI1_VENV)/bin/python -m pip install -q --upgrade pip
	$(PAI1_VENV)/bin/python -m pip install -q 'pydantic-ai-slim==1.107.*' 'genai-prices==0.0.73' opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
	touch $@

$(PREFECT_VENV)/.installed:
	test -x $(PREFECT_VENV)/bin/python || $(PYTHON) -m venv $(PREFECT_VENV)
	$(PREFECT_VENV)/bin/python -m pip install -q --upgrade pip
	$(PREFECT_VENV)/bin/python -m pip install -q 'prefect==3.9.*' 'pydantic-ai-slim[prefect]' opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
	touch $@

test: test-deps
	$(BIN)/python -m pytest

bench: install test-deps
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) $(JSON_VENV) spyglass-data
