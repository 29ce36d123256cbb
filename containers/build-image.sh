#!/usr/bin/env bash
# Builds the server (or edge) image with podman from a locally built base image.
#
#   containers/build-image.sh [server|edge] [IMAGE]
#
# 1. installs podman/buildah/debootstrap/runc when missing (containers/ensure-tools.sh);
# 2. builds/imports the debootstrap base image (containers/build-base.sh, cached);
# 3. podman build --target TARGET --build-arg BASE_IMAGE=<that base>, in docker format
#    (keeps HEALTHCHECK, which the OCI format drops).
#
# Behind a TLS-intercepting proxy the host's extra CAs are passed in: every *.crt in
# $CONTAINER_CA_DIR (default /usr/local/share/ca-certificates, where Debian keeps
# locally added CAs) becomes the EXTRA_CA_CERTS build argument. The host's pip package
# sources (pip config: index-url, extra-index-url, find-links; local paths are mounted
# read-only into the build) are passed on too, so the image resolves the same wheels
# as the host venv — set CONTAINER_PIP_FROM_HOST=0 to build from PyPI plus the PyTorch
# CPU index instead (the Dockerfile's defaults).
#
# Environment: BASE_IMAGE, CONTAINER_CA_DIR, CONTAINER_PIP_FROM_HOST, PYTHON (reads
# pip's config; default .venv/bin/python or python3), CONTAINER_BUILD_ARGS (extra flags).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${1:-server}
IMAGE=${2:-localhost/robustedge-$TARGET:latest}
BASE_IMAGE=${BASE_IMAGE:-localhost/robustedge-base:bookworm}
CA_DIR=${CONTAINER_CA_DIR:-/usr/local/share/ca-certificates}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3

ulimit -n 16384 2>/dev/null || true
ulimit -u 16384 2>/dev/null || true

"$ROOT/containers/ensure-tools.sh"
case "$BASE_IMAGE" in
    localhost/robustedge-base:*) "$ROOT/containers/build-base.sh" "$BASE_IMAGE" ;;
esac

args=(--target "$TARGET" --tag "$IMAGE" --build-arg "BASE_IMAGE=$BASE_IMAGE"
      --format docker --layers --network host
      --ulimit nofile=16384:16384 --ulimit nproc=16384:16384)

# A locally built base is never looked up in a registry.
case "$BASE_IMAGE" in localhost/*) args+=(--pull=never) ;; *) args+=(--pull=missing) ;; esac

# Extra CA certificates of the host (TLS-intercepting proxy) -> EXTRA_CA_CERTS.
certs=$(find "$CA_DIR" -maxdepth 2 -type f \( -name '*.crt' -o -name '*.pem' \) 2>/dev/null | sort || true)
if [ -n "$certs" ]; then
    pem=$(for c in $certs; do cat "$c"; echo; done)
    args+=(--build-arg "EXTRA_CA_CERTS=$pem")
    echo "trusting $(echo "$certs" | wc -l) extra CA file(s) from $CA_DIR during the build"
fi

# The host's pip sources (same wheels as the host venv; local folders mounted read-only).
if [ "${CONTAINER_PIP_FROM_HOST:-1}" = 1 ] && "$PYTHON" -m pip --version >/dev/null 2>&1; then
    while IFS='=' read -r name value; do
        [ -n "$name" ] || continue
        args+=(--build-arg "$name=$value")
        for item in $value; do
            path=${item#file://}
            if [ "$path" != "$item" ] || [ "${item#/}" != "$item" ]; then
                path=${path%/}
                # A local "simple" index usually links to ../files: mount its parent.
                [ "$(basename "$path")" != simple ] || path=$(dirname "$path")
                [ -e "$path" ] && args+=(--volume "$path:$path:ro")
            fi
        done
        echo "pip source from the host: $name=$value"
    done < <("$PYTHON" - <<'PY'
import re, subprocess, sys
out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                     text=True).stdout
found = {}
for line in out.splitlines():
    m = re.match(r"^(global|install|:env:)\.(index-url|extra-index-url|find-links)='(.*)'$", line)
    if m and (m.group(2) not in found or m.group(1) == ":env:"):
        found[m.group(2)] = m.group(3)
for key, value in found.items():
    print(f"PIP_{key.upper().replace('-', '_')}={' '.join(value.split())}")
if found:
    print("TORCH_INDEX_URL=")  # the host's sources decide where the CPU torch comes from
PY
)
fi

echo "podman build --target $TARGET -t $IMAGE (base $BASE_IMAGE) ..."
started=$(date +%s)
# shellcheck disable=SC2086
podman build "${args[@]}" ${CONTAINER_BUILD_ARGS:-} -f "$ROOT/Dockerfile" "$ROOT"
echo "built $IMAGE in $(( $(date +%s) - started )) s ($(podman image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.2f GB", $1/1e9}'))"
