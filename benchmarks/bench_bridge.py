"""Bridge throughput against the hand-written torch module it was exported from (issue 3).

Target: forward+backward through the bridge runs at >= 0.9x the throughput of the
equivalent hand-written torch module (CIFAR-sized ResNet-style network, batch 128),
measured in one run.

Method: a ResNet-20-style network (3 stages of 3 basic blocks, 16/32/64 channels,
BatchNorm, identity and 1x1-projection shortcuts, global average pool, linear head;
~0.27 M parameters) is built with seeded weights and exported with torch's TorchScript
exporter (eval mode, opset 17, dynamic batch); ``robustedge.bridge.convert`` turns the
ONNX graph back into a torch module. Both modules run the attack workload: forward on a
batch of 128 32x32 inputs, cross-entropy, backward to the input (``torch.autograd.grad``
w.r.t. the input; parameter gradients are not needed by attacks). Rounds alternate the
two modules so that drift of a shared machine hits both; per round the throughput
ratio bridge/torch is taken and the median over rounds is reported (on wall time, and
on process CPU time, which a loaded machine disturbs less), together with the median
seconds per iteration of each. The exported graph has BatchNorm folded into the
convolutions, so the bridge also runs against the hand-written module with BatchNorm
folded the same way (the like-for-like comparison). A full ``loss.backward()`` (parameter gradients
too, the fine-tuning workload) is measured the same way for information.

    .venv/bin/python benchmarks/bench_bridge.py [--batch 128] [--rounds 9] [--iters 1]
        [--threads N] [--out benchmarks/results/bridge.json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from cifar_resnet import ResNet20
from torch import nn

from robustedge.bridge import convert, measure_fidelity


def build_reference(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = ResNet20().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    for param in net.parameters():
        param.requires_grad_(True)
    return net


def fold_batchnorm(net: ResNet20) -> nn.Module:
    """The same network with every BatchNorm folded into its convolution, as the
    exporter's eval-mode graph has it: the like-for-like hand-written reference."""
    from copy import deepcopy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = deepcopy(net)
    fused.stem[0] = fuse_conv_bn_eval(fused.stem[0], fused.stem[1])
    fused.stem[1] = nn.Identity()
    for block in fused.layers:
        block.conv1 = fuse_conv_bn_eval(block.conv1, block.bn1)
        block.conv2 = fuse_conv_bn_eval(block.conv2, block.bn2)
        block.bn1, block.bn2 = nn.Identity(), nn.Identity()
        if isinstance(block.shortcut, nn.Sequential):
            block.shortcut[0] = fuse_conv_bn_eval(block.shortcut[0], block.shortcut[1])
            block.shortcut[1] = nn.Identity()
    for param in fused.parameters():
        param.requires_grad_(True)
    return fused.eval()


def export(net: nn.Module, sample: torch.Tensor) -> onnx.ModelProto:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (sample,),
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    return onnx.load_from_string(buffer.getvalue())


def step_input_gradient(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    xx = x.clone().requires_grad_(True)
    loss = F.cross_entropy(module(xx), y)
    torch.autograd.grad(loss, xx)


def step_full_backward(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    module.zero_grad(set_to_none=True)
    xx = x.clone().requires_grad_(True)
    F.cross_entropy(module(xx), y).backward()


def seconds_per_iteration(step, module: nn.Module, x, y, iters: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) per iteration."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(iters):
        step(module, x, y)
    return (time.perf_counter() - wall) / iters, (time.process_time() - cpu) / iters


def compare(step, reference: nn.Module, bridged: nn.Module, x, y, rounds: int, iters: int) -> dict:
    for module in (reference, bridged):  # warm-up: allocator, oneDNN primitive caches
        step(module, x, y)
        step(module, x, y)
    ref_times: list[tuple[float, float]] = []
    bridge_times: list[tuple[float, float]] = []
    for round_index in range(rounds):
        order = [(reference, ref_times), (bridged, bridge_times)]
        if round_index % 2:
            order.reverse()
        for module, times in order:
            times.append(seconds_per_iteration(step, module, x, y, iters))
    # Throughput ratio bridge / torch per round, on wall time and on process CPU time
    # (the latter does not count time the OS gave to other processes: steadier on a
    # shared machine).
    wall = [r[0] / b[0] for r, b in zip(ref_times, bridge_times, strict=True)]
    cpu = [r[1] / b[1] for r, b in zip(ref_times, bridge_times, strict=True)]
    return {
        "throughput_ratio_median": statistics.median(wall),
        "throughput_ratio_min": min(wall),
        "cpu_throughput_ratio_median": statistics.median(cpu),
        "torch_seconds_per_iteration": statistics.median(t[0] for t in ref_times),
        "bridge_seconds_per_iteration": statistics.median(t[0] for t in bridge_times),
        "wall_ratios": wall,
        "cpu_ratios": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--iters", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    reference = build_reference()
    x = torch.rand(args.batch, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 10, (args.batch,), generator=torch.Generator().manual_seed(2))
    model = export(reference, x[:1])
    folded = fold_batchnorm(reference)
    bridged = convert(model)
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    fidelity = measure_fidelity(bridged, session, x.numpy())
    with torch.no_grad():
        torch_vs_bridge = float((reference(x) - bridged.module(x)).abs().max())

    results = {
        "network": "ResNet-20-style, 32x32x3 input, 10 classes",
        "parameters": sum(p.numel() for p in reference.parameters()),
        "onnx_nodes": len(model.graph.node),
        "bridge_layers": len(bridged.weights),
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "rounds": args.rounds,
        "iterations_per_round": args.iters,
        "fidelity_vs_onnxruntime": {
            "max_abs_diff": fidelity.max_abs_diff,
            "top1": fidelity.top1_agreement,
        },
        "max_abs_diff_vs_torch": torch_vs_bridge,
        "input_gradient": compare(
            step_input_gradient, reference, bridged.module, x, y, args.rounds, args.iters
        ),
        "full_backward": compare(
            step_full_backward, reference, bridged.module, x, y, args.rounds, args.iters
        ),
        "input_gradient_vs_folded_bn": compare(
            step_input_gradient, folded, bridged.module, x, y, args.rounds, args.iters
        ),
        "target": 0.9,
    }
    print(f"network        {results['network']}, {results['parameters']} parameters")
    print(f"batch          {args.batch}")
    print(f"threads        {results['threads']}")
    print(f"fidelity       max|bridge - onnxruntime| {fidelity.max_abs_diff:.2e}")
    print(
        "workload                     torch s/it  bridge s/it  ratio(median)  ratio(min)"
        "  cpu-ratio  target"
    )
    for key in ("input_gradient", "full_backward", "input_gradient_vs_folded_bn"):
        r = results[key]
        print(
            f"{key:<28} {r['torch_seconds_per_iteration']:>8.4f}"
            f"  {r['bridge_seconds_per_iteration']:>11.4f}"
            f"  {r['throughput_ratio_median']:>13.3f}  {r['throughput_ratio_min']:>10.3f}"
            f"  {r['cpu_throughput_ratio_median']:>9.3f}  >= 0.9"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
