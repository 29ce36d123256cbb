# RobustEdge server image (first version; issue 9 hardens it and proves the build).
#   docker build -t robustedge-server .
#   docker run -p 127.0.0.1:50051:50051 -v robustedge-data:/data robustedge-server
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY clients/python clients/python
COPY service service
COPY compressors compressors
COPY bridge bridge
COPY attacks attacks
COPY latency latency
COPY reports reports
# CPU-only torch is pinned in constraints.txt; no torchvision, no CUDA packages.
RUN python -m venv /opt/robustedge \
 && /opt/robustedge/bin/pip install --no-cache-dir --upgrade "pip>=24" \
 && /opt/robustedge/bin/pip install --no-cache-dir -c constraints.txt "clients/python[yaml]" ".[inc]"

FROM ${BASE_IMAGE}
COPY --from=build /opt/robustedge /opt/robustedge
RUN useradd --create-home --uid 10001 robustedge && mkdir /data && chown robustedge /data
USER robustedge
VOLUME /data
EXPOSE 50051
# Inside a container the published port needs a non-loopback bind; put authentication
# or a private network in front of it (token auth arrives with issue 8).
ENTRYPOINT ["/opt/robustedge/bin/robustedge-server", "--data-dir", "/data", "--listen", "0.0.0.0:50051", "--insecure-listen-any"]
