"""What each sanity flag means and what to do about it, for the HTML report.

A flag's own ``message`` says what happened in this job; the explanation here
says why it matters. Codes are the ones the service emits
(``robustedge.service.pipeline`` and ``robustedge.service.report``); an unknown
code is shown with its message only, never with a guessed explanation.
"""

from __future__ import annotations

__all__ = ["EXPLANATIONS", "explain"]

EXPLANATIONS: dict[str, str] = {
    "fidelity_failed": (
        "White-box attacks take their gradients from a torch replica of the ONNX graph. "
        "When the replica's outputs differ from onnxruntime's, the gradients belong to a "
        "different function: the attack is weaker than it should be and robust accuracy is "
        "likely overestimated. Those results are marked untrusted, and gates on them fail. "
        "Transfer results from a trusted source and black-box results are unaffected."
    ),
    "white_box_skipped": (
        "The variant could not be converted to torch, so gradient-based attacks could not "
        "run on it directly. Its robustness is known only through transferred examples "
        "(crafted on base) and black-box attacks, which are usually weaker: treat its "
        "numbers as an upper bound on robust accuracy."
    ),
    "unit_failed": (
        "One unit of work (an attack, a transfer scoring or a latency measurement) raised an "
        "error, so its results are missing from this report. Tables show “—” where they "
        "would be, and gates that need them fail with an error rather than passing."
    ),
    "calibration_overlaps_evaluation": (
        "Quantization calibration and pruning fine-tuning used the same samples that the "
        "variants are evaluated on, so clean and robust accuracy of compressed variants may "
        "be optimistic. Lower `samples` in the spec (or upload more data) so that a holdout "
        "split remains for calibration."
    ),
    "vanishing_gradients": (
        "Almost every entry of the input gradient is zero, so gradient attacks cannot move "
        "the input: their robust accuracy reflects gradient masking, not robustness. Trust "
        "the variant's transfer and black-box results instead (see docs/flags.md)."
    ),
    "softmax_outputs": (
        "The model returns probabilities, not logits. Cross-entropy on probabilities "
        "saturates for confident samples and score-based attacks see compressed margins. "
        "The bridge attacks the tensor before the softmax where it can find it; prefer "
        "APGD-DLR (scale-invariant) and black-box results when it cannot."
    ),
    "black_box_stronger_than_white_box": (
        "A query-only attack beat a gradient attack on the same variant and budget. With "
        "honest gradients that should not happen, so the white-box attack was probably "
        "weakened by masking or a poor replica: its robust accuracy is overestimated."
    ),
    "transfer_stronger_than_white_box": (
        "Examples crafted on another variant fooled this one more often than examples "
        "crafted on it with its own gradients. Its gradients are likely masked or its "
        "replica is off; treat its white-box numbers as an upper bound."
    ),
    "robust_accuracy_rises_with_epsilon": (
        "A larger perturbation budget left more samples correct. A budget that contains "
        "the smaller one can only do at least as well for the attacker, so the attack is "
        "failing to optimise (too few steps, a bad step size or masked gradients)."
    ),
    "non_deterministic_outputs": (
        "Two identical runs gave different outputs, so numbers are not reproducible with a "
        "seed. Look for dropout or batch-norm in training mode, non-deterministic kernels or "
        "unseeded randomness."
    ),
    "gradient_masking_under_rounding": (
        "Quantized graphs round, and rounding has a zero gradient almost everywhere. The "
        "bridge passes gradients straight through the rounding instead; this flag shows "
        "how little gradient exact rounding semantics would leave, i.e. the robustness a "
        "converter that rounds would have reported without any real robustness behind it."
    ),
    "model_ir_lowered": (
        "The model declared an ONNX IR version the installed onnxruntime refuses; the "
        "server lowered it to one it accepts, which is safe when nothing in the graph needs "
        "the newer version. Numbers describe the lowered copy, which computes the same."
    ),
    "sensitivity_layer_skipped": (
        "Layer sensitivity could not change one layer alone with one of its methods (for "
        "example a layer the quantizer cannot handle by itself), so that layer has no row "
        "for that method. The other rows are unaffected; a missing row is not a layer "
        "without sensitivity."
    ),
}


def explain(code: str) -> str | None:
    """The explanation of a flag code, or None when the code is not documented here."""
    return EXPLANATIONS.get(code)
