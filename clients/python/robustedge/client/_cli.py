"""``robustedge``: the command line for CI pipelines and people.

    robustedge evaluate MODEL.onnx --dataset DATA.npz [--preset NAME | --spec FILE]
        [--server ADDR] [--json F] [--html F] [--markdown F] [--junit F] [--gate EXPR]...
    robustedge jobs [--limit N]
    robustedge report JOB [--json F] [--html F] [--markdown F] [--junit F] [--gate EXPR]...
    robustedge download JOB [NAME] [--out F]
    robustedge cancel JOB
    robustedge capabilities

Exit codes: 0 every gate passed (or there were none), 1 a gate failed,
2 a usage error, a service error or a failed job. The server address and token
come from --server/--token or $ROBUSTEDGE_SERVER/$ROBUSTEDGE_TOKEN.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from robustedge.client._client import Client, state_name
from robustedge.client._errors import JobFailedError, RobustEdgeError
from robustedge.v1 import evaluation_pb2 as pb

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_ERROR = 2


def _out(line: str = "", stream: TextIO | None = None) -> None:
    (stream or sys.stdout).write(line + "\n")


def _add_outputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, metavar="F", help="write the report as JSON")
    parser.add_argument("--html", type=Path, metavar="F", help="write the HTML report")
    parser.add_argument("--markdown", type=Path, metavar="F", help="write a Markdown summary")
    parser.add_argument("--junit", type=Path, metavar="F", help="write JUnit XML, a case per gate")
    parser.add_argument(
        "--gate", action="append", default=[], metavar="EXPR",
        help="fail (exit 1) unless EXPR holds, e.g. 'robust_accuracy[attack=pgd, eps=0.1,"
        " variant=int8] >= 0.3'; repeatable",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robustedge",
        description="Evaluate compressed ONNX classifiers for robustness and latency.",
        epilog="Exit codes: 0 gates passed, 1 a gate failed, 2 usage/service error.",
    )
    parser.add_argument(
        "--server", help="server address (default $ROBUSTEDGE_SERVER or 127.0.0.1:50051)"
    )
    parser.add_argument("--token", help="bearer token (default $ROBUSTEDGE_TOKEN)")
    commands = parser.add_subparsers(dest="command", required=True)

    evaluate = commands.add_parser("evaluate", help="upload, evaluate and write the report")
    evaluate.add_argument("model", type=Path, help="ONNX model file")
    evaluate.add_argument("--dataset", type=Path, required=True, help=".npz with x, y")
    which = evaluate.add_mutually_exclusive_group()
    which.add_argument("--preset", help="named spec, e.g. quick (see `robustedge capabilities`)")
    which.add_argument("--spec", type=Path, help="YAML or JSON spec file")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_outputs(evaluate)

    report = commands.add_parser("report", help="fetch the report of a finished job")
    report.add_argument("job", help="job id")
    _add_outputs(report)

    jobs = commands.add_parser("jobs", help="list jobs, newest first")
    jobs.add_argument("--limit", type=int, default=20)

    download = commands.add_parser(
        "download", help="download a file a job kept (see the report's files)"
    )
    download.add_argument("job", help="job id")
    download.add_argument("name", nargs="?", help="file name; omit to list the job's files")
    download.add_argument("--out", type=Path, help="where to write it (default: its base name)")

    cancel = commands.add_parser("cancel", help="cancel a job")
    cancel.add_argument("job", help="job id")

    commands.add_parser("capabilities", help="what the server can do")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with Client(args.server, args.token) as client:
            return _COMMANDS[args.command](client, args)
    except JobFailedError as exc:
        _out(f"robustedge: {exc}", sys.stderr)
        return EXIT_ERROR
    except RobustEdgeError as exc:
        _out(f"robustedge: {exc}", sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR


def _evaluate(client: Client, args: argparse.Namespace) -> int:
    show_progress = not args.quiet and sys.stderr.isatty()
    response = client.evaluate(
        args.model,
        args.dataset,
        preset=args.preset,
        spec=args.spec,
        gates=args.gate,
        progress=show_progress,
        html=args.html is not None,
    )
    return _finish(response, args)


def _report(client: Client, args: argparse.Namespace) -> int:
    response = client.report(args.job, html=args.html is not None)
    if args.gate:
        from robustedge.client.gates import evaluate_gates

        response.report.gates.extend(evaluate_gates(response.report, args.gate))
    return _finish(response, args)


def _finish(response: pb.GetReportResponse, args: argparse.Namespace) -> int:
    from robustedge.client import render

    report = response.report
    for line in render.summary_lines(report):
        _out(line)
    writers = {
        args.json: lambda: render.to_json(report),
        args.markdown: lambda: render.to_markdown(report),
        args.junit: lambda: render.to_junit(report),
    }
    for path, produce in writers.items():
        if path is not None:
            _write(path, produce().encode("utf-8"))
    if args.html is not None:
        html = next(d for d in response.documents if d.format == pb.REPORT_FORMAT_HTML)
        _write(args.html, html.content)
    failed = [g for g in report.gates if not g.passed]
    return EXIT_GATE_FAILED if failed else EXIT_OK


def _write(path: Path, content: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError as exc:
        raise RobustEdgeError(f"cannot write {path}: {exc.strerror}") from exc
    _out(f"wrote {path}")


def _jobs(client: Client, args: argparse.Namespace) -> int:
    for job in client.jobs(args.limit):
        created = job.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
        _out(
            f"{job.id}  {state_name(job.state):<10} {created}  {job.progress:>4.0%}"
            f"  {job.preset or 'spec'}  {job.error}".rstrip()
        )
    return EXIT_OK


def _download(client: Client, args: argparse.Namespace) -> int:
    if args.name is None:
        for kept in client.report(args.job).report.files:
            _out(f"{kept.name}  {kept.size_bytes:>10,} bytes  {kept.description}")
        return EXIT_OK
    target = client.download(args.job, args.name, args.out or Path(Path(args.name).name))
    _out(f"wrote {target}")
    return EXIT_OK


def _cancel(client: Client, args: argparse.Namespace) -> int:
    job = client.cancel(args.job)
    _out(f"{job.id} {state_name(job.state)}")
    return EXIT_OK


def _capabilities(client: Client, args: argparse.Namespace) -> int:
    caps = client.capabilities()
    _out(f"server {caps.server_version}")
    _out("presets:      " + ", ".join(p.name for p in caps.presets))
    _out("attacks:      " + ", ".join(a.name for a in caps.attacks))
    _out("compressors:  " + ", ".join(c.name for c in caps.compressors))
    for runtime in caps.runtimes:
        status = runtime.unavailable_reason or ", ".join(runtime.providers)
        _out(f"runtime {runtime.name}: {status}")
    return EXIT_OK


_COMMANDS = {
    "evaluate": _evaluate,
    "report": _report,
    "jobs": _jobs,
    "download": _download,
    "cancel": _cancel,
    "capabilities": _capabilities,
}


if __name__ == "__main__":
    sys.exit(main())
