# Container images (issue 9). Included by the top-level Makefile, after STAMP is defined:
#     include containers/container.mk
#
#   make base-image           Debian bookworm + python3.11 via debootstrap (no registry;
#                             cached in podman's store and ~/.cache/robustedge)
#   make image                the server image   localhost/robustedge-server:latest
#   make image-edge           the edge image     localhost/robustedge-edge:latest (+OpenVINO EP)
#   make test-container       build, start, health, demo evaluation vs the local demo, stop
#   make test-container-edge  the same for the edge image (also requires OpenVINO latency rows)
#
# podman/buildah/debootstrap/runc are installed from Debian when missing (root + apt).
# Timings on this 2-core machine: docs/deploy.md ("Build proof").

CONTAINER_BASE ?= localhost/robustedge-base:bookworm
# The host-side client of test-container: the main venv (make setup).
CONTAINER_CLIENT_STAMP := $(if $(STAMP),$(STAMP),.venv/.installed)

.PHONY: base-image image image-edge test-container test-container-edge

base-image:
	containers/build-base.sh $(CONTAINER_BASE)

image:
	BASE_IMAGE=$(CONTAINER_BASE) containers/build-image.sh server localhost/robustedge-server:latest

image-edge:
	BASE_IMAGE=$(CONTAINER_BASE) containers/build-image.sh edge localhost/robustedge-edge:latest

test-container: $(CONTAINER_CLIENT_STAMP)
	BASE_IMAGE=$(CONTAINER_BASE) PYTHON=$(abspath $(if $(PY),$(PY),.venv/bin/python)) \
		containers/test-container.sh server

test-container-edge: $(CONTAINER_CLIENT_STAMP)
	BASE_IMAGE=$(CONTAINER_BASE) PYTHON=$(abspath $(if $(PY),$(PY),.venv/bin/python)) \
		containers/test-container.sh edge
