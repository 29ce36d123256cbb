"""Figure 8: peak resident memory of a worker attacking a CIFAR-sized ResNet at batch 128.

A fresh process does what the service's worker does for a white-box attack unit:
imports the worker's modules (``robustedge.service.pipeline``: torch, onnxruntime,
INC, the attack registry), loads the ONNX model from disk, converts it with the
bridge, opens an onnxruntime session, and runs RobustEdge's PGD (L-inf, 8/255) on
128 CIFAR-sized inputs in one batch, then scores the result with onnxruntime. Its
peak RSS (``ru_maxrss``) is the figure; the RSS after the imports and after loading
are reported apart, so the attack's own share is visible. PGD's peak does not grow
with the number of steps (each step's autograd graph is freed before the next), so
``--steps`` defaults to 3 to keep the run short.

    .venv-bench/bin/python benchmarks/worker_memory.py --out results/memory.raw.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
from results_table import Row, save_rows


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def child(steps: int, batch: int) -> dict:
    """Runs in the fresh process: one attack unit, like the worker."""
    import numpy as np
    import onnxruntime as ort

    import robustedge.service.pipeline  # noqa: F401 - the worker's imports, counted in its RSS
    from robustedge.attacks import AttackTarget, get_attack
    from robustedge.bridge import convert

    after_imports = rss_mb()
    import cifar_resnet

    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "resnet20.onnx"
        path.write_bytes(cifar_resnet.export(cifar_resnet.build()).SerializeToString())
        module = convert(path).module
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def predict(x: np.ndarray) -> np.ndarray:
        return session.run(None, {"input": np.ascontiguousarray(x, dtype=np.float32)})[0]

    x = cifar_resnet.batch(batch).numpy()
    y = predict(x).argmax(1).astype(np.int64)
    after_load = rss_mb()
    target = AttackTarget(predict, module, cifar_resnet.NUM_CLASSES, cifar_resnet.INPUT_SHAPE)
    x_adv = (
        get_attack("pgd")
        .generate(
            target,
            x,
            y,
            epsilon=8 / 255,
            norm="linf",
            params={"steps": steps, "batch_size": batch},
            input_range=(0.0, 1.0),
            seed=0,
        )
        .x_adv
    )
    predict(x_adv)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "steps": steps,
        "batch": batch,
        "rss_after_imports_mb": after_imports,
        "rss_after_load_mb": after_load,
        "peak_rss_mb": peak,
    }


def rows(m: dict) -> list[Row]:
    return [
        Row(
            "8",
            f"peak RSS of a worker attacking ResNet-20 (CIFAR size) at batch {m['batch']}",
            m["peak_rss_mb"],
            unit="MB",
            detail=f"after the worker's imports {m['rss_after_imports_mb']:.0f} MB, model "
            f"and batch loaded {m['rss_after_load_mb']:.0f} MB, peak during PGD "
            f"(L-inf, {m['steps']} steps) {m['peak_rss_mb']:.0f} MB: the attack adds "
            f"{m['peak_rss_mb'] - m['rss_after_load_mb']:.0f} MB",
            raw=m,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.steps, args.batch)))
        return
    if args.out is None:
        parser.error("--out is required")
    # A fresh interpreter: ru_maxrss is a high-water mark of the whole process.
    completed = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--steps",
            str(args.steps),
            "--batch",
            str(args.batch),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the worker process failed: {completed.stderr[-2000:]}")
    table = rows(json.loads(completed.stdout.strip().splitlines()[-1]))
    save_rows(table, args.out)
    for row in table:
        print(f"{row.id:3s} {row.value:.0f} {row.unit}  {row.detail}")


if __name__ == "__main__":
    main()
