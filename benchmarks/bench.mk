# `make bench` (issue 10): the performance harness, see benchmarks/README.md.
# Included by the top-level Makefile after VENV/PY/PIP/STAMP are defined:
#     include benchmarks/bench.mk
#
# torchattacks is a benchmark-only reference. It pins an old `requests` and its
# metadata would pull torchvision (no CPU build for this torch), so it is installed
# with --no-deps, and into its own environment, so that the main .venv stays exactly
# what constraints.txt resolves (`pip check` clean). .venv-bench is a thin overlay:
# a venv of the same interpreter whose only package is torchattacks, with a .pth
# file that adds the main venv's site-packages (editable installs included) behind
# it. Everything else — torch, numpy, onnx, ART, RobustEdge — is the main venv's,
# so the benchmark measures the very versions the tests run with, and the overlay
# costs seconds instead of a second 1.8 GB install.

VENV ?= .venv
PY ?= $(VENV)/bin/python
PIP ?= $(PY) -m pip
STAMP ?= $(VENV)/.installed
BENCH_VENV ?= .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/.installed
TORCHATTACKS_VERSION ?= 3.5.1

.PHONY: bench bench-env clean-bench

bench-env: $(BENCH_STAMP)

# Rebuilt when the main venv is (its site-packages path is baked into the .pth file).
$(BENCH_STAMP): $(STAMP) benchmarks/bench.mk
	rm -rf $(BENCH_VENV)
	$(PY) -m venv --without-pip $(BENCH_VENV)
	main_site=$$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") && \
	$(BENCH_PY) -c "import sys, sysconfig, pathlib; \
		pathlib.Path(sysconfig.get_paths()['purelib'], '_robustedge_main_venv.pth').write_text( \
		'import site; site.addsitedir(%r)\n' % sys.argv[1])" "$$main_site"
	$(PIP) --python $(BENCH_PY) install --quiet --no-deps "torchattacks==$(TORCHATTACKS_VERSION)"
	$(BENCH_PY) -c "import sys, torchattacks, art, robustedge.attacks; \
		assert 'torchvision' not in sys.modules, 'torchattacks pulled in torchvision'"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) runtime-openvino
	$(BENCH_PY) benchmarks/run.py

clean-bench:
	rm -rf $(BENCH_VENV) benchmarks/results/*.raw.json benchmarks/results/partial.*
