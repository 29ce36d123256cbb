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
}


def explain(code: str) -> str | None:
    """The explanation of a flag code, or None when the code is not documented here."""
    return EXPLANATIONS.get(code)
