"""The searched variant beside the plain preset variants, measured in one report.

The search scores its candidates on a validation split; this comparison uses what the
report itself measured on the evaluation samples for every variant — white-box
robust accuracy under the search's attack and epsilon, clean accuracy, size, and
CPU p50 at the search's batch size — so the searched variant and the plain ones are
judged by the same numbers.
"""

from __future__ import annotations

from typing import Any

from robustedge.service.plan import BASE
from robustedge.v1 import evaluation_pb2 as pb

# Plain variant sets the search is compared with (compressors' presets).
PLAIN_PRESETS = ("int8", "pruning-sweep")
EPSILON_MATCH = 1e-9


def _preset_of(name: str, searched: str) -> str:
    if name == searched:
        return "searched"
    from robustedge.compressors import variant_presets

    presets = variant_presets()
    for preset in PLAIN_PRESETS:
        if any(v["name"] == name for v in presets.get(preset, [])):
            return preset
    return "other"


def _robust(report: pb.Report, variant: str) -> float | None:
    search = report.search
    for row in report.attacks:
        if (
            row.attack == search.attack
            and row.mode == pb.ATTACK_MODE_WHITE_BOX
            and row.source_variant == variant
            and row.target_variant == variant
            and abs(row.epsilon - search.epsilon) < EPSILON_MATCH
        ):
            return row.robust_accuracy
    return None


def _p50(report: pb.Report, variant: str) -> float:
    for row in report.latency:
        if (
            row.variant == variant
            and row.provider == "cpu"
            and row.threads == 1
            and row.batch_size == report.search.latency_batch_size
            and not row.skipped_reason
            and row.p50_ms > 0
        ):
            return row.p50_ms
    return 0.0


def _size(variant: pb.VariantResult, metric: str) -> int:
    return variant.gzip_size_bytes if metric == "gzip" else variant.size_bytes


def comparison_rows(report: pb.Report) -> list[dict[str, Any]]:
    """One row per built variant (base excluded) with an objective measurement."""
    search = report.search
    base = next((v for v in report.variants if v.name == BASE and v.ok), None)
    if base is None or not _size(base, search.size_metric):
        return []
    base_p50 = _p50(report, BASE)
    floor = base.clean_accuracy - search.max_clean_drop
    searched = report.spec.search.variant_name
    rows = []
    for variant in report.variants:
        robust = _robust(report, variant.name)
        if variant.name == BASE or not variant.ok or robust is None:
            continue
        size_ratio = _size(variant, search.size_metric) / _size(base, search.size_metric)
        p50 = _p50(report, variant.name)
        latency_ratio = p50 / base_p50 if p50 and base_p50 else 0.0
        within = (
            variant.clean_accuracy >= floor
            and (not search.max_size_ratio or size_ratio <= search.max_size_ratio)
            # An unmeasured latency cannot be shown to meet a latency budget.
            and (not search.max_latency_ratio or 0 < latency_ratio <= search.max_latency_ratio)
        )
        rows.append(
            {
                "variant": variant.name,
                "preset": _preset_of(variant.name, searched),
                "clean_accuracy": variant.clean_accuracy,
                "robust_accuracy": robust,
                "size_ratio": size_ratio,
                "latency_ratio": latency_ratio,
                "within_budgets": within,
            }
        )
    return rows


def verdict(report: pb.Report) -> str:
    """One sentence comparing the searched variant with the best plain one in budget."""
    search = report.search
    objective = f"{search.attack} eps={search.epsilon:g}"
    if not search.variant:
        return (
            f"No candidate met the budgets and the clean-accuracy constraint"
            f" ({search.stopped_because or 'no candidate scored'}); there is no searched variant."
        )
    rows = {row.variant: row for row in search.comparison}
    mine = rows.get(search.variant)
    if mine is None:
        return (
            f"The searched variant {search.variant} has no {objective} white-box result in"
            " this report, so it cannot be compared."
        )
    plain = [row for row in search.comparison if row.preset in PLAIN_PRESETS and row.within_budgets]
    best = max(plain, key=lambda row: row.robust_accuracy, default=None)
    if not mine.within_budgets:
        where = "" if best is None else f"; the best plain variant within them is {best.variant}"
        return (
            f"{search.variant} met the budgets on the validation split but not as measured"
            f" on the evaluation run (size {mine.size_ratio:.2f}x, latency"
            f" {mine.latency_ratio:.2f}x, clean {mine.clean_accuracy:.3f}){where}."
        )
    if best is None:
        return (
            f"{search.variant} is within the budgets with {objective} robust accuracy"
            f" {mine.robust_accuracy:.3f}; no plain int8 or pruning-sweep variant is."
        )
    gap = mine.robust_accuracy - best.robust_accuracy
    relation = "at least as robust as" if gap >= 0 else "less robust than"
    return (
        f"{search.variant} ({objective} robust accuracy {mine.robust_accuracy:.3f}) is"
        f" {relation} {best.variant} ({best.robust_accuracy:.3f}), the best plain variant"
        f" within the same budgets ({gap:+.3f})."
    )
