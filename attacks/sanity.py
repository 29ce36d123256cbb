"""Sanity checks that catch a falsely "robust" model (AutoAttack's lessons, Croce & Hein 2020).

Each check returns flags: dicts {code, severity, variant, attack, message}, severity
one of "info", "warning", "error". The codes are stable and explained in docs/flags.md.

Inputs are plain data so the checks run anywhere (the service, a notebook, CI):
attack results are dicts with at least ``attack``, ``mode`` ("white_box" | "transfer" |
"black_box"), ``epsilon``, ``source_variant``, ``target_variant``, ``robust_accuracy``
and ``n`` (``norm`` is used when present); per-variant facts are plain numbers.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

Flag = dict[str, str]
Result = Mapping[str, Any]

#: Flag codes (documented in docs/flags.md).
VANISHING_GRADIENTS = "vanishing_gradients"
SOFTMAX_OUTPUTS = "softmax_outputs"
BLACK_BOX_STRONGER = "black_box_stronger_than_white_box"
TRANSFER_STRONGER = "transfer_stronger_than_white_box"
RISING_WITH_EPSILON = "robust_accuracy_rises_with_epsilon"
NON_DETERMINISTIC = "non_deterministic_outputs"
FIDELITY_FAILED = "fidelity_failed"

CODES = (
    VANISHING_GRADIENTS,
    SOFTMAX_OUTPUTS,
    BLACK_BOX_STRONGER,
    TRANSFER_STRONGER,
    RISING_WITH_EPSILON,
    NON_DETERMINISTIC,
    FIDELITY_FAILED,
)


def flag(code: str, severity: str, message: str, *, variant: str = "", attack: str = "") -> Flag:
    if severity not in ("info", "warning", "error"):
        raise ValueError(f"unknown severity {severity!r}")
    return {
        "code": code,
        "severity": severity,
        "variant": variant,
        "attack": attack,
        "message": message,
    }


# -- per-variant facts ------------------------------------------------------------------


def check_gradients(
    variant: str, nonzero_fraction: float, *, attack: str = "", threshold: float = 0.01
) -> list[Flag]:
    """Vanishing gradients: the fraction of non-zero entries of d loss / d input.

    A quantized graph under exact (rounding) semantics, or a saturated softmax, gives
    zero gradients almost everywhere; gradient attacks then fail and report a robustness
    the model does not have.
    """
    if not 0.0 <= nonzero_fraction <= 1.0 or math.isnan(nonzero_fraction):
        raise ValueError(f"nonzero_fraction must be in [0, 1], got {nonzero_fraction!r}")
    if nonzero_fraction >= threshold:
        return []
    severity = "error" if nonzero_fraction == 0.0 else "warning"
    return [
        flag(
            VANISHING_GRADIENTS,
            severity,
            f"Only {nonzero_fraction:.2%} of the input-gradient entries of {variant} are non-zero"
            f" (threshold {threshold:.0%}); white-box attacks on it are unreliable (gradient"
            " masking). Trust its transfer and black-box results instead.",
            variant=variant,
            attack=attack,
        )
    ]


def gradient_nonzero_fraction(
    module: torch.nn.Module, x: np.ndarray, y: np.ndarray, *, batch_size: int = 256
) -> float:
    """Fraction of non-zero entries of the cross-entropy input gradient (the input of
    check_gradients), computed on the replica in eval mode."""
    import torch

    from robustedge.attacks.differentiable import (
        ce_loss,
        eval_mode,
        loss_and_grad,
        module_device,
        to_tensor,
    )

    device = module_device(module)
    nonzero, total = 0, 0
    with eval_mode(module):
        for start in range(0, len(x), batch_size):
            xb = to_tensor(np.asarray(x[start : start + batch_size], np.float32), device)
            yb = to_tensor(np.asarray(y[start : start + batch_size], np.int64), device)
            _, _, grad = loss_and_grad(module, xb, yb, ce_loss)
            nonzero += int(torch.count_nonzero(grad))
            total += grad.numel()
    return nonzero / total if total else 0.0


def check_softmax_outputs(variant: str, scores: np.ndarray, *, atol: float = 1e-3) -> list[Flag]:
    """Softmax outputs: every row in [0, 1] and summing to 1 means the model returns
    probabilities, not logits. Cross-entropy on probabilities saturates (gradients
    vanish for confident samples), and score-based attacks see compressed margins."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or len(scores) == 0:
        return []
    in_unit = bool(scores.min() >= -atol and scores.max() <= 1 + atol)
    sums_to_one = bool(np.allclose(scores.sum(axis=1), 1.0, atol=atol))
    if not (in_unit and sums_to_one):
        return []
    return [
        flag(
            SOFTMAX_OUTPUTS,
            "warning",
            f"{variant} outputs probabilities (rows in [0, 1] summing to 1), not logits."
            " Gradient attacks should use the tensor before the softmax; if the bridge could"
            " not strip it, cross-entropy gradients saturate and white-box robustness is"
            " overestimated. Prefer APGD-DLR (scale-invariant) and black-box results.",
            variant=variant,
        )
    ]


def check_determinism(
    variant: str, attack: str, first: np.ndarray, second: np.ndarray, *, atol: float = 0.0
) -> list[Flag]:
    """Non-deterministic outputs: the same attack with the same seed gave different
    adversarial examples (or a model gave different outputs for the same input)."""
    first, second = np.asarray(first), np.asarray(second)
    if first.shape == second.shape and np.allclose(first, second, rtol=0.0, atol=atol):
        return []
    if first.shape != second.shape:
        detail = f"shapes {first.shape} and {second.shape}"
    else:
        diff = np.abs(first.astype(np.float64) - second.astype(np.float64))
        detail = f"max difference {diff.max():.3g} in {np.count_nonzero(diff > atol)} entries"
    return [
        flag(
            NON_DETERMINISTIC,
            "error",
            f"Two runs of {attack or 'the model'} on {variant} with the same seed differ"
            f" ({detail}); results are not reproducible. Check for dropout or batch-norm in"
            " training mode, non-deterministic kernels, or unseeded randomness.",
            variant=variant,
            attack=attack,
        )
    ]


def check_fidelity(
    variant: str,
    max_abs_diff: float | None,
    top1_agreement: float | None,
    *,
    max_abs_diff_limit: float = 1e-4,
    min_top1_agreement: float = 0.99,
    error: str = "",
) -> list[Flag]:
    """Bridge fidelity failure: the torch replica's outputs differ from onnxruntime's, so
    white-box examples were crafted on a different function than the one that ships."""
    if error:
        return [
            flag(
                FIDELITY_FAILED,
                "warning",
                f"{variant} has no torch replica ({error}); white-box attacks were skipped.",
                variant=variant,
            )
        ]
    problems = []
    if max_abs_diff is not None and max_abs_diff > max_abs_diff_limit:
        problems.append(f"max |diff| {max_abs_diff:.3g} > {max_abs_diff_limit:g}")
    if top1_agreement is not None and top1_agreement < min_top1_agreement:
        problems.append(f"top-1 agreement {top1_agreement:.3f} < {min_top1_agreement:g}")
    if not problems:
        return []
    severity = (
        "error" if top1_agreement is not None and top1_agreement < min_top1_agreement else "warning"
    )
    return [
        flag(
            FIDELITY_FAILED,
            severity,
            f"The torch replica of {variant} does not match onnxruntime ({'; '.join(problems)});"
            " its white-box results are untrusted.",
            variant=variant,
        )
    ]


# -- across attack results ---------------------------------------------------------------


def _margin(n_a: int, n_b: int, tolerance: float) -> float:
    # More than `tolerance` and more than one sample of the smaller set: a single flipped
    # sample is noise, not a finding.
    n = max(1, min(n_a or 1, n_b or 1))
    return max(tolerance, 1.0 / n)


def check_black_box_vs_white_box(
    results: Iterable[Result], *, tolerance: float = 0.02
) -> list[Flag]:
    """Black-box (or transfer) stronger than white-box on the same target and epsilon.

    A white-box attack has strictly more information; if a black-box attack or examples
    transferred from another variant break more samples, the white-box gradients are
    masked or the white-box attack is misconfigured (AutoAttack's red flag).
    """
    by_key: dict[tuple[str, str, float], dict[str, list[Result]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in results:
        key = (str(r["target_variant"]), str(r.get("norm", "")), float(r["epsilon"]))
        by_key[key][str(r["mode"])].append(r)
    flags: list[Flag] = []
    for (target, norm, eps), modes in sorted(by_key.items()):
        white = modes.get("white_box", [])
        if not white:
            continue
        strongest_white = min(white, key=lambda r: float(r["robust_accuracy"]))
        w_acc = float(strongest_white["robust_accuracy"])
        for mode, code in (("black_box", BLACK_BOX_STRONGER), ("transfer", TRANSFER_STRONGER)):
            for other in modes.get(mode, []):
                o_acc = float(other["robust_accuracy"])
                gap = w_acc - o_acc
                if gap > _margin(int(strongest_white["n"]), int(other["n"]), tolerance):
                    source = f" crafted on {other['source_variant']}" if mode == "transfer" else ""
                    flags.append(
                        flag(
                            code,
                            "warning",
                            f"At epsilon {eps:g}{' (' + norm + ')' if norm else ''},"
                            f" {other['attack']} ({mode.replace('_', '-')}{source}) leaves"
                            f" {o_acc:.1%} robust accuracy on {target}, below the strongest"
                            f" white-box attack ({strongest_white['attack']}: {w_acc:.1%}):"
                            " gradient masking is likely, so the white-box numbers overstate"
                            " robustness.",
                            variant=target,
                            attack=str(other["attack"]),
                        )
                    )
    return flags


def check_monotone_in_epsilon(results: Iterable[Result], *, tolerance: float = 0.01) -> list[Flag]:
    """Robust accuracy rising with epsilon for one attack: a larger budget contains every
    smaller one, so a correct, converged attack can only break more samples."""
    curves: dict[tuple[str, str, str, str, str], list[Result]] = defaultdict(list)
    for r in results:
        key = (
            str(r["attack"]),
            str(r["mode"]),
            str(r.get("norm", "")),
            str(r["source_variant"]),
            str(r["target_variant"]),
        )
        curves[key].append(r)
    flags: list[Flag] = []
    for (attack, mode, norm, source, target), rows in sorted(curves.items()):
        rows = sorted(rows, key=lambda r: float(r["epsilon"]))
        for small, large in itertools.pairwise(rows):
            rise = float(large["robust_accuracy"]) - float(small["robust_accuracy"])
            if float(large["epsilon"]) > float(small["epsilon"]) and rise > _margin(
                int(small["n"]), int(large["n"]), tolerance
            ):
                via = f" (crafted on {source})" if mode == "transfer" else ""
                via += f", {norm}" if norm else ""
                flags.append(
                    flag(
                        RISING_WITH_EPSILON,
                        "warning",
                        f"{attack} ({mode.replace('_', '-')}{via}) on {target}: robust accuracy"
                        f" rises from {float(small['robust_accuracy']):.1%} at epsilon"
                        f" {float(small['epsilon']):g} to {float(large['robust_accuracy']):.1%}"
                        f" at {float(large['epsilon']):g}. The attack has not converged (more"
                        " steps or restarts) or its gradients are unreliable.",
                        variant=target,
                        attack=attack,
                    )
                )
    return flags


def check_results(results: Sequence[Result]) -> list[Flag]:
    """Every cross-result check on a list of attack results."""
    return [*check_black_box_vs_white_box(results), *check_monotone_in_epsilon(results)]


def check_report(report: Mapping[str, Any]) -> list[Flag]:
    """All checks that a finished report's data allows, minus flags it already carries.

    ``report`` is the report as plain data (``attacks[]``, ``variants[]`` with
    ``fidelity``, ``flags[]``), as in the JSON report.
    """
    results = [r for r in report.get("attacks", []) if "robust_accuracy" in r]
    found = check_results(results)
    for variant in report.get("variants", []):
        fidelity = variant.get("fidelity") or {}
        name = str(variant.get("name", ""))
        if fidelity and not fidelity.get("passed", True):
            # The service already judged against its thresholds; restate what it measured.
            measured = [
                f"{label} {fidelity[key]:.3g}"
                for key, label in (
                    ("max_abs_diff", "max |diff|"),
                    ("top1_agreement", "top-1 agreement"),
                )
                if fidelity.get(key) is not None
            ]
            reason = str(fidelity.get("error", "")) or ", ".join(measured) or "no details"
            found.append(
                flag(
                    FIDELITY_FAILED,
                    "warning",
                    f"The torch replica of {name} failed its fidelity check ({reason});"
                    " its white-box results are untrusted.",
                    variant=name,
                )
            )
        if fidelity.get("logits_from_pre_softmax"):
            found.append(
                flag(
                    SOFTMAX_OUTPUTS,
                    "info",
                    f"{name} ends in a softmax; white-box attacks used the logits before it.",
                    variant=name,
                )
            )
    seen = {
        (str(f.get("code")), str(f.get("variant", "")), str(f.get("attack", "")))
        for f in report.get("flags", [])
    }
    unique: list[Flag] = []
    for f in found:
        key = (f["code"], f["variant"], f["attack"])
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique
