# RobustEdge server image, and an edge variant with the OpenVINO execution provider.
#
#   docker build -t robustedge-server .                       # server (CPU onnxruntime)
#   docker build --target edge -t robustedge-edge .           # + OpenVINO EP runtime
#   docker run --init --stop-timeout 60 -p 50051:50051 -v robustedge-data:/data \
#       -e ROBUSTEDGE_TOKENS="ci=sha256:..." robustedge-server
#
# Build arguments:
#   BASE_IMAGE        any Debian/Ubuntu-like image with python3 (3.11), python3-venv and
#                     ca-certificates. No registry needed: `make base-image` builds one
#                     with debootstrap (containers/build-base.sh) as
#                     localhost/robustedge-base:bookworm, which `make image` passes here.
#   EXTRA_CA_CERTS    PEM text of extra CA certificates (TLS-intercepting proxies); or put
#                     *.pem/*.crt files in containers/ca-certificates/. Both land in the
#                     system store, which pip uses (PIP_CERT). HTTP(S)_PROXY build args are
#                     honoured by pip as usual.
#   TORCH_INDEX_URL   where the CPU-only torch wheel comes from (default: the PyTorch CPU
#                     index; PyPI's Linux torch wheels pull CUDA). PIP_INDEX_URL,
#                     PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS: mirrors for the build stages.
#   EXTRAS            optional dependency groups of the robustedge package (default inc).
#   ONNXRUNTIME_OPENVINO_VERSION  the edge runtime (same pin as latency/openvino.mk).
#
# Configuration at run time comes from the environment (containers/entrypoint.sh):
# ROBUSTEDGE_LISTEN, ROBUSTEDGE_DATA_DIR, ROBUSTEDGE_TOKENS / ROBUSTEDGE_TOKENS_FILE,
# ROBUSTEDGE_TLS_CERT / _KEY / _CLIENT_CA, ROBUSTEDGE_INSECURE_LISTEN_ANY,
# ROBUSTEDGE_MAX_CONCURRENT_JOBS, ROBUSTEDGE_LOG_LEVEL. See docs/deploy.md.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------
# base: the base image plus extra CA certificates (shared by build and runtime stages)
# ---------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS base
ARG EXTRA_CA_CERTS=""
COPY containers/install-ca-certs.sh /usr/local/lib/robustedge/install-ca-certs.sh
COPY containers/ca-certificates/ /tmp/extra-ca/
RUN set -eu; \
    if [ -n "$EXTRA_CA_CERTS" ]; then printf '%s\n' "$EXTRA_CA_CERTS" > /tmp/extra-ca/build-arg.pem; fi; \
    sh /usr/local/lib/robustedge/install-ca-certs.sh /tmp/extra-ca; \
    rm -rf /tmp/extra-ca; \
    test -s /etc/ssl/certs/ca-certificates.crt \
      || { echo "BASE_IMAGE lacks /etc/ssl/certs/ca-certificates.crt (install ca-certificates)" >&2; exit 1; }; \
    python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'
# Every TLS client in the image (pip, Python's ssl, requests) trusts the system store.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    LANG=C.UTF-8

# ---------------------------------------------------------------------------------------
# build: the service virtualenv in /opt/robustedge (CPU-only torch, pinned versions)
# ---------------------------------------------------------------------------------------
FROM base AS build
ARG EXTRAS=inc
# Where pip finds packages: PyPI, plus the PyTorch CPU index for the CPU-only torch wheel
# (PyPI's Linux torch wheels pull CUDA). Mirrors and local wheel folders: pass
# PIP_INDEX_URL / PIP_EXTRA_INDEX_URL / PIP_FIND_LINKS (and TORCH_INDEX_URL= to drop the
# PyTorch index); containers/build-image.sh passes the host's pip configuration on.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
WORKDIR /src
COPY constraints.txt pyproject.toml ./
# Dependencies first, in their own layer: a source change does not reinstall torch.
# torch==2.13.0 in constraints.txt resolves to the CPU wheel; no torchvision, no CUDA.
RUN python3 -m venv /opt/robustedge \
 && /opt/robustedge/bin/pip install --quiet "pip>=24" \
 && python3 -c "import sys, tomllib; \
p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
reqs = p['dependencies'] + [r for e in sys.argv[1].split(',') if e for r in p['optional-dependencies'][e]]; \
print('\n'.join(r for r in reqs if not r.startswith('robustedge')))" "$EXTRAS" > /tmp/requirements.txt
RUN /opt/robustedge/bin/pip install --quiet -c constraints.txt \
      ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} -r /tmp/requirements.txt \
 && if /opt/robustedge/bin/pip list 2>/dev/null | grep -Ei '^(nvidia-|torchvision|triton)'; then \
      echo "CUDA/torchvision packages crept in; torch must be the pinned CPU wheel" >&2; exit 1; fi
COPY README.md ./
COPY clients/python clients/python
COPY service service
COPY compressors compressors
COPY bridge bridge
COPY attacks attacks
COPY latency latency
COPY reports reports
COPY search search
RUN /opt/robustedge/bin/pip install --quiet -c constraints.txt "clients/python[yaml]" ".[$EXTRAS]" \
 && /opt/robustedge/bin/pip check \
 && /opt/robustedge/bin/python -c "import robustedge.service, robustedge.client, torch; assert not torch.cuda.is_available()"

# ---------------------------------------------------------------------------------------
# openvino-build: onnxruntime-openvino in its own virtualenv (it ships the same
# `onnxruntime` module as the plain wheel, so it cannot share the service's venv)
# ---------------------------------------------------------------------------------------
FROM base AS openvino-build
ARG ONNXRUNTIME_OPENVINO_VERSION=1.24.1
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
RUN python3 -m venv /opt/openvino \
 && /opt/openvino/bin/pip install --quiet "pip>=24" \
 && /opt/openvino/bin/pip install --quiet "onnxruntime-openvino==${ONNXRUNTIME_OPENVINO_VERSION}" "numpy==1.26.4" \
 && /opt/openvino/bin/python -c "import onnxruntime as ort; \
assert 'OpenVINOExecutionProvider' in ort.get_available_providers(), ort.get_available_providers()"

# ---------------------------------------------------------------------------------------
# server: the runtime image (non-root, data dir as a volume, gRPC health check)
# ---------------------------------------------------------------------------------------
FROM base AS server
RUN groupadd --gid 10001 robustedge \
 && useradd --uid 10001 --gid 10001 --home-dir /home/robustedge --create-home \
      --shell /usr/sbin/nologin robustedge \
 && mkdir -p /data \
 && chown robustedge:robustedge /data
COPY --from=build /opt/robustedge /opt/robustedge
COPY containers/entrypoint.sh containers/healthcheck.py /usr/local/lib/robustedge/
ENV PATH=/opt/robustedge/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    ROBUSTEDGE_LISTEN=0.0.0.0:50051 \
    ROBUSTEDGE_DATA_DIR=/data
USER 10001:10001
WORKDIR /home/robustedge
VOLUME ["/data"]
EXPOSE 50051
# SIGTERM: the server reports NOT_SERVING, drains RPCs, stops its workers; every unit of
# work finished so far is already recorded, so the job resumes on the next start. Give
# it time: `docker run --stop-timeout 60` / compose `stop_grace_period: 60s`
# (Dockerfiles cannot set a stop timeout; the label records the intended value).
STOPSIGNAL SIGTERM
LABEL org.opencontainers.image.title="robustedge-server" \
      org.opencontainers.image.description="RobustEdge: robustness and latency of compressed ONNX classifiers (gRPC)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.robustedge.stop-timeout="60"
# Standard grpc.health.v1 Check against the configured listen address (no token needed).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["/opt/robustedge/bin/python", "/usr/local/lib/robustedge/healthcheck.py"]
ENTRYPOINT ["/usr/local/lib/robustedge/entrypoint.sh"]
CMD []

# ---------------------------------------------------------------------------------------
# edge: the server plus the OpenVINO execution provider runtime (Intel edge gateways)
# ---------------------------------------------------------------------------------------
FROM server AS edge
COPY --from=openvino-build /opt/openvino /opt/openvino
ENV ROBUSTEDGE_RUNTIMES=openvino=/opt/openvino/bin/python
LABEL org.opencontainers.image.title="robustedge-edge"

# The default target (a plain `docker build .`) is the server image.
FROM server AS default
