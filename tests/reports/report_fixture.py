"""Realistic reports, built in code, that every renderer and gate test reads.

The main one mirrors what the service produces for the digits CNN: `base` plus an int8
(static QDQ) and a 50% pruned variant; FGSM and PGD at three epsilons, white-box
on every variant and transferred from `base`; CPU latency for every variant and
OpenVINO latency for two (the third skipped); one flag; the environment. The
numbers are plausible but fixed, so golden files stay stable. Robust accuracies
are whole counts over n=300 and their intervals are real Wilson intervals.

Kept out of conftest.py so that test modules can import the builders by a
unique module name (several test folders have a conftest.py).
"""

from __future__ import annotations

import math

from google.protobuf import struct_pb2

from robustedge.client.gates import evaluate_gates
from robustedge.v1 import evaluation_pb2 as pb

N = 300
EPSILONS = (8 / 255, 0.05, 0.1)
# Robust accuracy per (attack, target variant), per epsilon, white-box.
WHITE_BOX = {
    ("fgsm", "base"): (0.62, 0.47, 0.21),
    ("fgsm", "int8"): (0.60, 0.44, 0.19),
    ("fgsm", "pruned"): (0.64, 0.49, 0.24),
    ("pgd", "base"): (0.51, 0.33, 0.06),
    ("pgd", "int8"): (0.46, 0.30, 0.04),
    ("pgd", "pruned"): (0.53, 0.36, 0.08),
}
# Examples crafted on base, scored on the target.
TRANSFER = {
    ("fgsm", "int8"): (0.64, 0.49, 0.23),
    ("fgsm", "pruned"): (0.66, 0.52, 0.27),
    ("pgd", "int8"): (0.55, 0.38, 0.09),
    ("pgd", "pruned"): (0.58, 0.41, 0.12),
}
CLEAN = {"base": 0.953, "int8": 0.950, "pruned": 0.940}

GATES = (
    "robust_accuracy[attack=pgd, eps=0.1, variant=int8] >= 0.03",
    "drop(robust_accuracy[attack=pgd, eps=8/255], base, int8) <= 0.02",
    "latency.p50_ms[variant=int8, provider=cpu] <= 2.0",
    "clean_accuracy[variant=int9] >= 0.9",
)


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval (95%) of a binomial proportion."""
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _struct(values: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def _attack_params(attack: str, epsilon: float) -> dict:
    if attack == "fgsm":
        return {"norm": "linf", "targeted": False, "seed": 0}
    return {"norm": "linf", "steps": 10, "step_size": 0.01, "restarts": 1, "seed": 0}


def _add_attack(report: pb.Report, attack: str, mode: int, source: str, target: str,
                epsilon: float, accuracy: float) -> None:  # fmt: skip
    correct = round(accuracy * N)
    low, high = wilson(correct, N)
    clean = CLEAN[target]
    result = report.attacks.add(
        attack=attack,
        mode=mode,
        norm="linf",
        epsilon=epsilon,
        source_variant=source,
        target_variant=target,
        n=N,
        robust_accuracy=correct / N,
        ci_low=low,
        ci_high=high,
        mean_linf=epsilon,
        mean_l2=epsilon * 6.9,
        median_linf=epsilon,
        median_l2=epsilon * 7.1,
        seconds=0.4 if attack == "pgd" else 0.05,
        trusted=True,
        clean_accuracy=clean,
    )
    result.params.CopyFrom(_struct(_attack_params(attack, epsilon)))
    # Flipped fraction of the originally correct samples (never above 1).
    result.attack_success_rate = round(max(0.0, (clean - correct / N) / clean), 4)


def build_report(with_gates: bool = True) -> pb.Report:
    """The fixture report; `with_gates=False` leaves `gates` empty."""
    report = pb.Report(job_id="job-7f3a9c2e", job_state=pb.JOB_STATE_SUCCEEDED, samples=N)
    report.seconds = 48.6
    report.created_at.FromSeconds(1_795_000_000)
    model = report.model
    model.sha256 = "9c1f3e5a7b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e"
    model.opset = 17
    model.parameters = 20_586
    model.size_bytes = 83_211
    model.ir_version = 9
    model.producer = "pytorch 2.13.0"
    model.macs = 190_848
    model.num_classes = 10
    model.inputs.add(name="input", elem_type="float", shape=[-1, 1, 8, 8])
    model.outputs.add(name="logits", elem_type="float", shape=[-1, 10])
    dataset = report.dataset
    dataset.sha256 = "4e2a6c8e0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a"
    dataset.samples = 360
    dataset.sample_shape.extend([1, 8, 8])
    dataset.classes = 10
    dataset.label_min, dataset.label_max = 0, 9
    dataset.input_min, dataset.input_max = 0.0, 1.0

    spec = report.spec
    spec.samples, spec.seed = N, 0
    int8_step = pb.CompressionStep(
        compressor="quantize", params=_struct({"approach": "static", "format": "qdq"})
    )
    prune_step = pb.CompressionStep(
        compressor="prune", params=_struct({"pattern": "unstructured", "sparsity": 0.5})
    )
    spec.variants.add(name="int8", steps=[int8_step])
    spec.variants.add(name="pruned", steps=[prune_step])
    for attack in ("fgsm", "pgd"):
        spec.attacks.add(attack=attack, epsilons=EPSILONS, norm="linf")
    spec.latency.providers.extend(["cpu", "openvino"])
    spec.latency.batch_sizes.append(1)
    spec.latency.threads.append(1)
    spec.gates.extend(GATES)

    base = report.variants.add(name="base", ok=True, size_bytes=83_211, parameters=20_586)
    base.clean_accuracy = CLEAN["base"]
    base.sparsity = 0.0
    base.gzip_size_bytes = 76_904
    base.fidelity.CopyFrom(pb.Fidelity(max_abs_diff=2.4e-6, top1_agreement=1.0, n=N, passed=True))
    int8 = report.variants.add(name="int8", ok=True, size_bytes=27_480, steps=[int8_step])
    int8.clean_accuracy = CLEAN["int8"]
    int8.build_seconds = 3.2
    int8.gzip_size_bytes = 22_113
    # Sparsity of a quantized graph was not computed: it must render as "—".
    int8.fidelity.CopyFrom(
        pb.Fidelity(max_abs_diff=0.0412, top1_agreement=0.9933, n=N, passed=True)
    )
    pruned = report.variants.add(name="pruned", ok=True, size_bytes=83_211, steps=[prune_step])
    pruned.clean_accuracy = CLEAN["pruned"]
    pruned.sparsity = 0.5
    pruned.parameters = 20_586
    pruned.build_seconds = 11.7
    pruned.gzip_size_bytes = 45_871
    pruned.fidelity.CopyFrom(pb.Fidelity(max_abs_diff=3.1e-6, top1_agreement=1.0, n=N, passed=True))

    for attack in ("fgsm", "pgd"):
        for target in ("base", "int8", "pruned"):
            for epsilon, accuracy in zip(EPSILONS, WHITE_BOX[(attack, target)], strict=True):
                _add_attack(report, attack, pb.ATTACK_MODE_WHITE_BOX, target, target, epsilon,
                            accuracy)  # fmt: skip
        for target in ("int8", "pruned"):
            for epsilon, accuracy in zip(EPSILONS, TRANSFER[(attack, target)], strict=True):
                _add_attack(report, attack, pb.ATTACK_MODE_TRANSFER, "base", target, epsilon,
                            accuracy)  # fmt: skip

    cpu = (("base", 0.412, 0.031), ("int8", 0.236, 0.022), ("pruned", 0.405, 0.034))
    for variant, p50, std in cpu:
        report.latency.add(
            variant=variant, provider="cpu", threads=1, batch_size=1, iterations=200, warmup=10,
            p50_ms=p50, p90_ms=p50 * 1.12, p99_ms=p50 * 1.45, mean_ms=p50 * 1.03, std_ms=std,
            min_ms=p50 * 0.93, throughput=1000.0 / p50, session_seconds=0.021, runtime="default",
        )  # fmt: skip
    for variant, p50, std in (("base", 0.301, 0.025), ("int8", 0.198, 0.019)):
        report.latency.add(
            variant=variant, provider="openvino", threads=1, batch_size=1, iterations=200,
            warmup=10, p50_ms=p50, p90_ms=p50 * 1.1, p99_ms=p50 * 1.6, mean_ms=p50 * 1.04,
            std_ms=std, min_ms=p50 * 0.9, throughput=1000.0 / p50, session_seconds=0.35,
            runtime="openvino",
        )  # fmt: skip
    report.latency.add(
        variant="pruned", provider="openvino", threads=1, batch_size=1, runtime="openvino",
        skipped_reason="the OpenVINO runtime was busy past the time budget",
    )  # fmt: skip

    report.flags.add(
        code="calibration_overlaps_evaluation",
        severity=pb.FLAG_SEVERITY_WARNING,
        message="All samples are evaluation samples, so quantization calibration and"
        " fine-tuning used them too; lower `samples` to keep a holdout split.",
    )
    env = report.environment
    env.versions.update(
        {
            "robustedge": "0.1.0",
            "onnxruntime": "1.31.1",
            "onnx": "1.23.2",
            "torch": "2.13.0",
            "neural-compressor": "3.7.1",
            "adversarial-robustness-toolbox": "1.20.1",
            "numpy": "1.26.4",
        }
    )
    env.cpu = "Intel(R) Xeon(R) Platinum 8480+"
    env.cpu_count = 16
    env.platform = "Linux-6.1.0-x86_64-with-glibc2.36"
    env.python = "3.11.2"
    if with_gates:
        report.gates.extend(evaluate_gates(report, GATES))
    return report


def build_degraded_report() -> pb.Report:
    """The fixture after things went wrong: the job failed part-way, `pruned`
    did not build, int8's bridge failed its fidelity check (so its white-box
    results are untrusted) and a gate names a metric that was not measured."""
    report = build_report(with_gates=False)
    report.job_state = pb.JOB_STATE_FAILED
    report.error = "latency measurement of pruned failed: session creation timed out"
    pruned = report.variants[2]
    pruned.Clear()
    pruned.name, pruned.ok = "pruned", False
    pruned.error = "RuntimeError: pruning left a layer with no channels"
    pruned.steps.extend(report.spec.variants[1].steps)
    kept = [row for row in report.attacks if row.target_variant != "pruned"]
    del report.attacks[:]
    report.attacks.extend(kept)
    kept_latency = [row for row in report.latency if row.variant != "pruned"]
    del report.latency[:]
    report.latency.extend(kept_latency)
    int8 = report.variants[1]
    int8.fidelity.top1_agreement = 0.9567
    int8.fidelity.passed = False
    for row in report.attacks:
        if row.target_variant == "int8" and row.mode == pb.ATTACK_MODE_WHITE_BOX:
            row.trusted = False
    report.flags.add(
        code="fidelity_failed",
        severity=pb.FLAG_SEVERITY_WARNING,
        variant="int8",
        message="The torch replica of int8 does not match onnxruntime (outputs differ from"
        " onnxruntime); its white-box results are marked untrusted.",
    )
    report.gates.extend(
        evaluate_gates(
            report,
            [
                "robust_accuracy[attack=pgd, eps=0.1, variant=int8] >= 0.03",
                "robust_accuracy[attack=pgd, eps=0.1, variant=int8, mode=transfer] >= 0.05",
                "sparsity[variant=pruned] >= 0.5",
            ],
        )
    )
    return report


# -- robustness-aware search (issue 11) ---------------------------------------------

SEARCH_EPSILON = 0.05
PRUNE_50 = "magnitude prune 50% of this layer only"
QUANTIZE_LAYER = "int8 static quantize of this layer only"


def _step(compressor: str, **params: object) -> pb.CompressionStep:
    return pb.CompressionStep(compressor=compressor, params=_struct(params))


def _channel(sparsity: float, round_to: int = 8, steps: int = 0) -> pb.CompressionStep:
    params: dict[str, object] = {"pattern": "channel", "criterion": "l2", "sparsity": sparsity,
                                 "round_to": round_to}  # fmt: skip
    if steps:
        params["steps"] = steps
    return _step("prune", **params)


STATIC = {"approach": "static", "format": "qdq"}
# name, origin, steps, (clean, robust, size ratio, latency ratio), within, front, chosen
SEARCH_CANDIDATES = [
    ("c01", "anchor", [_step("quantize", **STATIC)], (0.947, 0.358, 0.331, 0.62),
     True, True, False),
    ("c02", "anchor", [_channel(0.3, 1)], (0.942, 0.392, 0.712, 0.77), False, True, False),
    ("c03", "random", [_channel(0.5), _step("quantize", **STATIC)], (0.921, 0.300, 0.181, 0.41),
     False, False, False),
    ("c04", "random", [_step("cluster", clusters=16), _step("quantize", **STATIC)],
     (0.944, 0.350, 0.331, 0.64), True, False, False),
    ("c05", "mutation of c01", [_channel(0.2), _step("quantize", **STATIC)],
     (0.945, 0.408, 0.272, 0.55), True, True, True),
    ("c06", "mutation of c05", [_channel(0.3, 8, 200), _step("quantize", **STATIC)], None,
     False, False, False),
    ("c07", "mutation of c05",
     [_step("prune", pattern="channel", criterion="l2", round_to=16,
            layer_sparsity={"conv1.weight": 0.1, "conv2.weight": 0.4, "fc1.weight": 0.25}),
      _step("quantize", approach="dynamic", float_layers=["conv1.weight"])],
     (0.942, 0.333, 0.258, 0.83), False, True, False),
    ("c08", "random", [_step("quantize", approach="dynamic")], (0.951, 0.367, 0.301, 0.92),
     False, False, False),
    ("c09", "mutation of c05", [_step("prune", pattern="unstructured", sparsity=0.5),
                                _step("quantize", **STATIC)], (0.936, 0.375, 0.331, 0.63),
     True, False, False),
]  # fmt: skip
# variant, preset, clean, robust, size ratio, latency ratio, within budgets
SEARCH_COMPARISON = [
    ("int8-static", "int8", 0.950, 0.300, 0.330, 0.63, True),
    ("int8-dynamic", "int8", 0.951, 0.310, 0.301, 0.93, False),
    ("channel-l2-30", "pruning-sweep", 0.940, 0.370, 0.712, 0.77, False),
    ("searched", "searched", 0.947, 0.393, 0.272, 0.56, True),
]


def build_search_report() -> pb.Report:
    """The fixture after a job with ``search: {...}`` and two-method layer sensitivity:
    the int8 and pruning-sweep preset variants, the searched variant, nine candidates
    (one chosen, one failed, one reused, some off the front or over a budget)."""
    report = build_report(with_gates=False)
    base_size = report.variants[0].size_bytes
    for name, _, clean, _, size, _, _ in SEARCH_COMPARISON:
        variant = report.variants.add(name=name, ok=True, size_bytes=round(base_size * size))
        variant.clean_accuracy = clean
    searched = report.variants[-1]
    searched.steps.extend(SEARCH_CANDIDATES[4][2])

    search = report.search
    search.variant = "searched"
    search.attack, search.epsilon = "pgd", SEARCH_EPSILON
    search.max_clean_drop, search.max_size_ratio, search.max_latency_ratio = 0.02, 0.5, 0.8
    search.latency_batch_size, search.size_metric = 128, "file"
    search.seed, search.validation_samples = 0, 120
    search.evaluations, search.reused, search.seconds = 9, 1, 184.3
    search.stopped_because = "evaluation budget (9) used"
    search.base_clean_accuracy, search.base_robust_accuracy = 0.950, 0.342
    for name, origin, steps, numbers, within, front, chosen in SEARCH_CANDIDATES:
        candidate = search.candidates.add(
            name=name, origin=origin, steps=steps, ok=numbers is not None,
            within_budgets=within, on_front=front, chosen=chosen,
        )  # fmt: skip
        if numbers is None:
            candidate.error = "RuntimeError: fine-tuning diverged (loss is nan after 140 steps)"
            candidate.seconds = 21.4
            continue
        clean, robust, size, latency = numbers
        candidate.clean_accuracy, candidate.robust_accuracy = clean, robust
        candidate.size_ratio, candidate.size_bytes = size, round(base_size * size)
        candidate.latency_ratio, candidate.latency_ms = latency, round(latency * 31.7, 2)
        candidate.reused = name == "c08"
        candidate.seconds = 0.0 if candidate.reused else 17.9
    for variant, preset, clean, robust, size, latency, within in SEARCH_COMPARISON:
        search.comparison.add(
            variant=variant, preset=preset, clean_accuracy=clean, robust_accuracy=robust,
            size_ratio=size, latency_ratio=latency, within_budgets=within,
        )  # fmt: skip
    search.verdict = (
        "searched keeps 0.393 robust accuracy under pgd at ε 0.05 within the budgets, "
        "+0.093 over the best plain variant within the same budgets (int8-static, 0.300)."
    )

    for layer, op, prune_change, quantize_change in (
        ("conv2.weight", "Conv", -0.083, -0.017),
        ("fc1.weight", "Gemm", -0.050, -0.008),
        ("conv1.weight", "Conv", -0.017, -0.033),
        ("fc2.weight", "Gemm", 0.008, 0.0),
    ):
        for method, change in ((PRUNE_50, prune_change), (QUANTIZE_LAYER, quantize_change)):
            report.sensitivity.add(
                layer=layer, op_type=op, method=method, clean_accuracy=0.953 + change / 3,
                robust_accuracy=0.33 + change, robust_change=change, clean_change=change / 3,
                attack="pgd", epsilon=SEARCH_EPSILON,
            )  # fmt: skip
    report.spec.search.enabled = True
    report.spec.search.max_size_ratio, report.spec.search.max_latency_ratio = 0.5, 0.8
    report.spec.sensitivity.enabled = True
    return report
