# heartbeat — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Real data for development: ../shared/data where it exists; override with `make run DATA=path`.
DATA   ?= $(firstword $(wildcard $(abspath ../shared/data)))
export HEARTBEAT_DATA ?= $(DATA)

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(STAMP) ## create .venv and install heartbeat with its dev extras (a second call returns at once)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

test: $(STAMP) ## run every test, slow ones included (what CI runs)
	$(PY) -m pytest

test-fast: $(STAMP) ## run the tests not marked slow
	$(PY) -m pytest -m "not slow"

run: $(STAMP) ## score every model in models/ on the valid set -> results/output.csv (and print it)
	$(VENV)/bin/heartbeat score --on valid

run-test: $(STAMP) ## the final evaluation: every model on the test split -> results/output_test.csv
	$(VENV)/bin/heartbeat score --on test

clean: ## remove caches and the virtualenv
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info

.PHONY: help install test test-fast run run-test clean

FAMILIES      ?= cnn1d cnn2d gru transformer resnet1d
# five patients (records of de Chazal's DS2) stay out of every search, for the data-shift checks
HOLDOUT       ?= ds2
SEARCH_ARGS   ?= --num-samples 12 --max-epochs 15 --time-budget 12 --holdout $(HOLDOUT)
search: $(STAMP) ## search every family on the real data (~65 min on 2 cores), then fit the baseline
	@test -n "$(HEARTBEAT_DATA)" || { echo "set DATA=path: searches run on real data only"; exit 2; }
	for f in $(FAMILIES); do $(PY) hypertune.py --search gin/search/$$f.gin --name $$f $(SEARCH_ARGS) || exit 1; done
	$(VENV)/bin/heartbeat train gin/models/baseline.gin --out models/baseline --holdout $(HOLDOUT)

.PHONY: search

notebook: $(STAMP) ## execute notebooks/analysis.ipynb headless (outputs kept) and write results/figures/
	$(VENV)/bin/heartbeat notebook

summary: $(STAMP) ## build summary/summary.pdf (2 pages) from results/ and models/
	$(VENV)/bin/heartbeat summary

.PHONY: notebook summary
