"""``make bench``: runs every figure of issue 10, prints the table, writes the results.

Each figure runs as its own subprocess (a crash becomes an ERROR row, memory and
thread pools never leak from one figure into the next) and hands back rows as JSON
(benchmarks/results/<figure>.raw.json, not committed). The runner adds provenance
(date, CPU model, load average before and after, library versions, wall and CPU
seconds per figure), attaches the analysis of every missed target
(``explanations.py``), and writes benchmarks/results/latest.json and latest.md.
Exit status 1 when any figure could not be measured: a reference that cannot run
is a failure, never a silently missing row.

    .venv-bench/bin/python benchmarks/run.py [--only pgd,upload] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from explanations import explain
from results_table import ERROR, Row, failed_rows, figure_order, load_rows, write

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Figure:
    name: str
    script: str
    rows: list[tuple[str, str]]  # (id, figure) used for ERROR rows when the script fails
    args: list[str] = field(default_factory=list)
    timeout: float = 600


# Cheap and independent first, so that a broken environment fails fast.
FIGURES = [
    Figure("memory", "worker_memory.py", [("8", "peak RSS of a worker attacking ResNet-20")]),
    Figure(
        "pgd",
        "pgd_throughput.py",
        [
            ("1a", "PGD-10 throughput, bridge vs hand-written module"),
            ("1b", "PGD-10 throughput, RobustEdge vs the faster of torchattacks and ART"),
            ("3", "PGD-10 wall time vs lower bound"),
        ],
        ["--rounds", "3"],
    ),
    Figure(
        "bridge",
        "bridge_step.py",
        [("1c", "one attack step, bridge vs hand-written module (bench_bridge.py)")],
    ),
    Figure(
        "minimal",
        "minimal_attacks.py",
        [("2a", "CW-L2 vs ART"), ("2c", "DeepFool vs ART")],
        ["--samples", "200"],
    ),
    Figure(
        "latency",
        "latency_harness.py",
        [("4", "latency harness p50 vs bare session.run loop")],
        ["--rounds", "5", "--provider", "cpu", "--provider", "openvino"],
    ),
    Figure("service", "service_overhead.py", [("5", "end-to-end quick preset overhead")]),
    Figure("upload", "upload_throughput.py", [("6", "upload of a 500 MB file")]),
    Figure("jobs", "job_latency.py", [("7", "time to first progress; tiny jobs per minute")]),
]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def versions() -> dict[str, str]:
    import importlib.metadata as md

    names = ["torch", "onnxruntime", "onnx", "numpy", "adversarial-robustness-toolbox"]
    found: dict[str, str] = {}
    for name in [*names, "torchattacks"]:
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:  # the figure that needs it turns into an ERROR row
            found[name] = "not installed (run `make bench`: it builds .venv-bench)"
    found["python"] = platform.python_version()
    return found


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_figure(figure: Figure, out_dir: Path) -> tuple[list[Row], dict]:
    out = out_dir / f"{figure.name}.raw.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, str(HERE / figure.script), *figure.args, "--out", str(out)]
    print(f"\n== {figure.name}: {' '.join(command[1:])}", flush=True)
    started, cpu = time.perf_counter(), children_cpu_seconds()
    try:
        completed = subprocess.run(command, text=True, capture_output=True, timeout=figure.timeout)
        output = completed.stdout + completed.stderr
        print(completed.stdout, end="", flush=True)
        failure = "" if completed.returncode == 0 and out.exists() else output
    except subprocess.TimeoutExpired:
        failure = f"did not finish in {figure.timeout:.0f} s"
    timing = {
        "wall_seconds": time.perf_counter() - started,
        "cpu_seconds": children_cpu_seconds() - cpu,
    }
    if failure:
        tail = " / ".join(failure.strip().splitlines()[-6:])
        print(f"FAILED: {tail}", file=sys.stderr, flush=True)
        return failed_rows(figure.rows, f"{figure.script} failed: {tail}"), timing
    return load_rows(out), timing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated figure names")
    parser.add_argument("--out-dir", type=Path, default=HERE / "results")
    args = parser.parse_args()
    selected = [f for f in FIGURES if not args.only or f.name in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - {f.name for f in FIGURES}
    if unknown:
        parser.error(f"unknown figure(s) {sorted(unknown)}; known: {[f.name for f in FIGURES]}")

    started = time.perf_counter()
    load_before = os.getloadavg()
    rows: list[Row] = []
    timings: dict[str, dict] = {}
    for figure in selected:
        figure_rows, timings[figure.name] = run_figure(figure, args.out_dir)
        rows += figure_rows
    rows.sort(key=figure_order)
    for row in rows:
        row.why_missed = explain(row)

    header = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, {memory_gib():.0f} GiB",
        "load_average_before": [round(x, 1) for x in load_before],
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
        "wall_seconds": time.perf_counter() - started,
        "cpu_seconds": children_cpu_seconds(),
        "figures": timings,
        "versions": versions(),
        "command": " ".join(sys.argv),
    }
    # A partial run (--only) must not replace the full table the README quotes.
    stem = "latest" if not args.only else "partial"
    table = write(rows, header, args.out_dir, stem)
    print("\n" + table)
    load = header["load_average_before"][0], header["load_average_after"][0]
    print(
        f"wall {header['wall_seconds']:.0f} s, CPU {header['cpu_seconds']:.0f} s, "
        f"1-min load average {load[0]} before / {load[1]} after "
        f"(this machine has {os.cpu_count()} cores); wrote {args.out_dir}/{stem}.json and .md"
    )
    return 1 if any(row.status == ERROR for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
