# RobustEdge developer commands. `make demo` and `make test` set everything up on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
DATA_DIR ?= .robustedge-demo
ADDR ?= 127.0.0.1:50051

.PHONY: setup browser proto demo test test-fast lint typecheck clean

# `make runtime-openvino`: the OpenVINO execution provider in its own virtualenv.
include latency/openvino.mk
# `make image`, `make image-edge`, `make test-container` (podman/buildah, debootstrap base).
include containers/container.mk
# `make bench`: benchmarks/ against torchattacks, ART and the hardware's limits.
include benchmarks/bench.mk

setup: $(STAMP)

# The stamp is rebuilt when the pinned versions or the package metadata change.
$(STAMP): constraints.txt pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24"
	$(PIP) install --quiet -c constraints.txt -e "clients/python[yaml]" -e ".[inc,dev,ray,s3]"
	touch $(STAMP)

# Headless Chromium renders the HTML report in the tests (Debian's package; root only).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the HTML report test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: install it (apt-get install chromium) or set ROBUSTEDGE_SKIP_BROWSER=1"; fi; }

# Regenerates the gRPC stubs from proto/; tests fail when the committed ones differ.
proto: $(STAMP)
	$(PY) -m robustedge.service.protogen

demo: $(STAMP) runtime-openvino
	$(PY) examples/demo.py --data-dir $(DATA_DIR) --out demo-report

test: $(STAMP) browser runtime-openvino
	$(PY) -m pytest -q --durations=15

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy service compressors bridge attacks latency reports search clients/python/robustedge/client

clean:
	rm -rf $(VENV) $(OPENVINO_VENV) $(DATA_DIR) .pytest_cache .mypy_cache
