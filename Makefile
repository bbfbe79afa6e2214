# stream-health: every target installs what it needs first. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
UV_VERSION := 0.13.8
STACK := deploy/local
PYTEST_ARGS ?=

.PHONY: help install stack up down status migrate topics demo test test-unit test-faults lint typecheck fmt bench clean \
	deploy-tools validate-deploy docs

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): | $(BIN)/python
	$(BIN)/pip install -q "uv==$(UV_VERSION)"

# The project installs shared/native, the worker's compiled paths: uv builds it with maturin
# with the cargo `rust.sh` finds (or installs); any change to the crate rebuilds it.
NATIVE := $(wildcard shared/native/src/*.rs) shared/native/Cargo.toml shared/native/Cargo.lock \
	shared/native/pyproject.toml shared/native/stream_health_core.pyi

$(VENV)/.synced: pyproject.toml uv.lock $(NATIVE) | $(UV)
	@bash $(STACK)/rust.sh run $(UV) sync --frozen --inexact -q
	@touch $@

install: $(VENV)/.synced ## venv and pinned packages (Rust if missing), Kafka jars, PostgreSQL packages
	@bash $(STACK)/kafka.sh install
	@bash $(STACK)/postgres.sh install

stack: install ## start Kafka and PostgreSQL, apply migrations, create topics
	@bash $(STACK)/postgres.sh start
	@bash $(STACK)/kafka.sh start
	@$(BIN)/stream-health migrate >/dev/null
	@$(BIN)/stream-health topics

up: stack ## stack, then (re)start the worker (:8081) and api (:8080) and wait until ready
	@bash $(STACK)/services.sh start

down: ## stop everything `make up` started
	@bash $(STACK)/services.sh stop
	@bash $(STACK)/kafka.sh stop
	@bash $(STACK)/postgres.sh stop

status: ## what is running
	@bash $(STACK)/services.sh status; bash $(STACK)/kafka.sh status; bash $(STACK)/postgres.sh status

migrate: install ## apply database migrations (PostgreSQL must be up)
	$(BIN)/stream-health migrate

topics: install ## create missing Kafka topics (Kafka must be up)
	$(BIN)/stream-health topics

demo: stack ## run the product on the local stack with a simulated fleet, show the list
	@bash $(STACK)/demo.sh

CARGO := bash $(STACK)/rust.sh run cargo
CRATE := --manifest-path shared/native/Cargo.toml

lint: $(VENV)/.synced ## ruff check and format check; cargo fmt and clippy on shared/native
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@$(CARGO) fmt $(CRATE) --check
	@$(CARGO) clippy $(CRATE) --release --locked -q -- -D warnings

typecheck: $(VENV)/.synced ## mypy --strict
	$(BIN)/mypy shared services tests bench deploy

fmt: $(VENV)/.synced ## apply ruff fixes and formatting, and cargo fmt
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	@$(CARGO) fmt $(CRATE)

test-unit: $(VENV)/.synced ## unit tests only (no stack)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test: stack lint typecheck deploy-tools ## lint, typecheck and the whole suite on the real stack
	@rc=0; $(BIN)/pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no test matched the selection ($(PYTEST_ARGS))"; rc=0; fi; \
	exit $$rc

test-faults: stack ## the fault suite alone (its own broker and database; STREAM_HEALTH_FAULT_EVENTS=200000)
	$(BIN)/pytest tests/faults $(PYTEST_ARGS)

deploy-tools: $(VENV)/.synced ## pinned validators for deploy/ into .stack/tools (once; first build minutes)
	@bash deploy/validate/tools.sh

validate-deploy: deploy-tools ## check deploy/ (k8s, KEDA, compose, Dockerfile, alerts, dashboard); no stack
	$(BIN)/pytest -m deploy tests/deploy $(PYTEST_ARGS)

docs: $(VENV)/.synced ## regenerate docs/openapi.json and docs/asyncapi.json from the apps
	$(BIN)/stream-health docs --out docs

bench: stack ## worker-throughput benchmark into bench/RESULTS.md (flags: BENCH_ARGS="--help")
	$(BIN)/python -m bench.worker_throughput $(BENCH_ARGS)

.PHONY: bench-list
bench-list: stack ## list-endpoint benchmark into bench/RESULTS.md (flags: BENCH_ARGS="--help")
	$(BIN)/python -m bench.list_endpoint $(BENCH_ARGS)

clean: down ## remove the venv and the local stack's data
	rm -rf $(VENV) .stack
