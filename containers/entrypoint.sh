#!/bin/sh
# Container entrypoint: robustedge-server configured from the environment.
#
#   ROBUSTEDGE_LISTEN               host:port to bind (default 0.0.0.0:50051)
#   ROBUSTEDGE_DATA_DIR             job store and artifacts (default /data, a volume)
#   ROBUSTEDGE_TOKENS               NAME=sha256:HEX,... (read by the server itself)
#   ROBUSTEDGE_TOKENS_FILE          a tokens file ('NAME sha256:HEX' lines), e.g. a secret
#   ROBUSTEDGE_TLS_CERT / ROBUSTEDGE_TLS_KEY / ROBUSTEDGE_TLS_CLIENT_CA   PEM paths
#   ROBUSTEDGE_INSECURE_LISTEN_ANY  1: serve a non-loopback address without tokens
#   ROBUSTEDGE_MAX_CONCURRENT_JOBS, ROBUSTEDGE_LOG_LEVEL
#   ROBUSTEDGE_EXECUTOR, ROBUSTEDGE_RAY_ADDRESS   --executor / --ray-address (Ray executor)
#   ROBUSTEDGE_ARTIFACT_STORE                     --artifact-store s3://BUCKET/PREFIX (Ray)
#   ROBUSTEDGE_PRESTART_WORKER      0: --no-prestart-worker (small gateways: ~270 MB less idle)
#   ROBUSTEDGE_RUNTIMES             extra onnxruntime builds, name=/path/python (edge image)
#
# Arguments starting with '-' are appended to the server's; any other command runs
# as given (`docker run IMAGE robustedge-server --hash-token`, `... bash`).
set -eu

if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
    exec "$@"
fi

set -- --listen "${ROBUSTEDGE_LISTEN:-0.0.0.0:50051}" --data-dir "${ROBUSTEDGE_DATA_DIR:-/data}" "$@"
[ -z "${ROBUSTEDGE_TOKENS_FILE:-}" ] || set -- "$@" --tokens-file "$ROBUSTEDGE_TOKENS_FILE"
[ -z "${ROBUSTEDGE_TLS_CERT:-}" ] || set -- "$@" --tls-cert "$ROBUSTEDGE_TLS_CERT"
[ -z "${ROBUSTEDGE_TLS_KEY:-}" ] || set -- "$@" --tls-key "$ROBUSTEDGE_TLS_KEY"
[ -z "${ROBUSTEDGE_TLS_CLIENT_CA:-}" ] || set -- "$@" --tls-client-ca "$ROBUSTEDGE_TLS_CLIENT_CA"
[ -z "${ROBUSTEDGE_MAX_CONCURRENT_JOBS:-}" ] || set -- "$@" --max-concurrent-jobs "$ROBUSTEDGE_MAX_CONCURRENT_JOBS"
[ -z "${ROBUSTEDGE_LOG_LEVEL:-}" ] || set -- "$@" --log-level "$ROBUSTEDGE_LOG_LEVEL"
[ -z "${ROBUSTEDGE_EXECUTOR:-}" ] || set -- "$@" --executor "$ROBUSTEDGE_EXECUTOR"
[ -z "${ROBUSTEDGE_RAY_ADDRESS:-}" ] || set -- "$@" --ray-address "$ROBUSTEDGE_RAY_ADDRESS"
[ -z "${ROBUSTEDGE_ARTIFACT_STORE:-}" ] || set -- "$@" --artifact-store "$ROBUSTEDGE_ARTIFACT_STORE"
case "${ROBUSTEDGE_PRESTART_WORKER:-1}" in
    0 | false | no) set -- "$@" --no-prestart-worker ;;
esac
case "${ROBUSTEDGE_INSECURE_LISTEN_ANY:-0}" in
    1 | true | yes) set -- "$@" --insecure-listen-any ;;
esac

# exec: the server is PID 1's child only under --init; either way it receives SIGTERM
# directly and shuts down gracefully (NOT_SERVING, drain, stop workers).
exec robustedge-server "$@"
