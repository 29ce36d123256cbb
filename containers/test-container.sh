#!/usr/bin/env bash
# `make test-container`: proves the image builds and serves, from a fresh machine.
#
#   containers/test-container.sh [server|edge]
#
# 1. installs podman/buildah/debootstrap/runc when missing, builds the debootstrap base
#    image (cached) and the image (containers/build-image.sh);
# 2. starts it with --network host on a free loopback port, a fresh named volume as
#    the data dir, --init and a 60 s stop timeout;
# 3. waits for the standard gRPC health check to answer SERVING (from the host) and
#    runs the image's own HEALTHCHECK (podman healthcheck run);
# 4. runs the demo evaluation through the host's client SDK and checks the report
#    against the local demo's (containers/check_report.py): demo-report/report.json
#    when it is newer than the sources, else the local demo is run first;
# 5. stops it (SIGTERM), checks a clean exit, removes container and volume.
# Artifacts (reports, server log, timings.json): test-artifacts/container-TARGET/.
#
# Environment: PYTHON (host client, default .venv/bin/python), CONTAINER_IMAGE,
# CONTAINER_REFERENCE (reference report), HEALTH_TIMEOUT (s, default 300), plus those
# of build-image.sh / build-base.sh. CONTAINER_SKIP_BUILD=1 reuses CONTAINER_IMAGE.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${1:-server}
IMAGE=${CONTAINER_IMAGE:-localhost/robustedge-$TARGET:test}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
REFERENCE=${CONTAINER_REFERENCE:-$ROOT/demo-report/report.json}
OUT=$ROOT/test-artifacts/container-$TARGET
NAME=robustedge-test-$TARGET-$$
VOLUME=$NAME-data
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-300}
export PYTHON

ulimit -n 16384 2>/dev/null || true
ulimit -u 16384 2>/dev/null || true
mkdir -p "$OUT"
declare -A seconds
phase_start=$(date +%s)
total_start=$phase_start
phase() {  # phase NAME: records the seconds since the previous phase ended
    local now; now=$(date +%s)
    seconds[$1]=$(( now - phase_start )); phase_start=$now
    echo "== $1: ${seconds[$1]} s"
}

cleanup() {
    if podman container exists "$NAME" 2>/dev/null; then
        podman logs "$NAME" >"$OUT/server.log" 2>&1 || true
        podman rm -f -t 5 "$NAME" >/dev/null 2>&1 || true
    fi
    podman volume rm -f "$VOLUME" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# 1. tools, base image, image
"$ROOT/containers/ensure-tools.sh"
phase tools
if [ "${CONTAINER_SKIP_BUILD:-0}" != 1 ]; then
    case "${BASE_IMAGE:-localhost/robustedge-base:bookworm}" in
        localhost/robustedge-base:*) "$ROOT/containers/build-base.sh" "${BASE_IMAGE:-}" ;;
    esac
    phase base_image
    "$ROOT/containers/build-image.sh" "$TARGET" "$IMAGE"
    phase image
fi

# The reference: the local demo's report (same client, same preset) from these very
# sources. demo-report/report.json (`make demo`) is used when it is newer than every
# source file; otherwise the local demo runs first (about a minute) into $OUT/reference.
stale=""
if [ -s "$REFERENCE" ]; then
    stale=$(cd "$ROOT" && find service compressors bridge attacks latency reports proto examples \
        clients/python/robustedge constraints.txt pyproject.toml -newer "$REFERENCE" \
        \( -name '*.py' -o -name '*.proto' -o -name '*.txt' -o -name '*.toml' \) \
        -not -path '*/data/*' 2>/dev/null | head -n 1)
fi
if [ ! -s "$REFERENCE" ] || [ -n "$stale" ]; then
    if [ -n "$stale" ]; then why="older than $stale"; else why=missing; fi
    echo "reference $REFERENCE $why: running the local demo"
    REFERENCE=$OUT/reference/report.json
    demo_data=$(mktemp -d)
    "$PYTHON" "$ROOT/examples/demo.py" --data-dir "$demo_data" --out "$(dirname "$REFERENCE")" \
        >"$OUT/local-demo.log" 2>&1 || { tail -n 40 "$OUT/local-demo.log" >&2; exit 1; }
    rm -rf "$demo_data"
    phase local_demo
fi
echo "reference report: $REFERENCE"

# 2. start it
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
podman volume create "$VOLUME" >/dev/null
podman run -d --name "$NAME" --network host --init --stop-timeout 60 \
    --ulimit nofile=16384:16384 --ulimit nproc=16384:16384 \
    --health-interval disable \
    -e ROBUSTEDGE_LISTEN="127.0.0.1:$PORT" -v "$VOLUME:/data" "$IMAGE" \
    >/dev/null 2>"$OUT/podman-run.err" || { cat "$OUT/podman-run.err" >&2; exit 1; }
# (podman logs an error that it cannot reach systemd for health-check timers; the
# periodic check is disabled above and run explicitly below instead.)
echo "started $NAME ($IMAGE) on 127.0.0.1:$PORT"

# 3. health: the standard grpc.health.v1 service, from the host, then the image's own check
deadline=$(( $(date +%s) + HEALTH_TIMEOUT ))
until ROBUSTEDGE_LISTEN="127.0.0.1:$PORT" ROBUSTEDGE_HEALTHCHECK_TIMEOUT=2 \
        "$PYTHON" "$ROOT/containers/healthcheck.py" >/dev/null 2>&1; do
    if [ "$(podman inspect -f '{{.State.Running}}' "$NAME")" != true ]; then
        podman logs "$NAME" >&2; echo "the container exited before serving" >&2; exit 1
    fi
    if [ "$(date +%s)" -gt "$deadline" ]; then
        podman logs "$NAME" >&2; echo "no SERVING health answer in $HEALTH_TIMEOUT s" >&2; exit 1
    fi
    sleep 1
done
ROBUSTEDGE_LISTEN="127.0.0.1:$PORT" "$PYTHON" "$ROOT/containers/healthcheck.py"
podman healthcheck run "$NAME" && echo "image HEALTHCHECK: healthy"
user=$(podman exec "$NAME" id -u)
[ "$user" != 0 ] || { echo "the server runs as root" >&2; exit 1; }
echo "server process runs as uid $user"
phase start_healthy

# 4. the demo evaluation through the client, checked against the local demo
edge_flag=()
[ "$TARGET" != edge ] || edge_flag=(--edge)
"$PYTHON" "$ROOT/containers/check_report.py" --address "127.0.0.1:$PORT" \
    --reference "$REFERENCE" --out "$OUT" "${edge_flag[@]}"
phase evaluation

# 5. graceful stop
podman stop -t 60 "$NAME" >/dev/null 2>"$OUT/podman-stop.err" || { cat "$OUT/podman-stop.err" >&2; exit 1; }
podman logs "$NAME" >"$OUT/server.log" 2>&1
code=$(podman inspect -f '{{.State.ExitCode}}' "$NAME")
grep -q "shutting down" "$OUT/server.log" || { echo "no graceful shutdown in the log" >&2; exit 1; }
[ "$code" = 0 ] || { echo "the server exited with $code after SIGTERM" >&2; exit 1; }
phase stop
echo "stopped cleanly (exit 0)"

total=$(( $(date +%s) - total_start ))
{
    printf '{"target": "%s", "image": "%s", "total_s": %d' "$TARGET" "$IMAGE" "$total"
    for key in "${!seconds[@]}"; do printf ', "%s_s": %d' "$key" "${seconds[$key]}"; done
    printf '}\n'
} >"$OUT/timings.json"
echo "test-container ($TARGET) passed in $total s: $(cat "$OUT/timings.json")"
