"""Figure 1, supplement: one forward+backward step, bridge vs hand-written module.

Runs benchmarks/bench_bridge.py (the bridge engineer's benchmark: ResNet-20, batch
128, the attack workload of one step — forward, cross-entropy, gradient to the input
— rounds alternating the two modules, median ratio; see its docstring) and turns it
into rows. It isolates the module from the attack loop that figure 1a includes. One
thread, like figure 1 (see THREADS in pgd_throughput.py).

    .venv-bench/bin/python benchmarks/bridge_step.py --out results/bridge.raw.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from results_table import Row, at_least, save_rows
from sibling_scripts import run_json


def rows(result: dict) -> list[Row]:
    step = result["input_gradient"]
    folded = result["input_gradient_vs_folded_bn"]
    setup = f"batch {result['batch']}, {result['threads']} thread(s), {result['rounds']} rounds"
    return [
        Row(
            "1c",
            "one attack step (forward + input gradient), bridge vs hand-written module "
            "(bench_bridge.py)",
            step["throughput_ratio_median"],
            target=at_least(0.9),
            detail=f"torch {step['torch_seconds_per_iteration'] * 1e3:.0f} ms/step, bridge "
            f"{step['bridge_seconds_per_iteration'] * 1e3:.0f} ms/step; {setup}",
            raw=result,
        ),
        Row(
            "1d",
            "the same step against the hand-written module with BatchNorm folded "
            "(like for like: the export folds it)",
            folded["throughput_ratio_median"],
            detail=f"torch (folded) {folded['torch_seconds_per_iteration'] * 1e3:.0f} ms/step, "
            f"bridge {folded['bridge_seconds_per_iteration'] * 1e3:.0f} ms/step",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    raw = args.out.with_name("bench_bridge.raw.json")
    command = ["--rounds", str(args.rounds), "--iters", "1", "--threads", "1", "--out", str(raw)]
    table = rows(run_json("bench_bridge.py", command, raw, args.timeout))
    save_rows(table, args.out)
    for row in table:
        print(f"{row.id:3s} {row.value:.3f}  {row.detail}")


if __name__ == "__main__":
    main()
