# One-command contract (docs/contracts.md#commands): `make test` and `make demo` work from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := .cache/uv/bin/uv
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.lock pyproject.toml Makefile | sha1sum | cut -c1-12)
export UV_CACHE_DIR ?= $(CURDIR)/.cache/uv-cache
export UV_LINK_MODE = copy
# Tests and the demo call our console scripts (flywheel, airflow) by name.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: venv test test-faults test-unit test-integration test-helix helix gateway lint fmt lock demo demo-stop compose-config env bench clean

$(UV):
	$(PYTHON) -m venv .cache/uv
	.cache/uv/bin/pip install -q --disable-pip-version-check uv==0.13.9

# Reinstall only when the lock (or the package metadata) changes.
$(STAMP): $(UV) requirements.txt requirements-dev.lock pyproject.toml
	@test -x $(BIN)/python || $(UV) venv -q -p $(PYTHON) $(VENV)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(UV) pip sync -q --compile-bytecode requirements-dev.lock
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(UV) pip install -q --no-deps -e .
	@rm -f $(VENV)/.installed-*; touch $@
	@echo "venv ready: $(VENV)"

venv: $(STAMP)

lock: $(UV)
	$(UV) pip compile requirements.in -p 3.11 -o requirements.txt --no-header -q
	$(UV) pip compile requirements-dev.in -p 3.11 -c requirements.txt -o requirements-dev.lock --no-header -q
	$(UV) pip compile requirements-gateway.in -p 3.11 -o requirements-gateway.lock --no-header -q

# The whole suite with the real-Helix tests (Helix installed once into .cache/helix). Out of it: the long
# fault suite (make test-faults).
test: venv helix gateway
	bash scripts/test-services.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	$(BIN)/python -m pytest -m 'not faults' $(PYTEST_ARGS)

# Every fault scenario under a real scheduler (each ends with a leak check), the long ones and those that also
# run in `make test`; prints the scenario → outcome → cleanup table (.cache/fault-table.md). See leaks.py.
test-faults: venv
	bash scripts/test-services.sh
	$(BIN)/python -m pytest -m "faults or leaks" tests/integration/airflow/test_faults.py \
		tests/integration/airflow/test_flywheel_dags.py tests/integration/airflow/test_decision.py \
		tests/integration/airflow/test_budget.py tests/integration/airflow/test_celery_engine.py $(PYTEST_ARGS)

test-unit: venv
	$(BIN)/python -m pytest tests/unit tests/dags $(PYTEST_ARGS)

test-integration: venv
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

# NeMo Helix (SDK, CLI and services) in its own Python 3.13 venv under .cache/helix; a second run is a no-op.
helix: $(UV)
	UV=$(UV) nice -n 10 bash scripts/helix-install.sh

# The LiteLLM proxy (docs/loop.md) in its own venv under .cache/gateway, from requirements-gateway.lock.
GATEWAY_STAMP := .cache/gateway/venv/.installed-$(shell cat requirements-gateway.lock | sha1sum | cut -c1-12)
$(GATEWAY_STAMP): $(UV) requirements-gateway.lock
	@test -x .cache/gateway/venv/bin/python || $(UV) venv -q -p $(PYTHON) .cache/gateway/venv
	VIRTUAL_ENV=$(CURDIR)/.cache/gateway/venv nice -n 10 $(UV) pip sync -q requirements-gateway.lock
	@rm -f .cache/gateway/venv/.installed-*; touch $@

gateway: $(GATEWAY_STAMP)

# Only the tests against the real Helix services (all but the DAG run are also part of `make test`).
test-helix: venv helix
	$(BIN)/python -m pytest -m helix tests/helix $(PYTEST_ARGS)

# ruff, the layer rules (import contracts in pyproject.toml, docs/architecture.md#layers) and the type checker.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# FLYWHEEL_PLATFORM=helix: the same demo on the real NeMo Helix services (installed by `make helix`).
demo: venv gateway $(if $(filter helix,$(FLYWHEEL_PLATFORM)),helix)
	$(BIN)/python scripts/demo.py up

demo-stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python scripts/demo.py down; else echo "nothing to stop"; fi

# The compose file has no secret defaults: it renders with an env file whose secrets scripts/gen-env.sh made.
compose-config: venv
	@mkdir -p .cache && rm -f .cache/compose-check.env && bash scripts/gen-env.sh .cache/compose-check.env >/dev/null
	bash scripts/docker-compose.sh -f docker-compose.yaml --env-file .cache/compose-check.env config -q && echo "docker compose config: ok"

# .env for docker compose: .env.example with fresh secrets (kept when already set)
env:
	bash scripts/gen-env.sh

# Every benchmark script in its quick mode (--quick), each printing its figures; a failed one is named at the end.
bench: venv
	@failed=""; for b in benchmarks/*.py; do echo "== $$b --quick"; $(BIN)/python $$b --quick || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "make bench: failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache .demo
