# RobustEdge developer commands. `make demo` and `make test` set everything up on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
DATA_DIR ?= .robustedge-demo
ADDR ?= 127.0.0.1:50051

.PHONY: setup proto demo test test-fast lint typecheck clean

setup: $(STAMP)

# The stamp is rebuilt when the pinned versions or the package metadata change.
$(STAMP): constraints.txt pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24"
	$(PIP) install --quiet -c constraints.txt -e "clients/python[yaml]" -e ".[inc,dev]"
	touch $(STAMP)

# Regenerates the gRPC stubs from proto/; tests fail when the committed ones differ.
proto: $(STAMP)
	$(PY) -m robustedge.service.protogen

demo: $(STAMP)
	$(PY) examples/demo.py --data-dir $(DATA_DIR) --out demo-report

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy service compressors bridge attacks latency reports clients/python/robustedge/client

clean:
	rm -rf $(VENV) $(DATA_DIR) .pytest_cache .mypy_cache
