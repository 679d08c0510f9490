# syncjob-operator: every target does its own set-up, so `make test` and
# `make run` work on a fresh machine.  Built binaries and downloaded jars are
# cached outside the repo (${SYNCJOB_CACHE:-~/.cache/syncjob-operator}).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STATE ?= /tmp/syncjob-env
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help setup venv debs k8s pipeline helm crds lint test unit run env-up env-down bench soak clean

help:
	@echo "make run      set up, start a local control plane if there is no cluster, run the operator with a demo SyncJob"
	@echo "make test     set up everything and run the whole suite (lint, unit, integration, e2e)"
	@echo "make bench    pause/resume benchmarks against the real pipeline"
	@echo "make soak     SOAK_CYCLES (100) pause/resume cycles of the real pipeline under writes; sink == source"
	@echo "make crds     regenerate crds/ (and the chart's copy) from the pydantic models"
	@echo "make lint     ruff, mypy --strict, import-linter"
	@echo "make env-up / env-down   the local control plane, by hand"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

debs:
	bash tests/env/install-debs.sh

k8s:
	bash tests/env/build-k8s.sh all

pipeline:
	bash tests/env/fetch-pipeline.sh >/dev/null

helm:
	bash tests/env/build-helm.sh >/dev/null

setup: venv debs k8s pipeline helm

crds: venv
	$(PY) -m syncjob_operator.api.crd > crds/syncjob.dev_syncjobs.yaml
	bash charts/sync-crds.sh

lint: venv
	$(VENV)/bin/ruff check operator tests
	$(VENV)/bin/ruff format --check operator tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

unit: venv
	$(VENV)/bin/pytest tests/unit -q

test: setup lint
	$(VENV)/bin/pytest tests -q --durations=15 --ignore=tests/bench

bench: setup
	$(VENV)/bin/pytest tests/bench -q -s

# make test runs the same soak with 5 cycles.
SOAK_CYCLES ?= 100
soak: setup
	SOAK_CYCLES=$(SOAK_CYCLES) $(VENV)/bin/pytest tests/e2e/test_soak.py -q -s

env-up: venv k8s
	$(PY) -m tests.env.controlplane up --state $(STATE)
	@echo "export KUBECONFIG=$(STATE)/kubeconfig"

env-down: venv
	$(PY) -m tests.env.controlplane down --state $(STATE)

run: venv debs k8s pipeline
	$(PY) -m tests.env.demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
