"""``robustedge-server``: runs the evaluation service.

    robustedge-server --listen 127.0.0.1:50051 --data-dir DIR

Embedded defaults: SQLite and local files under the data dir, the local process
executor, loopback only. Every resource limit has a flag (``--help``, group
"limits"; docs/security.md). SIGTERM or SIGINT drains: health turns NOT_SERVING,
in-flight calls get ``--drain-seconds`` to finish, then the process exits 0.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import sys
import threading
from pathlib import Path

from robustedge.service import limits as limits_module
from robustedge.service.auth import TokenConfigError, TokenRegistry, hash_token
from robustedge.service.server import ServerConfig, TlsConfig, create_server
from robustedge.service.store import StoreError

log = logging.getLogger("robustedge.server")


def _is_loopback(listen: str) -> bool:
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="robustedge-server", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:50051", help="host:port to bind")
    parser.add_argument("--data-dir", type=Path, default=Path("robustedge-data"))
    parser.add_argument("--max-concurrent-jobs", type=int, default=1)
    parser.add_argument(
        "--worker-memory-mb",
        type=int,
        default=12 * 1024,
        help="address-space cap of each job's worker process (0: none)",
    )
    parser.add_argument(
        "--unit-timeout-seconds",
        type=float,
        default=1800,
        help="fail a unit that reports nothing (no progress, no result) for this long as hung",
    )
    parser.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where units run: local worker subprocesses, or a Ray cluster",
    )
    parser.add_argument("--ray-address", default="", help="Ray cluster address (--executor ray)")
    parser.add_argument(
        "--no-prestart-worker",
        dest="prestart_worker",
        action="store_false",
        help="local executor: start each job's worker when the job starts, instead of keeping "
        "a spare one with its imports done (saves ~270 MB while idle, costs ~1 s per job)",
    )
    parser.add_argument(
        "--artifact-store",
        default="",
        metavar="s3://BUCKET/PREFIX",
        help="with --executor ray: move job files through an S3-compatible store instead of "
        "a data dir shared by every node (credentials and AWS_ENDPOINT_URL from the "
        "environment; needs robustedge[s3])",
    )
    parser.add_argument(
        "--tokens-file",
        type=Path,
        help="bearer tokens, one 'NAME sha256:HEX' per line (also $ROBUSTEDGE_TOKENS)",
    )
    parser.add_argument("--tls-cert", type=Path, help="server certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    parser.add_argument(
        "--tls-client-ca", type=Path, help="require client certificates signed by this CA (mTLS)"
    )
    parser.add_argument(
        "--insecure-listen-any",
        action="store_true",
        help="allow a non-loopback address without authentication (not recommended)",
    )
    parser.add_argument(
        "--hash-token",
        action="store_true",
        help="read a token from stdin, print its 'sha256:HEX' form for the tokens file, exit",
    )
    parser.add_argument(
        "--port-file",
        type=Path,
        help="write the bound port here once serving (use with port 0 to pick a free port)",
    )
    parser.add_argument("--log-level", default="INFO")
    limits_module.add_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.hash_token:
        sys.stdout.write(hash_token(sys.stdin.readline().strip()) + "\n")
        return 0
    try:
        tokens = TokenRegistry.load(args.tokens_file)
    except TokenConfigError as exc:
        log.error("%s", exc)
        return 2
    if not _is_loopback(args.listen) and not tokens.enabled and not args.insecure_listen_any:
        log.error(
            "refusing to listen on %s without authentication: configure --tokens-file (or"
            " $ROBUSTEDGE_TOKENS), bind a loopback address, or pass --insecure-listen-any",
            args.listen,
        )
        return 2
    if (args.tls_cert is None) != (args.tls_key is None):
        log.error("--tls-cert and --tls-key go together")
        return 2
    if args.artifact_store and args.executor != "ray":
        log.error("--artifact-store is for --executor ray (local workers share the data dir)")
        return 2
    try:
        transport, validation = limits_module.from_arguments(args)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    tls = TlsConfig(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None
    if tokens.enabled and tls is None and not _is_loopback(args.listen):
        log.warning("bearer tokens travel in clear text without TLS; use --tls-cert/--tls-key")
    try:
        running = create_server(
            ServerConfig(
                data_dir=args.data_dir,
                listen=args.listen,
                tokens=tokens,
                tls=tls,
                max_concurrent_jobs=args.max_concurrent_jobs,
                executor_backend=args.executor,
                worker_memory_bytes=args.worker_memory_mb << 20,
                unit_idle_seconds=args.unit_timeout_seconds,
                ray_address=args.ray_address,
                artifact_store=args.artifact_store,
                prestart_worker=args.prestart_worker,
                limits=transport,
                validation=validation,
            )
        )
    except StoreError as exc:
        log.error("refusing to start: %s", exc)
        return 2
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 2
    if args.port_file is not None:
        temp = args.port_file.with_suffix(".tmp")
        temp.write_text(str(running.port))
        temp.replace(args.port_file)  # atomic: readers never see a half-written number
    stopped = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stopped.wait()
    running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
