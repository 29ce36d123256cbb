"""The gate language: small expressions a CI pipeline evaluates against a report.

A gate compares one measured number of a report with a threshold::

    robust_accuracy[attack=pgd, eps=8/255, variant=int8] >= 0.40
    drop(robust_accuracy[attack=pgd, eps=8/255], base, int8) <= 0.05
    latency.p50_ms[variant=int8, provider=cpu] <= 2.0

Grammar (whitespace is free everywhere)::

    gate      := term OP number
    term      := reference | "drop" "(" reference "," VARIANT "," VARIANT ")"
    reference := METRIC [ "[" selector { "," selector } "]" ]
    selector  := KEY "=" VALUE
    OP        := ">=" | "<=" | ">" | "<" | "=="
    number    := decimal | decimal "/" decimal        (e.g. 0.05, 1e-3, 8/255)

The design rule is that a gate never passes by accident: an unknown metric or
selector key is a syntax error (:class:`GateError`), and a selection that matches
no row, several rows, an unset value or an untrusted attack result fails the
gate with an error that names the problem. See ``docs/gates.md`` for the user
documentation; keep the two in step.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from robustedge.v1 import evaluation_pb2 as pb

__all__ = [
    "METRICS",
    "Gate",
    "GateError",
    "Metric",
    "Reference",
    "evaluate_gate",
    "evaluate_gates",
    "gate_value",
    "parse_gate",
    "parse_number",
]

# Relative tolerance for matching epsilons and for `==`: epsilons written as
# fractions (8/255) and as decimals (0.0313725...) must select the same rows.
RELATIVE_TOLERANCE = 1e-9


class GateError(ValueError):
    """A gate expression is malformed, names an unknown metric or selector, or
    cannot be evaluated against a report (no row, several rows, unset value)."""


# ---------------------------------------------------------------------------
# Metrics: which report rows a metric reads and which selectors it accepts
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A number a gate can read: the table it comes from and its selectors."""

    name: str
    # "attack", "variant" or "latency": the repeated field of the report it reads.
    table: str
    # Field of the row message holding the value.
    field: str
    # Selector keys this metric accepts, in the order they are documented.
    selectors: tuple[str, ...]
    description: str


_ATTACK_SELECTORS = ("attack", "eps", "variant", "source", "mode", "norm")
_VARIANT_SELECTORS = ("variant",)
_LATENCY_SELECTORS = ("variant", "provider", "batch_size", "threads")


def _metrics() -> dict[str, Metric]:
    table: list[Metric] = [
        Metric(
            "robust_accuracy",
            "attack",
            "robust_accuracy",
            _ATTACK_SELECTORS,
            "accuracy on adversarial inputs, scored by onnxruntime on the target variant",
        ),
        Metric(
            "robust_accuracy.ci_low",
            "attack",
            "ci_low",
            _ATTACK_SELECTORS,
            "lower end of the Wilson 95% interval of robust_accuracy (a conservative gate)",
        ),
        Metric(
            "robust_accuracy.ci_high",
            "attack",
            "ci_high",
            _ATTACK_SELECTORS,
            "upper end of the Wilson 95% interval of robust_accuracy",
        ),
        Metric(
            "attack_success_rate",
            "attack",
            "attack_success_rate",
            _ATTACK_SELECTORS,
            "fraction of originally correct samples the attack flipped",
        ),
        Metric(
            "clean_accuracy",
            "variant",
            "clean_accuracy",
            _VARIANT_SELECTORS,
            "accuracy of a variant on the evaluation samples",
        ),
        Metric(
            "fidelity.max_abs_diff",
            "variant",
            "max_abs_diff",
            _VARIANT_SELECTORS,
            "largest output difference between the torch bridge and onnxruntime",
        ),
        Metric(
            "fidelity.top1_agreement",
            "variant",
            "top1_agreement",
            _VARIANT_SELECTORS,
            "fraction of samples where the bridge and onnxruntime agree on the class",
        ),
        Metric("size_bytes", "variant", "size_bytes", _VARIANT_SELECTORS, "ONNX file size"),
        Metric(
            "gzip_size_bytes",
            "variant",
            "gzip_size_bytes",
            _VARIANT_SELECTORS,
            "gzip-compressed ONNX file size",
        ),
        Metric(
            "sparsity",
            "variant",
            "sparsity",
            _VARIANT_SELECTORS,
            "fraction of zero weights over prunable layers",
        ),
    ]
    for name, description in (
        ("p50_ms", "median latency in milliseconds"),
        ("p90_ms", "90th percentile latency in milliseconds"),
        ("p99_ms", "99th percentile latency in milliseconds"),
        ("mean_ms", "mean latency in milliseconds"),
        ("std_ms", "standard deviation of latency in milliseconds"),
        ("min_ms", "fastest run in milliseconds"),
        ("throughput", "samples per second at the median latency"),
    ):
        table.append(Metric(f"latency.{name}", "latency", name, _LATENCY_SELECTORS, description))
    return {metric.name: metric for metric in table}


METRICS: dict[str, Metric] = _metrics()

_MODES = {
    "white_box": pb.ATTACK_MODE_WHITE_BOX,
    "transfer": pb.ATTACK_MODE_TRANSFER,
    "black_box": pb.ATTACK_MODE_BLACK_BOX,
}
_MODE_NAMES = {value: name for name, value in _MODES.items()}

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda value, limit: value >= limit or _close(value, limit),
    "<=": lambda value, limit: value <= limit or _close(value, limit),
    ">": lambda value, limit: value > limit and not _close(value, limit),
    "<": lambda value, limit: value < limit and not _close(value, limit),
    "==": lambda value, limit: _close(value, limit),
}


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=0.0)


# ---------------------------------------------------------------------------
# Parsed form
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """``METRIC[key=value, ...]``: one number of the report, once selected."""

    metric: Metric
    # Selector key -> typed value (float for eps, int for batch_size/threads,
    # pb.AttackMode for mode, str otherwise). Keys are unique.
    selectors: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.selectors:
            return self.metric.name
        parts = [f"{key}={_format_selector(key, value)}" for key, value in self.selectors.items()]
        return f"{self.metric.name}[{', '.join(parts)}]"


@dataclass(frozen=True)
class Gate:
    """A parsed gate: ``reference OP threshold`` or ``drop(reference, a, b) OP threshold``.

    For a drop, the gate's value is ``value(reference, variant=a) -
    value(reference, variant=b)``.
    """

    expression: str
    reference: Reference
    operator: str
    threshold: float
    # (variant_a, variant_b) for drop(), None for a plain reference.
    drop: tuple[str, str] | None = None

    def __str__(self) -> str:
        lhs = str(self.reference)
        if self.drop is not None:
            lhs = f"drop({lhs}, {self.drop[0]}, {self.drop[1]})"
        return f"{lhs} {self.operator} {self.threshold!r}"


def _eps_text(epsilon: float) -> str:
    """``8/255`` when the epsilon is exactly that fraction (the usual way to write
    pixel budgets), otherwise the shortest decimal that parses back exactly."""
    steps = round(epsilon * 255)
    if 0 < steps < 255 and steps / 255 == epsilon and repr(epsilon) != f"{epsilon:g}":
        return f"{steps}/255"
    return repr(epsilon)


def _format_selector(key: str, value: Any) -> str:
    if key == "mode":
        return _MODE_NAMES.get(value, str(value))
    if key == "eps":
        return _eps_text(value)
    if isinstance(value, float):
        # repr is the shortest text that parses back to the same float: a
        # printed gate must select exactly the rows the parsed one did.
        return repr(value)
    return str(value)


# ---------------------------------------------------------------------------
# Parser: a small hand-written scanner so that errors can point at a column
# ---------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_METRIC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Variant names are [a-z0-9_-]+ (they may start with a digit); be a little more
# permissive here and let the report lookup say whether the name exists.
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


def parse_number(text: str) -> float:
    """Parses ``0.05``, ``1e-3``, ``-2`` or a fraction ``8/255``; raises GateError."""
    cleaned = text.strip()
    numerator, slash, denominator = cleaned.partition("/")
    if not _NUMBER.fullmatch(numerator.strip()) or (
        slash and not _NUMBER.fullmatch(denominator.strip())
    ):
        raise GateError(f"not a number: {text!r} (write e.g. 0.05, 1e-3 or 8/255)")
    value = float(numerator)
    if slash:
        divisor = float(denominator)
        if divisor == 0:
            raise GateError(f"division by zero in {text!r}")
        value /= divisor
    if not math.isfinite(value):
        raise GateError(f"not a finite number: {text!r}")
    return value


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def error(self, message: str) -> GateError:
        pointer = " " * self.position + "^"
        return GateError(f"{message} at column {self.position + 1}\n  {self.text}\n  {pointer}")

    def skip_space(self) -> None:
        while self.position < len(self.text) and self.text[self.position].isspace():
            self.position += 1

    def at_end(self) -> bool:
        self.skip_space()
        return self.position >= len(self.text)

    def peek(self, literal: str) -> bool:
        self.skip_space()
        return self.text.startswith(literal, self.position)

    def accept(self, literal: str) -> bool:
        if self.peek(literal):
            self.position += len(literal)
            return True
        return False

    def expect(self, literal: str, what: str) -> None:
        if not self.accept(literal):
            found = self.text[self.position : self.position + 10] or "end of expression"
            raise self.error(f"expected {what}, found {found!r}")

    def match(self, pattern: re.Pattern[str], what: str) -> str:
        self.skip_space()
        found = pattern.match(self.text, self.position)
        if not found:
            rest = self.text[self.position : self.position + 10] or "end of expression"
            raise self.error(f"expected {what}, found {rest!r}")
        self.position = found.end()
        return found.group(0)

    def until(self, stops: str, what: str) -> str:
        """The raw text up to the next character in ``stops`` (stripped)."""
        self.skip_space()
        start = self.position
        while self.position < len(self.text) and self.text[self.position] not in stops:
            self.position += 1
        value = self.text[start : self.position].strip()
        if not value:
            self.position = start
            raise self.error(f"expected {what}")
        return value


def parse_gate(expression: str) -> Gate:
    """Parses a gate expression; raises :class:`GateError` with the column of a
    syntax error, or naming the unknown metric or selector."""
    scanner = _Scanner(expression)
    if scanner.at_end():
        raise GateError("empty gate expression")
    drop: tuple[str, str] | None = None
    start = scanner.position
    name = scanner.match(_METRIC_NAME, "a metric name or drop(")
    if name == "drop" and scanner.peek("("):
        scanner.expect("(", "'('")
        reference = _parse_reference(scanner)
        if "variant" in reference.selectors:
            raise GateError(
                f"drop() takes the two variants as arguments; remove variant= from {reference}"
            )
        scanner.expect(",", "',' before the first variant")
        first = scanner.match(_NAME, "a variant name")
        scanner.expect(",", "',' before the second variant")
        second = scanner.match(_NAME, "a variant name")
        scanner.expect(")", "')' closing drop(")
        drop = (first, second)
    else:
        scanner.position = start
        reference = _parse_reference(scanner)
    operator = _parse_operator(scanner)
    scanner.skip_space()
    threshold_position = scanner.position
    threshold_text = scanner.until("", "a number after the operator")
    try:
        threshold = parse_number(threshold_text)
    except GateError as error:
        scanner.position = threshold_position
        raise scanner.error(str(error)) from None
    return Gate(expression.strip(), reference, operator, threshold, drop)


def _parse_operator(scanner: _Scanner) -> str:
    # Two-character operators first so that ">=" is not read as ">".
    for operator in (">=", "<=", "==", ">", "<"):
        if scanner.accept(operator):
            return operator
    found = scanner.text[scanner.position : scanner.position + 10] or "end of expression"
    raise scanner.error(f"expected a comparison (>=, <=, >, <, ==), found {found!r}")


def _parse_reference(scanner: _Scanner) -> Reference:
    name_position = scanner.position
    name = scanner.match(_METRIC_NAME, "a metric name")
    metric = METRICS.get(name)
    if metric is None:
        scanner.position = name_position
        scanner.skip_space()
        known = ", ".join(sorted(METRICS))
        raise scanner.error(f"unknown metric {name!r} (known: {known})")
    selectors: dict[str, Any] = {}
    if scanner.accept("["):
        while True:
            key_position = scanner.position
            key = scanner.match(_KEY, "a selector key")
            if key not in metric.selectors:
                scanner.position = key_position
                scanner.skip_space()
                raise scanner.error(
                    f"unknown selector {key!r} for {metric.name} "
                    f"(known: {', '.join(metric.selectors)})"
                )
            if key in selectors:
                raise scanner.error(f"selector {key!r} given twice")
            scanner.expect("=", f"'=' after {key}")
            scanner.skip_space()
            value_position = scanner.position
            # Epsilons may be fractions with spaces ("8 / 255"); names are one token.
            if key == "eps":
                raw = scanner.until(",]", f"a value for {key}")
            else:
                raw = scanner.match(_NAME, f"a value for {key}")
            try:
                selectors[key] = _selector_value(key, raw)
            except GateError as error:
                scanner.position = value_position
                raise scanner.error(str(error)) from None
            if scanner.accept("]"):
                break
            scanner.expect(",", "',' or ']' after a selector")
    return Reference(metric, selectors)


def _selector_value(key: str, raw: str) -> Any:
    if key == "eps":
        return parse_number(raw)
    if key in ("batch_size", "threads"):
        if not re.fullmatch(r"\d+", raw):
            raise GateError(f"{key} must be a whole number, not {raw!r}")
        return int(raw)
    if key == "mode":
        mode = _MODES.get(raw.lower())
        if mode is None:
            raise GateError(f"unknown mode {raw!r} (known: {', '.join(_MODES)})")
        return mode
    if not _NAME.fullmatch(raw):
        raise GateError(f"invalid {key} value {raw!r}")
    return raw


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


def evaluate_gates(report: pb.Report, expressions: Sequence[str]) -> list[pb.GateResult]:
    """Evaluates every expression against ``report``; never raises for a bad
    expression: it yields ``passed=False`` with ``error`` set and ``value`` unset."""
    return [evaluate_gate(report, expression) for expression in expressions]


def evaluate_gate(report: pb.Report, gate: str | Gate) -> pb.GateResult:
    """Evaluates one gate (an expression or a parsed :class:`Gate`)."""
    expression = gate if isinstance(gate, str) else gate.expression
    result = pb.GateResult(expression=expression.strip(), passed=False)
    try:
        parsed = parse_gate(gate) if isinstance(gate, str) else gate
        value = gate_value(report, parsed)
    except GateError as error:
        result.error = str(error)
        return result
    result.value = value
    untrusted = _untrusted_sources(report, parsed)
    if untrusted:
        # The number exists but comes from a bridge that failed its fidelity
        # check: gradients were wrong, so the attack was likely too weak and the
        # robust accuracy too high. A gate must not pass on such a number.
        result.error = (
            "result is untrusted: the bridge of "
            + ", ".join(untrusted)
            + " failed its fidelity check (see flags)"
        )
        return result
    result.passed = _OPERATORS[parsed.operator](value, parsed.threshold)
    return result


def gate_value(report: pb.Report, gate: Gate) -> float:
    """The left-hand side of ``gate`` measured on ``report``; raises GateError."""
    if gate.drop is None:
        return _value(report, gate.reference, _select(report, gate.reference))
    first, second = gate.drop
    a = _value(report, gate.reference, _select(report, _with_variant(gate.reference, first)))
    b = _value(report, gate.reference, _select(report, _with_variant(gate.reference, second)))
    return a - b


def _with_variant(reference: Reference, variant: str) -> Reference:
    return Reference(reference.metric, {**reference.selectors, "variant": variant})


def _untrusted_sources(report: pb.Report, gate: Gate) -> list[str]:
    if gate.reference.metric.table != "attack":
        return []
    references = (
        [gate.reference]
        if gate.drop is None
        else [_with_variant(gate.reference, name) for name in gate.drop]
    )
    names: list[str] = []
    for reference in references:
        row = _select(report, reference)
        if isinstance(row, pb.AttackResult) and not row.trusted:
            names.append(row.source_variant or row.target_variant)
    return sorted(set(names))


def _value(report: pb.Report, reference: Reference, row: Any) -> float:
    metric = reference.metric
    message = row.fidelity if metric.name.startswith("fidelity.") else row
    if message.DESCRIPTOR.fields_by_name[metric.field].has_presence and not message.HasField(
        metric.field
    ):
        reason = ""
        if isinstance(row, pb.VariantResult) and not row.ok:
            reason = f" (variant failed: {row.error})" if row.error else " (variant failed)"
        elif isinstance(row, pb.VariantResult) and row.fidelity.error:
            reason = f" (bridge: {row.fidelity.error})"
        raise GateError(f"{metric.name} is not set in the report for {reference}{reason}")
    return float(getattr(message, metric.field))


def _select(report: pb.Report, reference: Reference) -> Any:
    table = reference.metric.table
    if table == "attack":
        return _select_attack(report, reference)
    if table == "latency":
        return _select_latency(report, reference)
    return _select_variant(report, reference)


def _one(rows: list[Any], reference: Reference, describe: Callable[[Any], str], hint: str) -> Any:
    if len(rows) == 1:
        return rows[0]
    if not rows:
        raise GateError(f"{reference} selects no row of the report{hint}")
    options = "; ".join(sorted({describe(row) for row in rows}))
    raise GateError(
        f"{reference} is ambiguous: it selects {len(rows)} rows ({options}); "
        "add selectors to pick exactly one"
    )


def _known(what: str, values: Sequence[str], *, keep_order: bool = False) -> str:
    unique = list(dict.fromkeys(values)) if keep_order else sorted(set(values))
    return f"; known {what}: {', '.join(unique) or 'none'}"


def _select_variant(report: pb.Report, reference: Reference) -> pb.VariantResult:
    wanted = reference.selectors.get("variant")
    rows = [row for row in report.variants if wanted is None or row.name == wanted]
    names = [row.name for row in report.variants]
    return _one(rows, reference, lambda row: f"variant={row.name}", _known("variants", names))


def _select_attack(report: pb.Report, reference: Reference) -> pb.AttackResult:
    selectors = reference.selectors
    mode = selectors.get("mode", pb.ATTACK_MODE_WHITE_BOX)
    attack = selectors.get("attack")
    rows = [row for row in report.attacks if row.mode == mode]
    if attack is not None:
        # Unknown attack names are worth their own message: it is the typo
        # people make most.
        if not any(row.attack == attack for row in report.attacks):
            raise GateError(
                f"{reference}: no attack named {attack!r} in the report"
                + _known("attacks", [row.attack for row in report.attacks])
            )
        rows = [row for row in rows if row.attack == attack]
    if "norm" in selectors:
        rows = [row for row in rows if row.norm == selectors["norm"]]
    if "eps" in selectors:
        rows = [row for row in rows if _close(row.epsilon, selectors["eps"])]
    target = selectors.get("variant")
    if target is not None:
        rows = [row for row in rows if row.target_variant == target]
    source = selectors.get("source")
    if source is not None:
        rows = [row for row in rows if (row.source_variant or row.target_variant) == source]
    elif mode != pb.ATTACK_MODE_TRANSFER:
        # White-box and black-box examples are crafted on the target itself.
        rows = [row for row in rows if row.source_variant in ("", row.target_variant)]
    if (
        not rows
        and mode == pb.ATTACK_MODE_TRANSFER
        and target is not None
        and (source or "base") == target
    ):
        # Examples crafted on a variant and scored on that same variant are its
        # white-box result; the service stores no separate base→base transfer
        # row, and drop(...[mode=transfer], base, int8) needs one.
        white_box = {key: value for key, value in selectors.items() if key != "mode"}
        return _select_attack(report, Reference(reference.metric, white_box | {"source": target}))

    def describe(row: pb.AttackResult) -> str:
        parts = [
            f"attack={row.attack}",
            f"eps={_eps_text(row.epsilon)}",
            f"variant={row.target_variant}",
        ]
        if row.norm:
            parts.append(f"norm={row.norm}")
        if row.mode == pb.ATTACK_MODE_TRANSFER:
            parts.append(f"source={row.source_variant}")
        return "[" + ", ".join(parts) + "]"

    in_mode = [row for row in report.attacks if row.mode == mode]
    hint = f" in mode {_MODE_NAMES.get(mode, mode)}" + _known(
        "epsilons",
        [_eps_text(eps) for eps in sorted({row.epsilon for row in in_mode})],
        keep_order=True,
    )
    hint += _known("target variants", [row.target_variant for row in in_mode])
    return _one(rows, reference, describe, hint)


def _select_latency(report: pb.Report, reference: Reference) -> pb.LatencyResult:
    selectors = reference.selectors
    provider = selectors.get("provider", "cpu")
    batch_size = selectors.get("batch_size", 1)
    rows = [
        row for row in report.latency if row.provider == provider and row.batch_size == batch_size
    ]
    if "variant" in selectors:
        rows = [row for row in rows if row.variant == selectors["variant"]]
    if "threads" in selectors:
        rows = [row for row in rows if row.threads == selectors["threads"]]
    row = _one(
        rows,
        reference,
        lambda row: f"variant={row.variant}, threads={row.threads}",
        f" (provider={provider}, batch_size={batch_size})"
        + _known("providers", [row.provider for row in report.latency])
        + _known("variants", [row.variant for row in report.latency]),
    )
    if row.skipped_reason:
        raise GateError(f"{reference}: latency was not measured: {row.skipped_reason}")
    return row
