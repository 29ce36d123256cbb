# OpenVINO runtime for latency measurements (issue 6). Included by the top-level Makefile:
#     include latency/openvino.mk
#
# `onnxruntime-openvino` ships the same `onnxruntime` module as the plain
# `onnxruntime` wheel, so both cannot live in one environment. The OpenVINO
# build gets its own virtualenv; the service measures in a subprocess of its
# interpreter (robustedge.latency.discover_runtimes finds .venv-openvino/bin/python).
# Only the standalone probe script runs there, so onnxruntime + numpy are enough.

PYTHON ?= python3
OPENVINO_VENV ?= .venv-openvino
# 1.24.1 is the newest release with CPython 3.11 wheels for linux x86_64 on PyPI
# (`pip index versions onnxruntime-openvino`); it bundles the OpenVINO runtime.
ONNXRUNTIME_OPENVINO_VERSION ?= 1.24.1
OPENVINO_STAMP := $(OPENVINO_VENV)/.installed

.PHONY: runtime-openvino clean-runtime-openvino

runtime-openvino: $(OPENVINO_STAMP)

# The stamp is rebuilt when this file (the pinned versions) changes.
$(OPENVINO_STAMP): latency/openvino.mk
	test -x $(OPENVINO_VENV)/bin/python || $(PYTHON) -m venv $(OPENVINO_VENV)
	$(OPENVINO_VENV)/bin/python -m pip install --quiet --upgrade "pip>=24"
	$(OPENVINO_VENV)/bin/python -m pip install --quiet \
		"onnxruntime-openvino==$(ONNXRUNTIME_OPENVINO_VERSION)" "numpy==1.26.4"
	$(OPENVINO_VENV)/bin/python -c "import onnxruntime as ort; \
		assert 'OpenVINOExecutionProvider' in ort.get_available_providers(), ort.get_available_providers()"
	touch $(OPENVINO_STAMP)

clean-runtime-openvino:
	rm -rf $(OPENVINO_VENV)
