"""Text renderings of a report: JSON, Markdown, JUnit XML and a terminal summary.

Every function here is a pure function of the :class:`Report` message — the one
source of truth — so that the service, the CLI and a user's own script render
the same numbers the same way. Only the standard library and protobuf are used:
this module ships in the light client distribution. The HTML page is rendered
server-side (``robustedge.reports``) and reuses the table models defined here
(:func:`robustness_table`, :func:`latency_speedups`) so that both agree.

Unset values (proto3 ``optional`` fields that were not measured) are shown as
``—`` and never invented.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from robustedge.v1 import evaluation_pb2 as pb

__all__ = [
    "UNSET",
    "RobustnessRow",
    "RobustnessTable",
    "VariantSummary",
    "chosen_candidate",
    "enum_name",
    "format_bytes",
    "format_change",
    "format_epsilon",
    "format_fraction",
    "format_ms",
    "format_params",
    "format_ratio",
    "format_throughput",
    "latency_order",
    "latency_speedups",
    "mode_name",
    "optional_value",
    "reference_latency",
    "report_from_dict",
    "report_to_dict",
    "robustness_table",
    "search_facts",
    "search_steps_text",
    "sensitivity_groups",
    "steps_text",
    "summary_lines",
    "to_json",
    "to_junit",
    "to_markdown",
    "variant_summaries",
]

# Shown wherever a value was not measured (an unset optional field).
UNSET = "—"

# Well-known types keep protobuf's own JSON mapping (Struct -> object,
# Timestamp -> RFC 3339 string); nothing inside them is an enum of ours.
_OPAQUE_MESSAGES = {"google.protobuf.Struct", "google.protobuf.Timestamp"}


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------


def _enum_prefix(enum: EnumDescriptor) -> str:
    # AttackMode -> "ATTACK_MODE_": the proto style guide's value prefix.
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"


def enum_name(enum: EnumDescriptor, number: int) -> str:
    """The short lower-case name of an enum value: ATTACK_MODE_WHITE_BOX -> white_box."""
    value = enum.values_by_number.get(number)
    if value is None:
        return str(number)
    prefix = _enum_prefix(enum)
    name = value.name[len(prefix) :] if value.name.startswith(prefix) else value.name
    return name.lower()


def mode_name(mode: int) -> str:
    """``white_box`` | ``transfer`` | ``black_box`` (``unspecified`` when unset)."""
    return enum_name(pb.AttackMode.DESCRIPTOR, mode)


def _walk_enums(descriptor: Descriptor, data: dict[str, Any], to_short: bool) -> None:
    """Rewrites enum values in a MessageToDict-style dict in place, in either direction."""
    for fd in descriptor.fields:
        if fd.name not in data:
            continue
        value = data[fd.name]
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            for key, item in value.items():
                value[key] = _convert(value_fd, item, to_short)
        elif fd.is_repeated:
            data[fd.name] = [_convert(fd, item, to_short) for item in value]
        else:
            data[fd.name] = _convert(fd, value, to_short)
    # MessageToDict writes set fields before defaulted ones; keep the proto's
    # field order instead so that the JSON reads like the contract.
    ordered = {fd.name: data[fd.name] for fd in descriptor.fields if fd.name in data}
    if list(ordered) == list(data):
        return
    extra = {key: value for key, value in data.items() if key not in ordered}
    data.clear()
    data.update(ordered)
    data.update(extra)


def _convert(fd: FieldDescriptor, value: Any, to_short: bool) -> Any:
    if fd.enum_type is not None:
        enum = fd.enum_type
        if to_short:
            if isinstance(value, str) and value in enum.values_by_name:
                return enum_name(enum, enum.values_by_name[value].number)
            return value
        if isinstance(value, str):
            full = _enum_prefix(enum) + value.upper()
            if full in enum.values_by_name:
                return full
        return value
    message_type = fd.message_type
    if message_type is not None and message_type.full_name not in _OPAQUE_MESSAGES:
        _walk_enums(message_type, value, to_short)
    return value


def report_to_dict(report: pb.Report) -> dict[str, Any]:
    """The report as plain JSON-ready data.

    Field names are the proto's snake_case names; enum values are short
    lower-case names (mode ``white_box``, job_state ``succeeded``, severity
    ``warning``); 64-bit integers are JSON numbers, not strings; fields without
    presence are always written (a robust accuracy of 0.0 is a result, not a
    gap) while unset ``optional`` fields and unset sub-messages are omitted.
    """
    data = json_format.MessageToDict(
        report,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        unquote_int64_if_possible=True,
    )
    _walk_enums(pb.Report.DESCRIPTOR, data, to_short=True)
    return data


def report_from_dict(data: dict[str, Any]) -> pb.Report:
    """Inverse of :func:`report_to_dict` (also accepts protobuf's own JSON names)."""
    copy = json.loads(json.dumps(data))
    _walk_enums(pb.Report.DESCRIPTOR, copy, to_short=False)
    report = pb.Report()
    json_format.ParseDict(copy, report)
    return report


def to_json(report: pb.Report) -> str:
    """The report as indented JSON (see :func:`report_to_dict`)."""
    return json.dumps(report_to_dict(report), indent=2, sort_keys=False, ensure_ascii=False)


# ---------------------------------------------------------------------------
# Formatting helpers shared by every renderer
# ---------------------------------------------------------------------------


def optional_value(message: Message, name: str) -> Any | None:
    """The field's value, or None when an ``optional`` field is unset."""
    if message.DESCRIPTOR.fields_by_name[name].has_presence and not message.HasField(name):
        return None
    return getattr(message, name)


def format_fraction(value: float | None, digits: int = 3) -> str:
    """0.95312 -> "0.953"; None -> "—"."""
    return UNSET if value is None else f"{value:.{digits}f}"


def format_change(value: float | None, digits: int = 3) -> str:
    """A signed difference: +0.012 / -0.040 / ±0.000; None -> "—"."""
    if value is None:
        return UNSET
    rounded = round(value, digits)
    if rounded == 0:
        return f"±{0:.{digits}f}"
    return f"{rounded:+.{digits}f}"


def format_bytes(size: int | None) -> str:
    """Binary units with one decimal: 45678 -> "44.6 KiB"; None or 0 -> "—"."""
    if not size:
        return UNSET
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # unreachable; keeps type checkers content


def format_epsilon(epsilon: float) -> str:
    """An epsilon in four significant digits; a budget that is a whole number of
    8-bit pixel steps and not exact in decimals also as a fraction: 0.03137 (8/255)."""
    text = f"{epsilon:.4g}"
    steps = epsilon * 255
    if 0 < epsilon < 1 and abs(steps - round(steps)) < 1e-6 and float(text) != epsilon:
        return f"{text} ({round(steps)}/255)"
    return text


def format_ms(value: float) -> str:
    """Milliseconds: four decimals below 0.1 ms, three below 10 ms, one above;
    0 -> "—".

    Latency fields have no presence in the proto, and no measured latency is
    zero, so a zero means the statistic was not recorded."""
    if value <= 0:
        return UNSET
    if value < 0.1:
        # Sub-0.1 ms models exist (tiny CNNs): keep two significant digits at least.
        return f"{value:.4f}"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def format_throughput(value: float) -> str:
    """Samples per second with a thousands separator; 0 (not recorded) -> "—"."""
    return f"{value:,.1f}" if value > 0 else UNSET


def format_params(params: struct_pb2.Struct) -> str:
    """``steps=10, step_size=0.01`` from a Struct, sorted by key; whole numbers
    without ``.0`` (Struct stores every number as a double)."""
    values = json_format.MessageToDict(params)
    return ", ".join(f"{key}={_plain(values[key])}" for key in sorted(values))


def _steps_text(steps: Iterable[pb.CompressionStep]) -> str:
    parts = []
    for step in steps:
        details = format_params(step.params) if step.HasField("params") else ""
        parts.append(f"{step.compressor}({details})" if details else step.compressor)
    return " → ".join(parts)


def _plain(value: Any) -> str:
    # Struct numbers are doubles; show whole numbers without ".0".
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + ", ".join(_plain(item) for item in value) + "]"
    return str(value)


def steps_text(variant: pb.VariantResult) -> str:
    """Compression steps in one line: ``prune(pattern=channel, sparsity=0.3) → quantize(...)``.

    ``base`` is the uploaded model itself; another variant without recorded
    steps shows "—" (the report does not say how it was built)."""
    if not variant.steps:
        return "uploaded model" if variant.name == "base" else UNSET
    return _steps_text(variant.steps)


# ---------------------------------------------------------------------------
# Robustness-aware search and layer sensitivity (shared with the HTML page)
# ---------------------------------------------------------------------------

# Parameters a compact step description leaves out: their value is the
# compressor's default or does not change what the step does to the model.
_QUIET_PARAMS: dict[str, dict[str, tuple[Any, ...]]] = {
    "prune": {
        "criterion": ("l2", "magnitude"),
        # layer_sparsity implies filters; the per-layer fractions say it all.
        "budget": ("parameters", "filters"),
        "physical": (True,),
        "scope": ("global",),
        "round_to": (1,),
        "steps": (0,),
        "adversarial_epsilon": (0,),
    },
    "quantize": {
        "format": ("qdq", "qoperator"),
        "per_channel": (True,),
        "calibration_samples": (100,),
        "tuning_metric": ("clean",),
    },
}
# Fine-tuning settings summed up by "+ft N steps" / "+adversarial ft N steps".
_FINETUNE_DETAILS = ("learning_rate", "batch_size", "adversarial_steps", "adversarial_fraction")


# Columns of the search's comparison table (Markdown and HTML).
SEARCH_COMPARISON_COLUMNS = (
    "Variant",
    "Preset",
    "Clean acc.",
    "Robust acc.",
    "Size ratio",
    "Latency ratio",
    "Within budgets",
)


def format_ratio(value: float, digits: int = 2) -> str:
    """A ratio to base: 0.4213 -> "0.42×"; 0 (not measured) -> "—"."""
    return f"{value:.{digits}f}×" if value > 0 else UNSET


def _layer_fractions(fractions: dict[str, Any]) -> str:
    """Per-layer sparsity in a few characters: one value when all layers share it,
    the values in layer-name order for a handful of layers, else their range."""
    # A Struct keeps no key order: layers in natural name order (conv2 before conv10).
    names = sorted(fractions, key=lambda name: [
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", name)
    ])  # fmt: skip
    values = [float(fractions[n]) for n in names if isinstance(fractions[n], int | float)]
    if not values:
        return "per-layer"
    if len(set(values)) == 1:
        return f"{values[0]:g}"
    if len(values) <= 6:
        return "/".join(f"{v:g}" for v in values)
    return f"{min(values):g}–{max(values):g} per layer"


def _compact_step(step: pb.CompressionStep) -> str:
    values = json_format.MessageToDict(step.params) if step.HasField("params") else {}
    quiet = _QUIET_PARAMS.get(step.compressor, {})
    parts = [step.compressor]
    # The values that say what the step is, in reading order, without their keys.
    if "layer_sparsity" in values:
        values.pop("sparsity", None)  # the per-layer fractions below replace it
    for key in ("pattern", "sparsity", "approach", "clusters"):
        if key in values:
            parts.append(_plain(values.pop(key)))
    if isinstance(values.get("layer_sparsity"), dict):
        parts.append(_layer_fractions(values.pop("layer_sparsity")))
    if "round_to" in values and values["round_to"] not in quiet.get("round_to", ()):
        parts.append(f"r{_plain(values.pop('round_to'))}")
    if values.get("per_channel") is False:
        values.pop("per_channel")
        parts.append("per-tensor")
    if isinstance(values.get("float_layers"), list):
        kept = len(values.pop("float_layers"))
        if kept:
            parts.append(f"{kept} layer{'s' if kept != 1 else ''} kept float")
    if step.compressor == "prune" and values.get("steps") not in (None, 0, 0.0):
        adversarial = values.pop("adversarial_epsilon", None) not in (None, 0, 0.0)
        parts.append(
            f"+{'adversarial ' if adversarial else ''}ft {_plain(values.pop('steps'))} steps"
        )
    if step.compressor == "prune":
        # Fine-tune settings are summed up by "+ft N steps", and mean nothing without.
        for key in _FINETUNE_DETAILS:
            values.pop(key, None)
    for key in sorted(values):
        if values[key] is None or values[key] in quiet.get(key, ()):
            continue  # unset (resolved elsewhere) or the default
        if key == "criterion":
            parts.append(_plain(values[key]))
        else:
            parts.append(f"{key}={_plain(values[key])}")
    return " ".join(parts)


def search_steps_text(steps: Iterable[pb.CompressionStep]) -> str:
    """Steps of a search candidate in a compact form:
    ``prune channel 0.5 r8 → quantize static`` (default parameters left out)."""
    text = " → ".join(_compact_step(step) for step in steps)
    return text or UNSET


def search_facts(search: pb.SearchResult) -> list[tuple[str, str]]:
    """The search's objective, constraint and budgets as (label, value) pairs,
    in the words every renderer uses."""
    batch = search.latency_batch_size
    facts = [
        (
            "objective",
            f"robust accuracy under {search.attack or UNSET} at "
            f"ε = {format_epsilon(search.epsilon)}",
        ),
        ("clean-accuracy drop", f"at most {search.max_clean_drop:.3f} below base"),
        (
            "size",
            f"≤ {search.max_size_ratio:.2f}× of base ({search.size_metric or 'file'} bytes)"
            if search.max_size_ratio > 0
            else "no budget",
        ),
        (
            "latency",
            f"≤ {search.max_latency_ratio:.2f}× of base's CPU p50 at batch {batch}"
            if search.max_latency_ratio > 0
            else "no budget",
        ),
        ("seed", str(search.seed)),
        ("validation samples", f"{search.validation_samples:,}"),
        ("evaluations", f"{search.evaluations} ({search.reused} reused) in {search.seconds:.1f} s"),
        ("stopped because", search.stopped_because or UNSET),
    ]
    return facts


def chosen_candidate(search: pb.SearchResult) -> pb.SearchCandidate | None:
    """The candidate that became the searched variant, if any."""
    return next((candidate for candidate in search.candidates if candidate.chosen), None)


def sensitivity_groups(report: pb.Report) -> dict[str, list[pb.LayerSensitivity]]:
    """Layer sensitivity rows per method ("magnitude prune 50% ...", int8 ...),
    in the order the methods first appear; rows keep the report's order."""
    groups: dict[str, list[pb.LayerSensitivity]] = {}
    for row in report.sensitivity:
        groups.setdefault(row.method, []).append(row)
    return groups


# ---------------------------------------------------------------------------
# Table models (used by Markdown here and by the HTML page server-side)
# ---------------------------------------------------------------------------

_MODE_ORDER = {pb.ATTACK_MODE_WHITE_BOX: 0, pb.ATTACK_MODE_TRANSFER: 1, pb.ATTACK_MODE_BLACK_BOX: 2}


@dataclass
class RobustnessRow:
    """One row of the studies' robustness table: an attack at one epsilon in one
    threat model; the cells are target variants."""

    attack: str
    norm: str
    epsilon: float
    mode: int
    # Source variant of transfer rows ("" for white-box and black-box rows).
    source: str
    cells: dict[str, pb.AttackResult] = field(default_factory=dict)
    # Robust accuracy of `base` the changes are measured against; None when the
    # report has no base result for this row.
    baseline: float | None = None
    # True when `baseline` is the base's white-box result standing in for the
    # missing base→base transfer cell (the same experiment).
    baseline_from_white_box: bool = False

    @property
    def label(self) -> str:
        """``pgd linf, white_box`` / ``pgd linf, transfer from base``."""
        name = f"{self.attack} {self.norm}".strip()
        mode = mode_name(self.mode)
        if self.mode == pb.ATTACK_MODE_TRANSFER and self.source:
            mode = f"transfer from {self.source}"
        return f"{name}, {mode}"

    def change(self, variant: str) -> float | None:
        """Robust accuracy of ``variant`` minus the base's, None when either is missing."""
        result = self.cells.get(variant)
        if result is None or self.baseline is None:
            return None
        return result.robust_accuracy - self.baseline

    def largest_change(self) -> tuple[str, float] | None:
        """The non-base variant whose robust accuracy moved most (by magnitude)."""
        changes = [
            (variant, change)
            for variant in self.cells
            if variant != "base" and (change := self.change(variant)) is not None
        ]
        if not changes:
            return None
        return max(changes, key=lambda item: (abs(item[1]), item[0] == "", item[0]))


@dataclass
class RobustnessTable:
    """Attack × variant table of robust accuracy with the change against base."""

    variants: list[str]
    rows: list[RobustnessRow]


def robustness_table(report: pb.Report) -> RobustnessTable:
    """Groups attack results into the studies' table form.

    Rows are (attack, norm, epsilon, mode, transfer source) in the order the
    attacks first appear, then white-box, transfer, black-box, then epsilon.
    A transfer row crafted on ``base`` has no base→base transfer cell; its
    baseline is the base's white-box result at the same attack and epsilon,
    which is the same experiment (examples crafted on base, scored on base).
    """
    variants = [variant.name for variant in report.variants]
    for result in report.attacks:
        if result.target_variant not in variants:
            variants.append(result.target_variant)
    attack_order: dict[str, int] = {}
    rows: dict[tuple[str, str, float, int, str], RobustnessRow] = {}
    for result in report.attacks:
        attack_order.setdefault(result.attack, len(attack_order))
        source = result.source_variant if result.mode == pb.ATTACK_MODE_TRANSFER else ""
        key = (result.attack, result.norm, result.epsilon, result.mode, source)
        row = rows.setdefault(
            key, RobustnessRow(result.attack, result.norm, result.epsilon, result.mode, source)
        )
        row.cells[result.target_variant] = result
    for row in rows.values():
        if "base" in row.cells:
            row.baseline = row.cells["base"].robust_accuracy
        elif row.mode == pb.ATTACK_MODE_TRANSFER and row.source == "base":
            white = rows.get((row.attack, row.norm, row.epsilon, pb.ATTACK_MODE_WHITE_BOX, ""))
            if white is not None and "base" in white.cells:
                row.baseline = white.cells["base"].robust_accuracy
                row.baseline_from_white_box = True
    ordered = sorted(
        rows.values(),
        key=lambda row: (
            attack_order[row.attack],
            row.norm,
            _MODE_ORDER.get(row.mode, 9),
            row.source,
            row.epsilon,
        ),
    )
    return RobustnessTable(variants, ordered)


def latency_order(report: pb.Report) -> list[int]:
    """Indexes into ``report.latency`` grouped for reading: provider (in order of
    first appearance), batch size, threads, then variant in report order."""
    providers = list(dict.fromkeys(row.provider for row in report.latency))
    variants = [variant.name for variant in report.variants]

    def key(index: int) -> tuple[int, int, int, int, str]:
        row = report.latency[index]
        position = variants.index(row.variant) if row.variant in variants else len(variants)
        return (providers.index(row.provider), row.batch_size, row.threads, position, row.variant)

    return sorted(range(len(report.latency)), key=key)


def reference_latency(report: pb.Report) -> pb.LatencyResult | None:
    """The configuration variants are compared on: ``cpu`` at batch size 1 with
    the fewest threads when measured, else the first measured row. Its
    provider, batch size and threads are what matter; the row is returned."""
    measured = [row for row in report.latency if not row.skipped_reason and row.p50_ms > 0]
    if not measured:
        return None
    cpu = [row for row in measured if row.provider == "cpu" and row.batch_size == 1]
    return min(cpu, key=lambda row: row.threads) if cpu else measured[0]


@dataclass
class VariantSummary:
    """One compressed variant against base, in the numbers people decide on.
    Every field is None when either side was not measured."""

    name: str
    # base size / variant size (3.0 = three times smaller).
    size_ratio: float | None = None
    # base p50 / variant p50 on the reference latency configuration.
    speedup: float | None = None
    clean_change: float | None = None
    # The most negative change of robust accuracy against base over all rows
    # (attack, epsilon, mode), and the row it happened in.
    worst_robust_change: float | None = None
    worst_robust_row: str = ""


def variant_summaries(report: pb.Report) -> list[VariantSummary]:
    """A summary per compressed variant that built (not ``base``)."""
    variants = {variant.name: variant for variant in report.variants}
    base = variants.get("base")
    reference = reference_latency(report)
    base_p50 = None
    if reference is not None:
        base_p50 = _p50(report, "base", reference)
    table = robustness_table(report)
    summaries = []
    for variant in report.variants:
        if variant.name == "base" or not variant.ok:
            continue
        summary = VariantSummary(variant.name)
        if base is not None and base.size_bytes and variant.size_bytes:
            summary.size_ratio = base.size_bytes / variant.size_bytes
        p50 = _p50(report, variant.name, reference) if reference is not None else None
        if base_p50 and p50:
            summary.speedup = base_p50 / p50
        clean = optional_value(variant, "clean_accuracy")
        base_clean = optional_value(base, "clean_accuracy") if base is not None else None
        if clean is not None and base_clean is not None:
            summary.clean_change = clean - base_clean
        for row in table.rows:
            change = row.change(variant.name)
            if change is not None and (
                summary.worst_robust_change is None or change < summary.worst_robust_change
            ):
                summary.worst_robust_change = change
                summary.worst_robust_row = f"{row.label}, ε={format_epsilon(row.epsilon)}"
        summaries.append(summary)
    return summaries


def _p50(report: pb.Report, variant: str, reference: pb.LatencyResult) -> float | None:
    for row in report.latency:
        if (
            row.variant == variant
            and (row.provider, row.batch_size, row.threads)
            == (reference.provider, reference.batch_size, reference.threads)
            and not row.skipped_reason
            and row.p50_ms > 0
        ):
            return row.p50_ms
    return None


def latency_speedups(report: pb.Report) -> dict[int, float]:
    """Index into ``report.latency`` -> speed-up of its p50 against the base's
    p50 on the same provider, batch size and threads (only where both exist)."""
    base: dict[tuple[str, int, int], float] = {}
    for row in report.latency:
        if row.variant == "base" and not row.skipped_reason and row.p50_ms > 0:
            base[(row.provider, row.batch_size, row.threads)] = row.p50_ms
    speedups: dict[int, float] = {}
    for index, row in enumerate(report.latency):
        reference = base.get((row.provider, row.batch_size, row.threads))
        if reference is not None and not row.skipped_reason and row.p50_ms > 0:
            speedups[index] = reference / row.p50_ms
    return speedups


def _job_state(report: pb.Report) -> str:
    return enum_name(pb.JobState.DESCRIPTOR, report.job_state)


def _severity(flag: pb.Flag) -> str:
    return enum_name(pb.FlagSeverity.DESCRIPTOR, flag.severity)


def _gate_status(gate: pb.GateResult) -> str:
    if gate.passed:
        return "pass"
    return "error" if gate.error and not gate.HasField("value") else "fail"


def _gate_value(gate: pb.GateResult) -> str:
    return f"{gate.value:.6g}" if gate.HasField("value") else UNSET


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------


def _cell(text: str) -> str:
    # Pipes end a Markdown table cell and newlines end the row.
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _table(header: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    """A GitHub Markdown table; ``align`` is one character per column: l or r."""
    align = align.ljust(len(header), "l")
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


_GATE_ICONS = {"pass": "✅ pass", "fail": "❌ fail", "error": "⚠️ error"}


def to_markdown(report: pb.Report) -> str:
    """A pull-request comment: model, variants, robustness, latency, gates, flags."""
    lines: list[str] = ["## RobustEdge report", ""]
    lines.append(_headline(report))
    lines.append("")
    if report.error:
        lines += [f"> **Job error:** {_cell(report.error)}", ""]

    if report.gates:
        lines += ["### Gates", ""]
        rows = []
        for gate in report.gates:
            status = _gate_status(gate)
            note = gate.error.splitlines()[0] if gate.error else ""
            rows.append([_GATE_ICONS[status], f"`{gate.expression}`", _gate_value(gate), note])
        lines += _table(["Result", "Gate", "Value", "Note"], rows, "llrl")
        lines.append("")

    glance = variant_summaries(report)
    if glance:
        reference = reference_latency(report)
        where = (
            f"{reference.provider}, batch {reference.batch_size}, {reference.threads} thread(s)"
            if reference is not None
            else "not measured"
        )
        lines += ["### At a glance", "", f"Against `base`; latency on {where}.", ""]
        rows = [
            [
                f"**{summary.name}**",
                UNSET if summary.size_ratio is None else f"{summary.size_ratio:.2f}×",
                UNSET if summary.speedup is None else f"{summary.speedup:.2f}×",
                format_change(summary.clean_change),
                format_change(summary.worst_robust_change)
                + (f" ({summary.worst_robust_row})" if summary.worst_robust_row else ""),
            ]
            for summary in glance
        ]
        lines += _table(
            ["Variant", "Smaller", "Faster", "Clean acc. change", "Worst robust acc. change"],
            rows,
            "lrrrl",
        )
        lines.append("")

    lines += ["### Variants", ""]
    rows = []
    for variant in report.variants:
        fidelity = variant.fidelity
        rows.append(
            [
                f"**{variant.name}**" if variant.ok else f"**{variant.name}** (failed)",
                steps_text(variant),
                format_bytes(variant.size_bytes),
                format_fraction(optional_value(variant, "sparsity")),
                format_fraction(optional_value(variant, "clean_accuracy")),
                format_fraction(optional_value(fidelity, "top1_agreement")),
                _format_diff(optional_value(fidelity, "max_abs_diff")),
            ]
        )
    lines += _table(
        ["Variant", "Steps", "Size", "Sparsity", "Clean acc.", "Top-1 agr.", "Max abs diff"],
        rows,
        "llrrrrr",
    )
    failed = [variant for variant in report.variants if not variant.ok and variant.error]
    if failed:
        lines.append("")
    for variant in failed:
        lines.append(f"- `{variant.name}` failed: {_cell(variant.error)}")
    lines.append("")

    table = robustness_table(report)
    if table.rows:
        lines += [
            "### Robustness",
            "",
            "Robust accuracy (change against `base`), scored by onnxruntime on each target.",
            "",
        ]
        header = ["Attack", "ε", *table.variants, "Largest change"]
        rows = []
        for row in table.rows:
            cells = [row.label, format_epsilon(row.epsilon)]
            for variant in table.variants:
                cells.append(_robust_cell(row, variant))
            largest = row.largest_change()
            cells.append(f"{format_change(largest[1])} ({largest[0]})" if largest else UNSET)
            rows.append(cells)
        lines += _table(header, rows, "ll" + "r" * (len(table.variants) + 1))
        notes = []
        if any(row.baseline_from_white_box for row in table.rows):
            notes.append(
                "† base's white-box result: examples crafted on base and scored on base"
                " are the white-box attack itself."
            )
        if any(not result.trusted for result in report.attacks):
            notes.append(
                "\\* untrusted: the bridge of the source variant failed its fidelity check."
            )
        if notes:
            lines += ["", *[note + "  " for note in notes[:-1]], notes[-1]]
        lines.append("")

    if report.sensitivity:
        lines += _sensitivity_markdown(report)

    if report.HasField("search"):
        lines += _search_markdown(report)

    if report.latency:
        lines += ["### Latency", ""]
        speedups = latency_speedups(report)
        rows = []
        for index in latency_order(report):
            row = report.latency[index]
            config = f"{row.provider}, batch {row.batch_size}, {row.threads} thr."
            if row.skipped_reason:
                rows.append([row.variant, config, UNSET, UNSET, UNSET, UNSET, UNSET])
                continue
            speedup = speedups.get(index)
            rows.append(
                [
                    row.variant,
                    config,
                    format_ms(row.p50_ms),
                    format_ms(row.p90_ms),
                    format_ms(row.p99_ms),
                    format_throughput(row.throughput),
                    UNSET if speedup is None else f"{speedup:.2f}×",
                ]
            )
        lines += _table(
            ["Variant", "Provider", "p50 ms", "p90 ms", "p99 ms", "Samples/s", "Speed-up"],
            rows,
            "llrrrrr",
        )
        skipped = [row for row in report.latency if row.skipped_reason]
        if skipped:
            lines.append("")
        for row in skipped:
            lines.append(f"- `{row.variant}` on {row.provider} skipped: {row.skipped_reason}")
        lines.append("")

    if report.flags:
        lines += ["### Flags", ""]
        for flag in report.flags:
            where = ", ".join(part for part in (flag.variant, flag.attack) if part)
            where = f" ({where})" if where else ""
            lines.append(f"- **{_severity(flag)}** `{flag.code}`{where}: {_cell(flag.message)}")
        lines.append("")

    lines.append(f"<sub>{_environment_line(report)}</sub>")
    return "\n".join(lines) + "\n"


def _sensitivity_markdown(report: pb.Report) -> list[str]:
    first = report.sensitivity[0]
    groups = sensitivity_groups(report)
    if len(groups) == 1:
        intro = "when only one layer of the base model is pruned, most damaging first."
    else:
        intro = "when only one layer of the base model is changed, per method, most damaging first."
    lines = [
        "### Layer sensitivity",
        "",
        f"Robust accuracy change under {first.attack} (ε {format_epsilon(first.epsilon)}) {intro}",
        "",
    ]
    for method, rows in groups.items():
        if len(groups) > 1:
            lines += [f"**{_cell(method) or 'unnamed method'}**", ""]
        lines += [
            "| Layer | Op | Clean acc. | Δ clean | Robust acc. | Δ robust |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for row in rows:
            lines.append(
                f"| `{row.layer}` | {row.op_type} | {format_fraction(row.clean_accuracy)} | "
                f"{format_change(row.clean_change)} | {format_fraction(row.robust_accuracy)} | "
                f"{format_change(row.robust_change)} |"
            )
        lines.append("")
    return lines


def _search_markdown(report: pb.Report) -> list[str]:
    search = report.search
    lines = ["### Robustness-aware search", ""]
    if search.verdict:
        lines += [f"**{_cell(search.verdict)}**", ""]
    chosen = chosen_candidate(search)
    if search.variant:
        detail = f" (candidate {chosen.name}: {search_steps_text(chosen.steps)})" if chosen else ""
        lines.append(f"Chosen variant: `{search.variant}`{detail}.  ")
    else:
        lines.append(
            "No candidate met the clean-accuracy constraint and the budgets, so no "
            "variant was added.  "
        )
    facts = search_facts(search)
    lines.append("; ".join(f"{label}: {value}" for label, value in facts) + ".")
    lines.append("")
    if search.comparison:
        rows = [
            [
                f"**{row.variant}**" if row.variant == search.variant else row.variant,
                row.preset or UNSET,
                format_fraction(row.clean_accuracy),
                format_fraction(row.robust_accuracy),
                format_ratio(row.size_ratio),
                format_ratio(row.latency_ratio) if row.latency_ratio > 0 else "not measured",
                "✓" if row.within_budgets else "✗",
            ]
            for row in search.comparison
        ]
        lines += _table(list(SEARCH_COMPARISON_COLUMNS), rows, "llrrrrl")
        lines.append("")
    lines += [
        f"Candidates were scored on {search.validation_samples:,} validation samples; "
        f"the comparison on the {report.samples:,} evaluation samples.",
        "",
    ]
    return lines


def _format_diff(value: float | None) -> str:
    return UNSET if value is None else f"{value:.2e}"


def _robust_cell(row: RobustnessRow, variant: str) -> str:
    result = row.cells.get(variant)
    if result is None:
        if variant == "base" and row.baseline_from_white_box and row.baseline is not None:
            return f"{format_fraction(row.baseline)} †"
        return UNSET
    text = format_fraction(result.robust_accuracy)
    if variant != "base":
        change = row.change(variant)
        if change is not None:
            text += f" ({format_change(change)})"
    if not result.trusted:
        text += " \\*"
    return text


def _headline(report: pb.Report) -> str:
    model = report.model
    parts = [f"Job `{report.job_id or UNSET}` **{_job_state(report)}**"]
    if report.seconds:
        parts.append(f"{report.seconds:.1f} s")
    parts.append(f"{report.samples} samples")
    model_parts = [f"model `{model.sha256[:12] or UNSET}`"]
    if model.opset:
        model_parts.append(f"opset {model.opset}")
    model_parts.append(f"{model.parameters:,} parameters")
    macs = optional_value(model, "macs")
    model_parts.append(f"{macs:,} MACs" if macs is not None else f"MACs {UNSET}")
    model_parts.append(format_bytes(model.size_bytes))
    return " · ".join(parts) + "  \n" + " · ".join(model_parts)


def _environment_line(report: pb.Report) -> str:
    env = report.environment
    parts = []
    if env.cpu:
        parts.append(f"{env.cpu} ({env.cpu_count} CPUs)" if env.cpu_count else env.cpu)
    if env.python:
        parts.append(f"Python {env.python}")
    for name in ("onnxruntime", "torch", "neural-compressor", "adversarial-robustness-toolbox"):
        if name in env.versions:
            parts.append(f"{name} {env.versions[name]}")
    return "Measured on " + (", ".join(parts) if parts else "an unrecorded environment")


# ---------------------------------------------------------------------------
# JUnit XML
# ---------------------------------------------------------------------------


def to_junit(report: pb.Report) -> str:
    """JUnit XML (the Ant/Jenkins dialect CI systems read): one testcase per gate.

    A gate that was evaluated and did not hold is a ``<failure>`` whose message
    carries the expression and the measured value; a gate that could not be
    evaluated (syntax error, unknown selector, missing row) is an ``<error>``.
    """
    failures = sum(1 for gate in report.gates if _gate_status(gate) == "fail")
    errors = sum(1 for gate in report.gates if _gate_status(gate) == "error")
    tests = str(len(report.gates))
    root = ET.Element(
        "testsuites",
        {"name": "robustedge", "tests": tests, "failures": str(failures), "errors": str(errors)},
    )
    suite_attributes = {
        "name": "robustedge.gates",
        "tests": tests,
        "failures": str(failures),
        "errors": str(errors),
        "skipped": "0",
        "time": "0",
    }
    if report.HasField("created_at"):
        # JUnit wants an ISO 8601 timestamp without a zone designator.
        stamp = report.created_at.ToDatetime().replace(microsecond=0).isoformat()
        suite_attributes["timestamp"] = stamp
    suite = ET.SubElement(root, "testsuite", suite_attributes)
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("job_id", report.job_id),
        ("job_state", _job_state(report)),
        ("model_sha256", report.model.sha256),
        ("samples", str(report.samples)),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for gate in report.gates:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": "robustedge.gates", "name": gate.expression, "time": "0"},
        )
        status = _gate_status(gate)
        if status == "fail":
            message = f"{gate.expression}: measured {_gate_value(gate)}"
            if gate.error:
                message += f" ({gate.error.splitlines()[0]})"
            failure = ET.SubElement(case, "failure", {"message": message, "type": "GateFailed"})
            # The body repeats the message, plus the rest of a multi-line reason.
            failure.text = message + ("\n" + gate.error if "\n" in gate.error else "")
        elif status == "error":
            message = f"{gate.expression}: {gate.error.splitlines()[0]}"
            error = ET.SubElement(case, "error", {"message": message, "type": "GateError"})
            error.text = gate.error
        else:
            output = ET.SubElement(case, "system-out")
            output.text = f"{gate.expression}: measured {_gate_value(gate)}"
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


# ---------------------------------------------------------------------------
# Terminal summary
# ---------------------------------------------------------------------------


def summary_lines(report: pb.Report) -> list[str]:
    """A few lines for a terminal: job, model, variants, worst change, gates, flags."""
    model = report.model
    lines = [
        f"job {report.job_id or UNSET}: {_job_state(report)}"
        + (f" in {report.seconds:.1f} s" if report.seconds else "")
        + f", {report.samples} samples, {len(report.variants)} variants",
        f"model {model.sha256[:12] or UNSET}: opset {model.opset}, "
        f"{model.parameters:,} parameters, {format_bytes(model.size_bytes)}",
    ]
    if report.error:
        lines.append(f"error: {report.error}")
    for variant in report.variants:
        if not variant.ok:
            lines.append(f"  {variant.name}: failed: {variant.error or 'no reason given'}")
            continue
        fidelity = variant.fidelity
        lines.append(
            f"  {variant.name}: clean accuracy "
            f"{format_fraction(optional_value(variant, 'clean_accuracy'))}, "
            f"{format_bytes(variant.size_bytes)}, bridge fidelity max |diff| "
            f"{_format_diff(optional_value(fidelity, 'max_abs_diff'))} top-1 "
            f"{format_fraction(optional_value(fidelity, 'top1_agreement'))}"
            + _latency_summary(report, variant.name)
        )
    lines += _white_box_summary(report)
    worst: tuple[float, str] | None = None
    compared = False
    for row in robustness_table(report).rows:
        for variant in row.cells:
            change = row.change(variant) if variant != "base" else None
            if change is None:
                continue
            compared = True
            if change < 0 and (worst is None or change < worst[0]):
                worst = (change, f"{row.label} eps={row.epsilon:.4g} on {variant}")
    if worst is not None:
        lines.append(f"largest robustness loss vs base: {format_change(worst[0])} ({worst[1]})")
    elif compared:
        lines.append("no robustness loss vs base in any attack result")
    if report.HasField("search"):
        lines += _search_summary(report.search)
    if report.gates:
        statuses = [_gate_status(gate) for gate in report.gates]
        lines.append(
            f"gates: {statuses.count('pass')} passed, {statuses.count('fail')} failed, "
            f"{statuses.count('error')} errors"
        )
        for gate, status in zip(report.gates, statuses, strict=True):
            detail = f" = {_gate_value(gate)}" if gate.HasField("value") else ""
            if gate.error:
                detail += f" ({gate.error.splitlines()[0]})"
            lines.append(f"  {status.upper():5} {gate.expression}{detail}")
    if report.flags:
        lines.append(f"flags: {len(report.flags)}")
        for flag in report.flags:
            lines.append(f"  {_severity(flag)} {flag.code}: {flag.message}")
    return lines


def _search_summary(search: pb.SearchResult) -> list[str]:
    """Two or three lines: what the search chose, how it searched, its verdict."""
    chosen = chosen_candidate(search)
    if search.variant:
        first = f"search: chose {search.variant}"
        if chosen is not None:
            first += (
                f" ({chosen.name}: {search_steps_text(chosen.steps)}), robust accuracy "
                f"{format_fraction(chosen.robust_accuracy)} vs base "
                f"{format_fraction(search.base_robust_accuracy)} under {search.attack} "
                f"eps={search.epsilon:.4g} (validation), size {format_ratio(chosen.size_ratio)}, "
                f"latency {format_ratio(chosen.latency_ratio)} of base"
            )
    else:
        first = "search: no candidate met the clean-accuracy constraint and the budgets"
    budgets = [f"clean drop <= {search.max_clean_drop:.3f}"]
    if search.max_size_ratio > 0:
        budgets.append(f"size <= {search.max_size_ratio:.2f}x")
    if search.max_latency_ratio > 0:
        budgets.append(
            f"latency <= {search.max_latency_ratio:.2f}x at batch {search.latency_batch_size}"
        )
    second = (
        f"  {search.evaluations} candidates ({search.reused} reused) in {search.seconds:.1f} s, "
        f"{', '.join(budgets)}"
        + (f"; stopped: {search.stopped_because}" if search.stopped_because else "")
    )
    lines = [first, second]
    if search.verdict:
        lines.append(f"  {search.verdict}")
    return lines


def _latency_summary(report: pb.Report, variant: str) -> str:
    """ ", p50 cpu 0.011 ms, openvino 0.023 ms" for the variant's batch-1 measurements."""
    parts = [
        f"{row.provider} {format_ms(row.p50_ms)} ms" + (f" ({row.profile})" if row.profile else "")
        for row in report.latency
        if row.variant == variant and row.batch_size == 1 and not row.skipped_reason
    ]
    return f", p50 {', '.join(parts)}" if parts else ""


def _white_box_summary(report: pb.Report) -> list[str]:
    """Robust accuracy of white-box attacks per variant across the epsilon sweep."""
    rows: dict[tuple[str, str], dict[str, dict[float, float]]] = {}
    for attack in report.attacks:
        if attack.mode != pb.ATTACK_MODE_WHITE_BOX:
            continue
        per_variant = rows.setdefault((attack.attack, attack.norm), {})
        per_variant.setdefault(attack.target_variant, {})[attack.epsilon] = attack.robust_accuracy
    lines = []
    for (name, norm), per_variant in rows.items():
        epsilons = sorted({eps for values in per_variant.values() for eps in values})
        header = " / ".join(format_epsilon(eps) for eps in epsilons)
        lines.append(f"{name} {norm} robust accuracy (white-box, eps {header}):")
        for variant, values in per_variant.items():
            cells = " / ".join(
                format_fraction(values[eps]) if eps in values else UNSET for eps in epsilons
            )
            lines.append(f"  {variant}: {cells}")
    return lines
