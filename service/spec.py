"""Evaluation specs: presets, merging a preset with a client's overrides, validation.

A spec is checked completely at submit time, so a typo in a compressor field or an
attack parameter is an INVALID_ARGUMENT naming the field, not a job that fails
twenty minutes later. Compressor and attack configs are validated by their own
registries (which import no heavy library for that).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format, struct_pb2

from robustedge.service.errors import FailedPrecondition, InvalidArgument
from robustedge.v1 import evaluation_pb2 as pb

DEFAULT_PRESET = "quick"
MAX_SAMPLES = 100_000
# Sample slices per attack x variant x epsilon: each is a unit (a row in the job store,
# a Ray task), so the bound keeps one spec from planning hundreds of thousands of units.
MAX_SAMPLE_SHARDS = 256
_VARIANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

InputRange = tuple[float, float]

INT8_STATIC = {
    "name": "int8",
    "steps": [{"compressor": "quantize", "params": {"approach": "static", "format": "qdq"}}],
}


def _attacks_preset(name: str, description: str) -> tuple[str, Callable[[InputRange], dict]]:
    """A preset that evaluates base + int8 under one of the attack suite's attack sets."""

    def build(input_range: InputRange) -> dict[str, Any]:
        from robustedge.attacks.presets import attack_preset

        return {
            "samples": 500,
            "seed": 0,
            "variants": [INT8_STATIC],
            "attacks": attack_preset(name, input_range),
            "latency": {"providers": ["cpu", "openvino"], "batch_sizes": [1], "threads": [1]},
        }

    return description, build


def _variants_preset(name: str, description: str) -> tuple[str, Callable[[InputRange], dict]]:
    """A preset that evaluates one of the compressors' variant sets under the quick attacks."""

    def build(input_range: InputRange) -> dict[str, Any]:
        from robustedge.compressors import variant_presets

        spec = _attacks_preset("quick", "")[1](input_range)
        spec["variants"] = [
            {
                "name": v["name"],
                "steps": [
                    {
                        "compressor": step["compressor"],
                        "params": {k: val for k, val in step.items() if k != "compressor"},
                    }
                    for step in v["steps"]
                ],
            }
            for v in variant_presets()[name]
        ]
        return spec

    return description, build


PRESETS: dict[str, tuple[str, Callable[[InputRange], dict[str, Any]]]] = {
    "quick": _attacks_preset(
        "quick",
        "base + int8 (static QDQ); FGSM and PGD-10 (L-inf) at 3 epsilons; <= 500 samples;"
        " CPU and OpenVINO latency",
    ),
    "standard": _attacks_preset(
        "standard",
        "base + int8; AutoAttack-style worst case over APGD-CE, APGD-DLR and Square, and each"
        " member alone",
    ),
    "paper": _attacks_preset(
        "paper",
        "base + int8; the studies' set: FGSM, BIM, PGD, AutoPGD, CW-L2, DeepFool, universal",
    ),
    "int8": _variants_preset("int8", "static QDQ and dynamic int8 variants, quick attacks"),
    "pruning-sweep": _variants_preset(
        "pruning-sweep", "L2 channel pruning at 10-50%, quick attacks"
    ),
    "compounded": _variants_preset(
        "compounded", "pruning, clustering and int8 alone and in every combination, quick attacks"
    ),
    "robust-search": (
        "robustness-aware search for the most robust variant within size <= 0.3x, CPU p50"
        " <= 0.7x base (batch 128) and 3 points of clean accuracy, beside the plain int8"
        " and pruning-sweep variants",
        lambda input_range: _robust_search_preset(input_range),
    ),
}

# Budgets of the robust-search preset. On small CNNs such as the digits demo, int8
# is ~0.3x the size and ~0.6-0.7x the batch-128 CPU latency of float, so these
# budgets admit the plain int8 variant and ask the search to beat its robustness.
ROBUST_SEARCH_BUDGETS = {"max_size_ratio": 0.3, "max_latency_ratio": 0.7, "max_clean_drop": 0.03}


def _robust_search_preset(input_range: InputRange) -> dict[str, Any]:
    """The plain int8 and pruning-sweep variants, plus the search's choice, under
    PGD; latency at batch 1 and at the search's batch 128."""
    spec = _variants_preset("int8", "")[1](input_range)
    sweep = _variants_preset("pruning-sweep", "")[1](input_range)
    width = input_range[1] - input_range[0]
    spec.update(
        # Half of the digits set: the other half calibrates, fine-tunes and scores
        # the search's candidates.
        samples=270,
        variants=spec["variants"] + sweep["variants"],
        attacks=[
            {"attack": "pgd", "norm": "linf", "epsilons": [0.05 * width, 0.1 * width]},
        ],
        latency={"providers": ["cpu"], "batch_sizes": [1, 128], "threads": [1]},
        search={
            "enabled": True,
            "attack": "pgd",
            "epsilon": 0.1 * width,
            "latency_batch_size": 128,
            **ROBUST_SEARCH_BUDGETS,
        },
    )
    return spec


def preset_spec(name: str, input_range: InputRange = (0.0, 1.0)) -> pb.EvaluationSpec:
    if name not in PRESETS:
        raise InvalidArgument(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    try:
        raw = PRESETS[name][1](input_range)
    except ImportError as exc:
        raise FailedPrecondition(f"preset {name!r} is not available on this server: {exc}") from exc
    return json_format.ParseDict(raw, pb.EvaluationSpec())


def merge(
    preset: str, overrides: pb.EvaluationSpec, input_range: InputRange = (0.0, 1.0)
) -> pb.EvaluationSpec:
    """Resolves what a client asked for into one spec.

    Without a preset, a spec that names attacks or variants is taken as written and
    an empty one means the default preset. With a preset, every field the client
    set replaces the preset's, and gates are added to the preset's gates. Preset
    epsilons are scaled to the dataset's input range.
    """
    if not preset:
        if overrides.attacks or overrides.variants:
            spec = pb.EvaluationSpec()
            spec.CopyFrom(overrides)
            return spec
        preset = DEFAULT_PRESET
    spec = preset_spec(preset, input_range)
    if overrides.samples:
        spec.samples = overrides.samples
    if overrides.seed:
        spec.seed = overrides.seed
    if overrides.sample_shards:
        spec.sample_shards = overrides.sample_shards
    if overrides.variants:
        del spec.variants[:]
        spec.variants.extend(overrides.variants)
    if overrides.attacks:
        del spec.attacks[:]
        spec.attacks.extend(overrides.attacks)
    if overrides.HasField("latency"):
        spec.latency.CopyFrom(overrides.latency)
    if overrides.HasField("fidelity"):
        spec.fidelity.CopyFrom(overrides.fidelity)
    if overrides.HasField("sensitivity"):
        spec.sensitivity.CopyFrom(overrides.sensitivity)
    if overrides.HasField("search"):
        # Settings the client left at 0/empty keep the preset's (e.g. its budgets).
        spec.search.MergeFrom(overrides.search)
    spec.keep_adversarial = spec.keep_adversarial or overrides.keep_adversarial
    spec.gates.extend(overrides.gates)
    return spec


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """Struct numbers are doubles; whole numbers come back as int so configs type-check."""
    raw = json_format.MessageToDict(struct)
    return {k: _unfloat(v) for k, v in raw.items()}


def _unfloat(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_unfloat(v) for v in value]
    if isinstance(value, dict):
        return {k: _unfloat(v) for k, v in value.items()}
    return value


def validate(spec: pb.EvaluationSpec, *, input_range: tuple[float, float]) -> pb.EvaluationSpec:
    """Checks a merged spec, fills defaults in place and returns it; raises InvalidArgument."""
    if spec.samples < 0 or spec.samples > MAX_SAMPLES:
        raise InvalidArgument(f"spec.samples must be in [0, {MAX_SAMPLES}], got {spec.samples}")
    if spec.sample_shards > MAX_SAMPLE_SHARDS:
        raise InvalidArgument(
            f"spec.sample_shards must be in [0, {MAX_SAMPLE_SHARDS}], got {spec.sample_shards}"
        )
    _validate_variants(spec)
    _validate_attacks(spec, input_range)
    _validate_latency(spec.latency)
    _validate_gates(spec)
    _validate_sensitivity(spec, input_range)
    _validate_search(spec, input_range)
    if spec.fidelity.max_abs_diff < 0 or not 0 <= spec.fidelity.min_top1_agreement <= 1:
        raise InvalidArgument(
            "spec.fidelity thresholds must be max_abs_diff >= 0, 0 <= agreement <= 1"
        )
    return spec


def _validate_variants(spec: pb.EvaluationSpec) -> None:
    names: set[str] = set()
    steps_json = []
    for i, variant in enumerate(spec.variants):
        if not _VARIANT_NAME.match(variant.name) or variant.name == "base":
            raise InvalidArgument(
                f"variants[{i}].name {variant.name!r} must match [a-z0-9][a-z0-9_-]* and not be"
                " 'base'"
            )
        if variant.name in names:
            raise InvalidArgument(f"variants[{i}].name {variant.name!r} is used twice")
        names.add(variant.name)
        if not variant.steps:
            raise InvalidArgument(f"variants[{i}].steps must not be empty")
        steps_json.append(
            [{"compressor": s.compressor, **struct_to_dict(s.params)} for s in variant.steps]
        )
    if not steps_json:
        return
    try:
        from robustedge.compressors import ConfigError, validate_steps
    except ImportError as exc:
        raise FailedPrecondition(f"compressors are not available on this server: {exc}") from exc
    for i, (variant, steps) in enumerate(zip(spec.variants, steps_json, strict=True)):
        try:
            resolved = validate_steps(steps)
        except ConfigError as exc:
            raise InvalidArgument(f"variants[{i}] ({variant.name}): {exc}") from exc
        del variant.steps[:]
        for step in resolved:
            params = struct_pb2.Struct()
            params.update({k: v for k, v in step.items() if k != "compressor"})
            variant.steps.add(compressor=step["compressor"], params=params)


def _validate_attacks(spec: pb.EvaluationSpec, input_range: tuple[float, float]) -> None:
    from robustedge.attacks import AttackConfigError, get_attack

    width = input_range[1] - input_range[0]
    for i, attack_spec in enumerate(spec.attacks):
        where = f"attacks[{i}]"
        try:
            attack = get_attack(attack_spec.attack)
        except KeyError as exc:
            raise InvalidArgument(f"{where}.attack: {exc.args[0] if exc.args else exc}") from exc
        if not attack_spec.epsilons:
            raise InvalidArgument(f"{where}.epsilons must not be empty")
        for eps in attack_spec.epsilons:
            if not math.isfinite(eps) or eps <= 0 or eps > width:
                raise InvalidArgument(
                    f"{where}.epsilons: {eps} must be in (0, {width:g}] (the input range width)"
                )
        if not attack_spec.norm:
            attack_spec.norm = attack.norms[0]
        if attack_spec.norm not in attack.norms:
            raise InvalidArgument(
                f"{where}.norm {attack_spec.norm!r}: {attack.name} supports {list(attack.norms)}"
            )
        known = {"*", "base", *(v.name for v in spec.variants)}
        for source in attack_spec.transfer_sources:
            if source not in known:
                raise InvalidArgument(
                    f"{where}.transfer_sources: {source!r} is not a variant of this spec"
                )
        params = struct_to_dict(attack_spec.params)
        for eps in attack_spec.epsilons:
            try:
                attack.resolve_params(params, epsilon=eps, norm=attack_spec.norm)
            except AttackConfigError as exc:
                raise InvalidArgument(f"{where}.params.{exc.field}: {exc}") from exc


def _validate_latency(latency: pb.LatencySpec) -> None:
    from robustedge.latency.providers import ORT_PROVIDER_NAMES

    if latency.disabled:
        return
    if not latency.providers:
        latency.providers.append("cpu")
    if not latency.batch_sizes:
        latency.batch_sizes.append(1)
    if not latency.threads and not latency.profiles:
        latency.threads.append(1)
    for provider in latency.providers:
        if provider not in ORT_PROVIDER_NAMES:
            raise InvalidArgument(
                f"latency.providers: unknown provider {provider!r};"
                f" known: {', '.join(ORT_PROVIDER_NAMES)}"
            )
    if any(b < 1 or b > 4096 for b in latency.batch_sizes):
        raise InvalidArgument("latency.batch_sizes must be in [1, 4096]")
    if any(t < 1 or t > 256 for t in latency.threads):
        raise InvalidArgument("latency.threads must be in [1, 256]")
    latency.warmup = latency.warmup or 10
    latency.min_iterations = latency.min_iterations or 50
    latency.max_seconds = latency.max_seconds or 2.0
    if latency.warmup < 0 or latency.min_iterations < 1 or latency.max_seconds > 600:
        raise InvalidArgument("latency: warmup >= 0, min_iterations >= 1, max_seconds <= 600")
    try:
        latency_configs(latency)
    except ValueError as exc:
        raise InvalidArgument(f"latency: {exc}") from exc


def latency_configs(latency: pb.LatencySpec) -> list[Any]:
    """The measurement configurations a latency spec asks for."""
    from robustedge.latency import expand_configs

    return expand_configs(
        providers=list(latency.providers),
        batch_sizes=list(latency.batch_sizes),
        threads=list(latency.threads),
        profiles=list(latency.profiles),
        warmup=int(latency.warmup),
        min_iterations=int(latency.min_iterations),
        max_seconds=float(latency.max_seconds),
    )


def _validate_sensitivity(spec: pb.EvaluationSpec, input_range: InputRange) -> None:
    settings = spec.sensitivity
    if not settings.enabled:
        return
    _gradient_attack(settings.attack or "pgd", "sensitivity.attack")
    width = input_range[1] - input_range[0]
    if not 0 <= settings.epsilon <= width or not math.isfinite(settings.epsilon):
        raise InvalidArgument(f"sensitivity.epsilon must be in [0, {width:g}]")
    if not 0 <= settings.sparsity < 1:
        raise InvalidArgument("sensitivity.sparsity must be in [0, 1)")
    _only_known(settings.methods, SENSITIVITY_METHODS, "sensitivity.methods")
    if not settings.methods:
        settings.methods.extend(SENSITIVITY_METHODS)


SENSITIVITY_METHODS = ("prune", "quantize")


def _only_known(values: Any, known: tuple[str, ...], where: str) -> None:
    """Refuses names outside ``known`` in a repeated string field."""
    unknown = set(values) - set(known)
    if unknown:
        raise InvalidArgument(f"{where}: unknown {sorted(unknown)}; known: {list(known)}")


def _gradient_attack(name: str, where: str) -> None:
    from robustedge.attacks import Need, get_attack

    try:
        attack = get_attack(name)
    except KeyError as exc:
        raise InvalidArgument(f"{where}: {exc.args[0] if exc.args else exc}") from exc
    if attack.needs != Need.GRADIENTS:
        raise InvalidArgument(f"{where}: {name} is not a gradient attack")


def objective_epsilon(spec: pb.EvaluationSpec, attack: str, epsilon: float, width: float) -> float:
    """An analysis' epsilon: as given, else the middle epsilon of the spec's first attack
    of that name, else 0.1 of the input range width."""
    if epsilon:
        return float(epsilon)
    same = [a for a in spec.attacks if a.attack == attack and a.epsilons]
    if same:
        return float(sorted(same[0].epsilons)[len(same[0].epsilons) // 2])
    return 0.1 * width


SEARCH_DIMENSIONS = ("prune", "quantize", "cluster", "finetune", "order")
SEARCH_DEFAULTS = {
    "max_clean_drop": 0.02,
    "latency_batch_size": 128,
    "size_metric": "file",
    "max_evaluations": 24,
    "max_seconds": 600.0,
}


def _validate_search(spec: pb.EvaluationSpec, input_range: InputRange) -> None:
    """Checks the search settings and writes every default into the spec, so the
    report shows what the search ran with."""
    from robustedge.service.plan import DEFAULT_SEARCH_VARIANT

    search = spec.search
    if not search.enabled:
        return
    search.variant_name = search.variant_name or DEFAULT_SEARCH_VARIANT
    if not _VARIANT_NAME.match(search.variant_name) or search.variant_name == "base":
        raise InvalidArgument(
            f"search.variant_name {search.variant_name!r} must match [a-z0-9][a-z0-9_-]* and"
            " not be 'base'"
        )
    if search.variant_name in {v.name for v in spec.variants}:
        raise InvalidArgument(
            f"search.variant_name {search.variant_name!r} is also a variant of the spec"
        )
    search.attack = search.attack or "pgd"
    _gradient_attack(search.attack, "search.attack")
    width = input_range[1] - input_range[0]
    if not math.isfinite(search.epsilon) or not 0 <= search.epsilon <= width:
        raise InvalidArgument(f"search.epsilon must be in [0, {width:g}]")
    search.epsilon = objective_epsilon(spec, search.attack, search.epsilon, width)
    for name, value in SEARCH_DEFAULTS.items():
        if not getattr(search, name):
            setattr(search, name, value)
    ratios = {
        "max_clean_drop": search.max_clean_drop,
        "max_size_ratio": search.max_size_ratio,
        "max_latency_ratio": search.max_latency_ratio,
    }
    for name, value in ratios.items():
        if not math.isfinite(value) or not 0 <= value <= (1 if name == "max_clean_drop" else 100):
            raise InvalidArgument(f"search.{name} must be a fraction >= 0, got {value}")
    if not 1 <= search.latency_batch_size <= 4096:
        raise InvalidArgument("search.latency_batch_size must be in [1, 4096]")
    if search.size_metric not in ("file", "gzip"):
        raise InvalidArgument(
            f"search.size_metric must be file or gzip, got {search.size_metric!r}"
        )
    if not 1 <= search.max_evaluations <= 500:
        raise InvalidArgument("search.max_evaluations must be in [1, 500]")
    if not math.isfinite(search.max_seconds) or not 0 < search.max_seconds <= 86400:
        raise InvalidArgument("search.max_seconds must be in (0, 86400]")
    if search.validation_samples < 0:
        raise InvalidArgument("search.validation_samples must be >= 0")
    _only_known(search.dimensions, SEARCH_DIMENSIONS, "search.dimensions")
    if not search.dimensions:
        # Clustering shares weight values but keeps the ONNX file as large; it only
        # pays off when size means compressed bytes.
        search.dimensions.extend(
            d for d in SEARCH_DIMENSIONS if d != "cluster" or search.size_metric == "gzip"
        )


def _validate_gates(spec: pb.EvaluationSpec) -> None:
    from robustedge.client.gates import GateError, parse_gate

    for i, expression in enumerate(spec.gates):
        try:
            parse_gate(expression)
        except GateError as exc:
            raise InvalidArgument(f"gates[{i}] {expression!r}: {exc}") from exc
