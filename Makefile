# Two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast test-slow lint services bench bench-forecast bench-tabular bench-restaurant clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,seed]'
	touch $(STAMP)

## Install, load the demo data, train every app, serve the API (:8000) and dashboard (:8501).
demo: $(STAMP)
	$(BIN)/foresight demo

## Install, start PostgreSQL/Redis if they are down, lint, type-check and run every test.
test: $(STAMP) services lint
	$(BIN)/python -m pytest -n 2 -m "not slow"
	@bash scripts/browser.sh
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy foresight/platform

services:
	@bash scripts/services.sh

## Every benchmark; each rewrites its own section of benchmarks/RESULTS.md.
bench: $(STAMP) services bench-tabular
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.forecasting
	$(BIN)/python -m benchmarks.restaurant

bench-restaurant: $(STAMP)
	$(BIN)/python -m benchmarks.restaurant

bench-forecast: $(STAMP) services
	$(BIN)/python -m benchmarks.forecasting

AG_VENV := benchmarks/.autogluon-venv

## Tabular learner vs tuned LightGBM, CatBoost, XGBoost and AutoGluon (in its own venv, built once).
bench-tabular: $(STAMP)
	-$(AG_VENV)/bin/python -c 'import autogluon.tabular' 2>/dev/null || ($(PYTHON) -m venv $(AG_VENV) && $(AG_VENV)/bin/pip install -q 'autogluon.tabular[lightgbm,catboost,xgboost]')
	$(BIN)/python -m benchmarks.tabular

clean:
	rm -rf $(VENV) .foresight .pytest_cache .mypy_cache .ruff_cache
