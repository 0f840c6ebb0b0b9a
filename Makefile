# support_assets: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/project.txt
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | sha1sum | cut -c1-12)
# pip prints this machine-specific warning for every configured local package folder it lacks.
QUIET_PIP := { grep -v '^WARNING: Location' || true; }
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: help install check-lock lock system-deps test-deps demo materialize sandbox test lint format \
	clean bench

help:
	@echo "make demo         virtual environment, sandbox, first materialization, KPI history, live UI"
	@echo "make test         everything the tests need, then the whole suite"
	@echo "make materialize  the whole asset graph once, headless, against the sandbox"
	@echo "make sandbox      only the simulators, in the foreground"
	@echo "make lint/format  ruff"
	@echo "make bench        benchmarks against dlt and a plain loop (BENCH_ARGS=--quick: smoke run)"
	@echo "make lock         regenerate requirements/*.txt from pyproject.toml and requirements/*.in"

# The venv is installed from the lock only: every package at its locked version and hash, then the
# project itself, editable, built with the locked setuptools (no build isolation, no resolver).
# Debian's python3.11 needs the venv module from its own package.
$(STAMP):
	@$(PYTHON) tools/check_lock.py
	@$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv python3-pip >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r $(LOCK) 2>&1 | $(QUIET_PIP)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e . 2>&1 | $(QUIET_PIP)
	$(BIN)/pip check
	$(BIN)/python -c "import support_assets, dagster, duckdb, playwright"
	rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

# pyproject.toml and requirements/*.in against their locks: fails at once, naming each package.
check-lock:
	@$(PYTHON) tools/check_lock.py

# Regenerate every lock (UPGRADE=1, or UPGRADE="pkg ...", moves versions forward); the next
# install then follows the new lock.
lock:
	PYTHON=$(PYTHON) tools/lock.sh
	@$(PYTHON) tools/check_lock.py

# What the tests need beyond Python packages, installed only when missing.
system-deps:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@command -v node >/dev/null || command -v nodejs >/dev/null || { \
	  echo "installing Debian's nodejs for the Apps Script test"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs >/dev/null; }

# The local BigQuery emulator (its own Python 3.13 venv under .bigquery/; idempotent), and
# Debian's ActiveMQ and PostgreSQL (idempotent; the tests start and stop their own brokers and
# database servers on free ports).
test-deps: install system-deps
	tools/bigquery_emulator.sh install
	tools/postgres.sh install
	tools/activemq.sh install

# With STOMP_HOST unset, the demo's ActiveMQ (STOMP on 127.0.0.1:61613, data in .activemq/demo):
# installed and started when possible, fed some service events, stopped when the demo ends.
DEMO_AMQ := AMQ_BASE=$(CURDIR)/.activemq/demo AMQ_STOMP_PORT=$${STOMP_PORT:-61613}
demo: install
	@if [ -n "$$STOMP_HOST" ]; then exec $(BIN)/support-assets demo; fi; \
	trap '$(DEMO_AMQ) tools/activemq.sh stop >/dev/null' EXIT; \
	if tools/activemq.sh install && $(DEMO_AMQ) tools/activemq.sh start; then \
	  $(BIN)/support-assets produce-events --count 200 --invalid-share 0.1 || true; \
	else \
	  echo "make demo: no ActiveMQ broker here, so the service_events assets will read nothing."; \
	  echo "  Install it with 'sudo tools/activemq.sh install' and run make demo again,"; \
	  echo "  or point STOMP_HOST and STOMP_PORT at a broker."; \
	fi; \
	$(BIN)/support-assets demo

sandbox: install
	$(BIN)/support-assets sandbox

materialize: install
	$(BIN)/support-assets materialize --with-sandbox

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: check-lock test-deps lint
	$(BIN)/python -m pytest -p no:cacheprovider -q -rfEs

# Not part of `make test`: minutes to an hour (see BENCHMARKS.md); dlt gets its own venv under bench/.
bench: install
	-tools/activemq.sh install
	-tools/bigquery_emulator.sh install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .dagster_home data test-artifacts .pytest_cache .ruff_cache
