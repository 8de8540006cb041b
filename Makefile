# One task list for people and CI alike: the README's commands.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export MLOPS_DATA_DIR ?= $(CURDIR)/.mlops
# Dagster hands a ranged run's per-day events to the storage in batches of this size (one transaction
# each: mlops_assets/event_log.py); the value is EVENT_BATCH_SIZE there, as in deploy/Dockerfile.
export DAGSTER_EVENT_BATCH_SIZE ?= 1000

.PHONY: install demo test ui mlflow lint bench browser clean serve

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The instance config travels with the repo; DAGSTER_HOME holds the copy Dagster reads.
$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

## Simulate 60 days, materialize every asset for every partition, print what was produced.
demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m mlops_assets.demo

## Headless Chromium for the UI test (Debian's package; Playwright drives it, never downloads a browser).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: install browser
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

# The instance is initialised first: `dagster dev` starts the webserver and the daemon at once, and two
# processes creating a fresh SQLite instance together can break it for good (mlops_assets/instance.py).
ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m mlops_assets.instance
	$(BIN)/dagster dev -w workspace.yaml

## The MLflow UI on the demo's tracking store (Settings: $(MLOPS_DATA_DIR)/mlflow), on 127.0.0.1 only.
MLFLOW_PORT ?= 5000
mlflow: install
	$(BIN)/python -m mlops_assets.mlflow_ui --port $(MLFLOW_PORT)

## Score transactions over HTTP (127.0.0.1:$(SERVE_PORT)) against the demo's state: champion from MLflow,
## merchant state from Feast's online store, the day after the last `online_features` materialization.
SERVE_PORT ?= 8000
serve: install
	$(BIN)/mlops-serve --host 127.0.0.1 --port $(SERVE_PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy mlops_assets
	$(BIN)/lint-imports

bench: install
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .mlops .dagster_home
