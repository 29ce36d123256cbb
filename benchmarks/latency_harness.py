"""Figure 4: the latency harness's p50 against a bare ``session.run`` loop.

Runs benchmarks/bench_latency.py (the latency engineer's benchmark; see its
docstring: rounds alternate a ``robustedge.latency`` measurement with the plainest
timing loop in a fresh process, ratio per round, median over rounds) on the digits
CNN and turns each provider into a row. A provider the benchmark had to skip (e.g.
no ``.venv-openvino``) becomes an ERROR row with its reason, never a missing row.

    .venv-bench/bin/python benchmarks/latency_harness.py --out results/latency.raw.json
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from results_table import Row, save_rows, within
from sibling_scripts import run_json


def rows(result: dict) -> list[Row]:
    out = []
    for index, (provider, row) in enumerate(result["providers"].items()):
        rid = f"4{'abcdefgh'[index]}"
        figure = f"latency harness p50 / bare session.run loop p50 ({provider}, digits CNN)"
        if "skipped_reason" in row:
            out.append(Row(rid, figure, None, error=f"skipped: {row['skipped_reason']}"))
            continue
        out.append(
            Row(
                rid,
                figure,
                row["median_ratio"],
                target=within(0.05),
                detail=f"harness {statistics.median(row['harness_p50_us']):.1f} µs, bare loop "
                f"{statistics.median(row['bare_loop_median_us']):.1f} µs, batch 1, 1 thread; "
                f"overhead {row['overhead_per_iteration_us']:.2f} µs/iteration; per-round "
                f"ratios {', '.join(f'{r:.3f}' for r in row['ratios'])}",
                raw=row,
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--provider", action="append", help="short name (default: cpu)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    raw = args.out.with_name("bench_latency.raw.json")
    command = ["--rounds", str(args.rounds), "--out", str(raw)]
    for provider in args.provider or ["cpu"]:
        command += ["--provider", provider]
    table = rows(run_json("bench_latency.py", command, raw, args.timeout))
    save_rows(table, args.out)
    for row in table:
        value = "ERROR" if row.value is None else f"{row.value:.3f}"
        print(f"{row.id:3s} {value}  {row.detail or row.error}")


if __name__ == "__main__":
    main()
