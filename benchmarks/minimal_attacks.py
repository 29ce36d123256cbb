"""Figure 2: CW-L2 and DeepFool against ART on the digits model.

Runs benchmarks/bench_attacks.py (the attack engineer's benchmark: same model, same
samples, same batch, both scored by onnxruntime; see its docstring) for ``cw`` and
``deepfool`` only and turns its result into rows: the throughput ratio (ART seconds /
RobustEdge seconds) and the difference in attack success rate, in points.

    .venv-bench/bin/python benchmarks/minimal_attacks.py --out results/minimal.raw.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from results_table import Row, Target, at_least, save_rows
from sibling_scripts import run_json

NAMES = {"cw": "CW-L2", "deepfool": "DeepFool"}
SUCCESS_TARGET = Target("within ±2 points", low=-2.0, high=2.0)


def rows(result: dict) -> list[Row]:
    out = []
    by_attack = {row["attack"]: row for row in result["rows"]}
    for index, (attack, label) in enumerate(NAMES.items()):
        row = by_attack[attack]  # KeyError = the benchmark silently dropped a reference
        ours, art = row["ours"], row["art"]
        setup = f"{row['samples']} digits samples, batch {result['batch_size']}, " + (
            f"{result['torch_threads']} torch thread(s), {row['rounds']} round(s)"
        )
        speed_id, success_id = ("2a", "2b") if index == 0 else ("2c", "2d")
        out.append(
            Row(
                speed_id,
                f"{label} throughput vs ART (digits CNN)",
                row["throughput_ratio"],
                target=at_least(10.0),
                detail=f"RobustEdge {row['ours_seconds']:.2f} s, ART {row['art_seconds']:.2f} s; "
                + setup,
                raw=row,
            )
        )
        out.append(
            Row(
                success_id,
                f"{label} attack success rate, RobustEdge minus ART",
                100 * (ours["success_rate"] - art["success_rate"]),
                unit="points",
                target=SUCCESS_TARGET,
                detail=f"success RobustEdge {ours['success_rate']:.3f}, ART "
                f"{art['success_rate']:.3f}; median L2 of fooled samples RobustEdge "
                f"{ours['median_l2_fooled'] or float('nan'):.3f}, ART "
                f"{art['median_l2_fooled'] or float('nan'):.3f} (onnxruntime-scored)",
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=400)
    args = parser.parse_args()
    raw = args.out.with_name("bench_attacks.raw.json")
    command = ["--only", ",".join(NAMES), "--samples", str(args.samples), "--slow-rounds", "1"]
    result = run_json("bench_attacks.py", [*command, "--out", str(raw)], raw, args.timeout)
    table = rows(result)
    save_rows(table, args.out)
    for row in table:
        print(f"{row.id:4s} {row.value:8.3f} {row.unit}  {row.detail}")


if __name__ == "__main__":
    main()
