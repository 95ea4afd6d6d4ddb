# minegate: the two commands. Both create .venv and install on first use; nothing else is needed
# on a fresh machine than Python >= 3.11 and git.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit venv check bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "minegate needs Python >= 3.11, found " + sys.version)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/minegate demo --config deploy/examples/demo-mine.yaml --scenario methane_buildup --time-scale 2

check: $(STAMP)
	$(BIN)/minegate check deploy/examples/demo-mine.yaml

lint: $(STAMP)
	$(BIN)/ruff check edge export tests benchmarks
	$(BIN)/ruff format --check edge export tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m benchmarks.alarm_latency
	$(BIN)/python -m benchmarks.bus_time
	$(BIN)/python -m benchmarks.cpu_per_reading
	$(BIN)/python -m benchmarks.idle_rss
	$(BIN)/python -m benchmarks.inference_latency

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
