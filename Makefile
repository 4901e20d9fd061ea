# cnai-pipelines: `make run` sets up and runs the training pipeline; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CNAI := $(BIN)/cnai
# The environment here sets PYTHONDONTWRITEBYTECODE=1; without compiled bytecode every import
# (feast alone ~9 s) is paid again in each pipeline step. Our own package too: each step imports
# it anew (`bytecode`, before run, test, bench, drift and monitor; only changed files are compiled
# again, and -q prints only a file that does not compile).
STAMP := $(VENV)/.installed
# No pip cache: a fresh machine installs once, and the cache held a 460 MB PySpark wheel built from
# its sdist beside the installed copy (a CI run ran out of disk installing the Elyra env).
export PIP_NO_CACHE_DIR := 1

.PHONY: setup bytecode debian-packages elyra-check kubectl run test bench compile image push drift monitor report stop lineage clean

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip check
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null 2>&1 || true
	touch $(STAMP)

bytecode: setup
	$(BIN)/python -m compileall -q -j 0 cnai

run: bytecode
	$(CNAI) run

# The report test loads the page in Debian's Chromium; the Feast cluster-store test runs Debian's Redis.
debian-packages:
	@command -v chromium > /dev/null || (apt-get update -qq && apt-get install -y -qq chromium > /dev/null)
	@command -v redis-server > /dev/null || (apt-get update -qq && apt-get install -y -qq redis-server > /dev/null)

# Elyra 4.1.1 pins older click/marshmallow than Feast needs: its catalog check runs in its own env.
ELYRA_VENV ?= .venv-elyra
$(ELYRA_VENV)/.installed:
	$(PYTHON) -m venv $(ELYRA_VENV)
	$(ELYRA_VENV)/bin/python -m pip install --quiet --upgrade "pip>=24"
	$(ELYRA_VENV)/bin/python -m pip install --quiet "elyra==4.1.1"
	touch $@

elyra-check: $(ELYRA_VENV)/.installed
	$(ELYRA_VENV)/bin/python -m pip install --quiet --no-deps .
	$(ELYRA_VENV)/bin/python tests/elyra/check_catalog.py

# manifests/ are built with kubectl's own kustomize (`kubectl kustomize`); no cluster is contacted.
kubectl:
	@command -v kubectl > /dev/null || { echo "kubectl is needed to build manifests/ (kubectl kustomize)"; exit 1; }

# The component image (needs a Docker engine; none runs on the CI machine, so CI does not build it).
IMAGE ?= ghcr.io/cnai-pipelines/cnai:0.1.0
image:
	docker build --tag $(IMAGE) .

push: image
	docker push $(IMAGE)

test: bytecode debian-packages elyra-check kubectl
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

drift: bytecode
	$(BIN)/python -m examples.flights.drift_demo

monitor: bytecode
	$(CNAI) monitor

# Figures, not tests (BENCHMARKS.md): each script prints its results and writes benchmarks/results/<name>.json.
bench: bytecode
	@command -v wrk > /dev/null || (apt-get update -qq && apt-get install -y -qq wrk > /dev/null)
	$(BIN)/python benchmarks/tracking_cost.py
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/drift.py
	$(BIN)/python benchmarks/tuning.py
	$(BIN)/python benchmarks/fit_threads.py
	$(BIN)/python benchmarks/one_spark.py
	$(BIN)/python benchmarks/time_to_model.py
	$(BIN)/python benchmarks/ingest_one_pass.py
	$(BIN)/python benchmarks/data_scale.py
	$(BIN)/python benchmarks/pipeline_scale.py

compile: setup
	CNAI_COMPONENT_IMAGE=$(IMAGE) $(CNAI) compile

report: setup
	$(CNAI) report

lineage: setup
	$(CNAI) lineage

stop: setup
	$(CNAI) stop

clean:
	rm -rf .cnai build *.egg-info
