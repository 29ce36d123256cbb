"""Attack throughput against IBM ART on the digits model (issue 5).

Targets: every attack runs at >= 1.0x the throughput of ART's implementation on the
same model and batch; own CW-L2 and DeepFool at >= 10x ART with a success rate
within 2 points of ART's.

Method: the digits CNN (examples/digits.py, trained with seed 0) is exported to ONNX
and its torch replica is rebuilt from the ONNX initializers; both implementations
attack the same samples of the evaluation set with the same parameters and batch
size, and both results are scored by onnxruntime. Rounds alternate ours and ART's so
that drift of a shared machine hits both; the ratio (ART seconds / our seconds, i.e.
our throughput over ART's) is the median over rounds. ART's CW and DeepFool loop per
sample and take minutes, so they run ``--slow-rounds`` times (default 1).

Pairs (ours vs ART, same parameters):
    fgsm      FastGradientMethod (eps, true labels)
    bim       BasicIterativeMethod (10 steps, step 1.25 eps / 10)
    pgd       ProjectedGradientDescent L-inf (20 steps, step eps/8, 1 random start)
    pgd-l2    ProjectedGradientDescent L2 (20 steps, step eps/8, 1 random start)
    apgd-ce   AutoProjectedGradientDescent (50 steps, CE loss)
    apgd-dlr  AutoProjectedGradientDescent (50 steps, DLR loss)
    universal UniversalPerturbation (FGSM inner attack, 5 passes, eps 0.2) vs ours (defaults)
    hopskipjump HopSkipJump L2 (10 iterations, 500 evals) on onnxruntime labels, unbounded
    square    SquareAttack L-inf (1000 queries; ART's default p_init 0.8, ours 0.3)
    cw        CarliniL2Method (ART defaults) vs ours (defaults), unbounded
    deepfool  DeepFool (ART defaults: 100 steps, overshoot 0.02, 10 candidates) vs ours

    .venv/bin/python benchmarks/bench_attacks.py [--samples 200] [--rounds 3]
        [--slow-rounds 1] [--only pgd,cw] [--threads 1] [--out benchmarks/results/attacks.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

import digits as digits_example

from robustedge.attacks import AttackTarget, get_attack

SLOW = {"cw", "deepfool", "hopskipjump", "universal"}
#: HopSkipJump budget for the comparison (same for both; labels from onnxruntime only).
HSJ = {"max_iter": 10, "max_eval": 500, "init_eval": 50, "init_size": 100}


def build_target(work: Path, threads: int) -> tuple[AttackTarget, np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        artifacts = digits_example.build(work)
    net = digits_example.make_network()
    weights = {
        init.name: torch.from_numpy(numpy_helper.to_array(init).copy())
        for init in onnx.load(str(artifacts.model)).graph.initializer
    }
    net.load_state_dict(weights)
    net.eval()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(
        str(artifacts.model), options, providers=["CPUExecutionProvider"]
    )

    def predict(x: np.ndarray) -> np.ndarray:
        return session.run(None, {"input": np.ascontiguousarray(x, dtype=np.float32)})[0]

    data = np.load(artifacts.dataset)
    return AttackTarget(predict, net, 10, (1, 8, 8)), data["x"], data["y"]


def pairs(target: AttackTarget, batch: int) -> dict[str, tuple[Callable, Callable, float, str]]:
    """name -> (ours(x, y), art(x, y), epsilon, norm)."""
    from art.attacks import evasion
    from art.estimators.classification import (
        BlackBoxClassifierNeuralNetwork,
        PyTorchClassifier,
    )

    clf = PyTorchClassifier(
        target.module,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=target.input_shape,
        nb_classes=target.num_classes,
        clip_values=(0.0, 1.0),
    )
    black_box = BlackBoxClassifierNeuralNetwork(
        target.predict,
        input_shape=target.input_shape,
        nb_classes=target.num_classes,
        clip_values=(0.0, 1.0),
    )
    no_module = AttackTarget(target.predict, None, target.num_classes, target.input_shape)

    def ours(name: str, eps: float, norm: str, params: dict, tgt: AttackTarget = target):
        def run(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return get_attack(name).generate(
                tgt, x, y, epsilon=eps, norm=norm, params={"batch_size": batch, **params},
                input_range=(0.0, 1.0), seed=0,
            ).x_adv  # fmt: skip

        return run

    def art(make: Callable[[], object], with_labels: bool = True):
        def run(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            np.random.seed(0)
            attack = make()
            return attack.generate(x, y) if with_labels else attack.generate(x)  # type: ignore[attr-defined]

        return run

    e = 0.1
    return {
        "fgsm": (
            ours("fgsm", e, "linf", {}),
            art(lambda: evasion.FastGradientMethod(clf, eps=e, batch_size=batch)),
            e, "linf",
        ),
        "bim": (
            ours("bim", e, "linf", {"steps": 10}),
            art(lambda: evasion.BasicIterativeMethod(
                clf, eps=e, eps_step=1.25 * e / 10, max_iter=10, batch_size=batch, verbose=False)),
            e, "linf",
        ),
        "pgd": (
            ours("pgd", e, "linf", {"steps": 20, "step_size": e / 8}),
            art(lambda: evasion.ProjectedGradientDescent(
                clf, eps=e, eps_step=e / 8, max_iter=20, num_random_init=1, batch_size=batch,
                verbose=False)),
            e, "linf",
        ),
        "pgd-l2": (
            ours("pgd", 1.0, "l2", {"steps": 20, "step_size": 1.0 / 8}),
            art(lambda: evasion.ProjectedGradientDescent(
                clf, norm=2, eps=1.0, eps_step=1.0 / 8, max_iter=20, num_random_init=1,
                batch_size=batch, verbose=False)),
            1.0, "l2",
        ),
        "apgd-ce": (
            ours("apgd-ce", e, "linf", {"steps": 50}),
            art(lambda: evasion.AutoProjectedGradientDescent(
                clf, norm=np.inf, eps=e, eps_step=2 * e, max_iter=50, nb_random_init=1,
                batch_size=batch, loss_type="cross_entropy", verbose=False)),
            e, "linf",
        ),
        "apgd-dlr": (
            ours("apgd-dlr", e, "linf", {"steps": 50}),
            art(lambda: evasion.AutoProjectedGradientDescent(
                clf, norm=np.inf, eps=e, eps_step=2 * e, max_iter=50, nb_random_init=1,
                batch_size=batch, loss_type="difference_logits_ratio", verbose=False)),
            e, "linf",
        ),
        "universal": (
            ours("universal", 0.2, "linf", {}),
            art(lambda: evasion.UniversalPerturbation(
                clf, attacker="fgsm", attacker_params={"eps": 0.2 / 10}, delta=0.2, max_iter=5,
                eps=0.2, norm=np.inf, batch_size=batch, verbose=False), with_labels=False),
            0.2, "linf",
        ),
        "hopskipjump": (
            ours("hopskipjump", math.inf, "l2", HSJ, no_module),
            art(lambda: evasion.HopSkipJump(
                black_box, batch_size=batch, norm=2, verbose=False, **HSJ), with_labels=False),
            math.inf, "l2",
        ),
        "square": (
            ours("square", e, "linf", {"queries": 1000}, no_module),
            art(lambda: evasion.SquareAttack(
                black_box, norm=np.inf, eps=e, max_iter=1000, nb_restarts=1, batch_size=batch,
                verbose=False)),
            e, "linf",
        ),
        "cw": (
            ours("cw", math.inf, "l2", {}),
            art(lambda: evasion.CarliniL2Method(clf, batch_size=batch, verbose=False)),
            math.inf, "l2",
        ),
        "deepfool": (
            ours("deepfool", math.inf, "l2", {}),
            art(lambda: evasion.DeepFool(clf, batch_size=batch, verbose=False), with_labels=False),
            math.inf, "l2",
        ),
    }  # fmt: skip


def score(target: AttackTarget, x: np.ndarray, y: np.ndarray, x_adv: np.ndarray) -> dict:
    clean = target.predict(x).argmax(1) == y
    adv = target.predict(x_adv).argmax(1) == y
    l2 = np.linalg.norm((x_adv - x).reshape(len(x), -1), axis=1)
    fooled = clean & ~adv
    return {
        "robust_accuracy": float(adv.mean()),
        "success_rate": float(fooled.sum() / max(1, clean.sum())),
        "median_l2_fooled": float(np.median(l2[fooled])) if fooled.any() else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slow-rounds", type=int, default=1)
    parser.add_argument("--only", default="")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/attacks.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as work:
        target, x, y = build_target(Path(work), args.threads)
    x, y = x[: args.samples], y[: args.samples]
    table = pairs(target, args.batch)
    selected = [n for n in table if not args.only or n in args.only.split(",")]
    rows = []
    for name in selected:
        ours, art, eps, norm = table[name]
        if name != "hopskipjump":  # warm-up (allocations, lazy imports) outside the timing
            ours(x[:8], y[:8])
        rounds = args.slow_rounds if name in SLOW else args.rounds
        t_ours, t_art, ratios = [], [], []
        for _ in range(rounds):
            started = time.perf_counter()
            adv_ours = ours(x, y)
            t_ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            adv_art = art(x, y)
            t_art.append(time.perf_counter() - started)
            ratios.append(t_art[-1] / t_ours[-1])
        row = {
            "attack": name,
            "epsilon": eps if math.isfinite(eps) else "inf",
            "norm": norm,
            "samples": len(x),
            "rounds": rounds,
            "ours_seconds": statistics.median(t_ours),
            "art_seconds": statistics.median(t_art),
            "throughput_ratio": statistics.median(ratios),
            "ours": score(target, x, y, adv_ours),
            "art": score(target, x, y, np.asarray(adv_art, dtype=np.float32)),
        }
        rows.append(row)
        print(
            f"{name:9s} ours {row['ours_seconds']:7.2f}s  art {row['art_seconds']:7.2f}s  "
            f"ratio {row['throughput_ratio']:6.1f}x  robust acc ours "
            f"{row['ours']['robust_accuracy']:.3f} art {row['art']['robust_accuracy']:.3f}  "
            f"success ours {row['ours']['success_rate']:.3f} art {row['art']['success_rate']:.3f}",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "attacks_vs_art",
        "torch_threads": args.threads,
        "batch_size": args.batch,
        "versions": {"torch": torch.__version__, "onnxruntime": ort.__version__},
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
