"""Latency of compressed variants vs the base model on a CIFAR-sized ResNet-style network.

Issue 4's targets, measured as ratios against the base model in the same process:
50% channel pruning lowers onnxruntime CPU p50 latency to <= 0.7x, int8 static to <= 0.8x.

The network (random weights: latency does not depend on training) is a ResNet-20-like
CNN for 3x32x32 inputs: a 3x3 stem, three stages of two basic blocks (Conv-BN-ReLU-
Conv-BN + shortcut, 1x1 projection when the width changes), global average pooling
and a linear classifier. It is exported with torch's TorchScript exporter (opset 17).

Method: every variant gets its own onnxruntime CPU session (1 intra-op thread, full
graph optimisation); after warm-up, the variants are timed round-robin, one batch at a
time, so that machine-load drift hits all of them alike; p50/p90 over all rounds.

    python benchmarks/bench_compressors.py [--rounds 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from robustedge.compressors import CompressionData, build_variant

VARIANTS: dict[str, list[dict]] = {
    "channel-l2-50": [{"compressor": "prune", "pattern": "channel", "sparsity": 0.5}],
    "channel-l2-50-r8": [
        {"compressor": "prune", "pattern": "channel", "sparsity": 0.5, "round_to": 8}
    ],
    "channel-l2-50-r16": [
        {"compressor": "prune", "pattern": "channel", "sparsity": 0.5, "round_to": 16}
    ],
    "channel-l2-50-filters": [
        {"compressor": "prune", "pattern": "channel", "sparsity": 0.5, "budget": "filters"}
    ],
    "int8-static-qdq": [{"compressor": "quantize", "approach": "static", "format": "qdq"}],
    "int8-static-qoperator": [
        {"compressor": "quantize", "approach": "static", "format": "qoperator"}
    ],
    "int8-dynamic": [{"compressor": "quantize", "approach": "dynamic"}],
    "channel-l2-50+int8": [
        {"compressor": "prune", "pattern": "channel", "sparsity": 0.5},
        {"compressor": "quantize", "approach": "static", "format": "qdq"},
    ],
}
TARGETS = {"channel-l2-50": 0.7, "channel-l2-50-r16": 0.7, "int8-static-qdq": 0.8}


def resnet_cifar():  # -> torch.nn.Module
    """A wider CIFAR ResNet (32/64/128 channels, two blocks per stage): channel counts
    where onnxruntime's fast convolution paths show what pruning buys."""
    from cifar_resnet import ResNet20

    return ResNet20(widths=(32, 64, 128), blocks_per_stage=2)


def export(path: Path, seed: int) -> onnx.ModelProto:
    import torch

    torch.manual_seed(seed)
    net = resnet_cifar()
    # Non-trivial BatchNorm statistics, so that folding/pruning see realistic scales.
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
    net.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (torch.zeros(1, 3, 32, 32),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    return onnx.load(str(path))


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="timed runs per variant")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench_compressors_"))
    base = export(work / "resnet_cifar.onnx", args.seed)
    # Calibration / fine-tune data: random images (latency does not depend on them).
    calib = rng.random((256, 3, 32, 32), dtype=np.float32)
    labels = rng.integers(0, 10, 256)
    models = {"base": base}
    facts = {}
    for name, steps in VARIANTS.items():
        data = CompressionData(calib, labels, calib, labels, "input", args.seed, work / name)
        built = build_variant(base, steps, data)
        models[name] = built.model
        facts[name] = {
            "build_seconds": built.facts["build_seconds"],
            "size_ratio": built.facts["size_ratio"],
            "macs_ratio": built.facts.get("macs_ratio"),
            "parameters": built.facts["parameters"],
            "conv_parameters": built.facts["conv_parameters"],
        }
    facts["base"] = {
        "parameters": sum(int(np.prod(i.dims)) for i in base.graph.initializer),
        "size_ratio": 1.0,
        "macs_ratio": 1.0,
    }

    sessions = {name: session(model) for name, model in models.items()}
    x = rng.random((args.batch, 3, 32, 32), dtype=np.float32)
    for sess in sessions.values():
        for _ in range(args.warmup):
            sess.run(None, {"input": x})
    timings: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(args.rounds):
        for name, sess in sessions.items():
            start = time.perf_counter()
            sess.run(None, {"input": x})
            timings[name].append((time.perf_counter() - start) * 1e3)

    base_p50 = float(np.percentile(timings["base"], 50))
    results = []
    for name, values in timings.items():
        p50 = float(np.percentile(values, 50))
        row = {
            "variant": name,
            "p50_ms": round(p50, 4),
            "p90_ms": round(float(np.percentile(values, 90)), 4),
            "p50_ratio": round(p50 / base_p50, 4),
            **{k: v for k, v in facts[name].items()},
        }
        if name in TARGETS:
            row["target_ratio"] = TARGETS[name]
            row["meets_target"] = row["p50_ratio"] <= TARGETS[name]
        results.append(row)

    header = (
        f"{'variant':24} {'p50 ms':>8} {'p90 ms':>8} {'p50 x':>7} {'MACs x':>7} "
        f"{'size x':>7}  target"
    )
    print(header)
    print("-" * len(header))
    for row in results:
        target = (
            f"<= {row['target_ratio']} {'ok' if row['meets_target'] else 'MISSED'}"
            if "target_ratio" in row
            else ""
        )
        macs = row.get("macs_ratio")
        print(
            f"{row['variant']:24} {row['p50_ms']:8.3f} {row['p90_ms']:8.3f} "
            f"{row['p50_ratio']:7.3f} {macs if macs is not None else float('nan'):7.3f} "
            f"{row['size_ratio']:7.3f}  {target}"
        )
    report = {
        "benchmark": "compressors latency, ResNet-style CIFAR CNN",
        "rounds": args.rounds,
        "batch": args.batch,
        "threads": 1,
        "onnxruntime": ort.__version__,
        "cpu": platform.processor() or platform.machine(),
        "results": results,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
