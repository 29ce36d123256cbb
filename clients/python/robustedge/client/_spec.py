"""Spec files (YAML or JSON) and epsilon fractions, turned into the proto spec.

A spec file looks like this (every key optional; ``preset`` starts from a named
spec and the other keys replace its fields, gates are added)::

    preset: quick
    samples: 300
    seed: 0
    sample_shards: 4      # split each attack's samples into 4 units (default 1)
    variants:
      - name: int8
        steps: [{compressor: quantize, approach: static, format: qdq}]
    attacks:
      - {attack: pgd, norm: linf, epsilons: [8/255, 0.1], steps: 10}
    latency: {providers: [cpu], batch_sizes: [1], threads: [1]}
    gates: ["robust_accuracy[attack=pgd, eps=0.1, variant=int8] >= 0.3"]

In a step, every key but ``compressor`` is a compressor parameter; in an attack,
every key but ``attack``, ``norm``, ``epsilons``, ``modes`` and
``transfer_sources`` (variants whose examples are transferred to the others; default
``[base]``, ``["*"]`` for all) is an attack parameter. Epsilons may be written as
fractions such as ``8/255``.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

from google.protobuf import json_format, struct_pb2

from robustedge.client._errors import SpecError
from robustedge.v1 import evaluation_pb2 as pb

_TOP_LEVEL = {
    "preset", "samples", "seed", "variants", "attacks", "latency", "gates", "fidelity",
    "keep_adversarial", "sensitivity", "search", "sample_shards",
}  # fmt: skip
_ATTACK_KEYS = {"attack", "norm", "epsilons", "modes", "transfer_sources"}
_MODES = {
    "white_box": pb.ATTACK_MODE_WHITE_BOX,
    "transfer": pb.ATTACK_MODE_TRANSFER,
    "black_box": pb.ATTACK_MODE_BLACK_BOX,
}


def _analysis(raw: Any, message: Any, where: str) -> Any:
    """An optional analysis (``sensitivity``, ``search``): present means enabled, and
    ``{}`` or ``true`` runs it with its defaults; ``epsilon`` may be a fraction."""
    settings = dict(raw) if isinstance(raw, dict) else {}
    if raw is False:
        settings["enabled"] = False
    settings.setdefault("enabled", True)
    if "epsilon" in settings:
        settings["epsilon"] = parse_number(settings["epsilon"], where=f"{where}.epsilon")
    return _message(settings, message, where)


def parse_number(value: Any, *, where: str) -> float:
    """Accepts numbers and fraction strings like ``8/255``."""
    if isinstance(value, bool):
        raise SpecError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(Fraction(value.replace(" ", "")))
        except (ValueError, ZeroDivisionError):
            pass
    raise SpecError(f"{where}: expected a number or a fraction such as 8/255, got {value!r}")


def load_spec_file(path: str | Path) -> tuple[str, pb.EvaluationSpec]:
    """Reads a YAML or JSON spec file; returns (preset name or '', spec)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read spec file {path}: {exc.strerror}") from exc
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"{path}: invalid JSON: {exc}") from exc
    else:
        try:
            import yaml
        except ImportError as exc:
            raise SpecError(
                "YAML spec files need PyYAML: pip install 'robustedge-client[yaml]'"
                " (or write the spec as .json)"
            ) from exc
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError(f"{path}: invalid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    return spec_from_dict(raw)


def spec_from_dict(raw: Any) -> tuple[str, pb.EvaluationSpec]:
    if not isinstance(raw, dict):
        raise SpecError("a spec must be a mapping of keys to values")
    unknown = set(raw) - _TOP_LEVEL
    if unknown:
        raise SpecError(f"unknown spec keys {sorted(unknown)}; known keys: {sorted(_TOP_LEVEL)}")
    spec = pb.EvaluationSpec()
    if "samples" in raw:
        spec.samples = _integer(raw["samples"], "samples")
    if "seed" in raw:
        spec.seed = _integer(raw["seed"], "seed")
    if "sample_shards" in raw:
        shards = _integer(raw["sample_shards"], "sample_shards")
        if shards < 0:
            raise SpecError(f"sample_shards: expected a count >= 0, got {shards}")
        spec.sample_shards = shards
    for i, variant in enumerate(raw.get("variants") or []):
        spec.variants.append(_variant(variant, f"variants[{i}]"))
    for i, attack in enumerate(raw.get("attacks") or []):
        spec.attacks.append(_attack(attack, f"attacks[{i}]"))
    if raw.get("latency") is not None:
        spec.latency.CopyFrom(_message(raw["latency"], pb.LatencySpec(), "latency"))
    if raw.get("sensitivity") is not None:
        spec.sensitivity.CopyFrom(
            _analysis(raw["sensitivity"], pb.SensitivitySpec(), "sensitivity")
        )
    if raw.get("search") is not None:
        spec.search.CopyFrom(_analysis(raw["search"], pb.SearchSpec(), "search"))
    if raw.get("fidelity") is not None:
        spec.fidelity.CopyFrom(_message(raw["fidelity"], pb.FidelitySpec(), "fidelity"))
    keep = raw.get("keep_adversarial", False)
    if not isinstance(keep, bool):
        raise SpecError("keep_adversarial: expected true or false")
    spec.keep_adversarial = keep
    gates = raw.get("gates") or []
    if not isinstance(gates, list) or not all(isinstance(g, str) for g in gates):
        raise SpecError("gates: expected a list of expressions")
    spec.gates.extend(gates)
    preset = raw.get("preset") or ""
    if not isinstance(preset, str):
        raise SpecError("preset: expected a name")
    return preset, spec


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{where}: expected an integer, got {value!r}")
    return value


def _struct(values: dict[str, Any], where: str) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    try:
        struct.update(values)
    except (ValueError, TypeError) as exc:
        raise SpecError(f"{where}: {exc}") from exc
    return struct


def _variant(raw: Any, where: str) -> pb.VariantSpec:
    if not isinstance(raw, dict) or "name" not in raw:
        raise SpecError(f"{where}: expected a mapping with 'name' and 'steps'")
    variant = pb.VariantSpec(name=str(raw["name"]))
    steps = raw.get("steps") or []
    if not isinstance(steps, list):
        raise SpecError(f"{where}.steps: expected a list")
    for j, step in enumerate(steps):
        if not isinstance(step, dict) or "compressor" not in step:
            raise SpecError(f"{where}.steps[{j}]: expected a mapping with 'compressor'")
        params = {k: v for k, v in step.items() if k not in ("compressor", "params")}
        params.update(step.get("params") or {})
        variant.steps.add(
            compressor=str(step["compressor"]), params=_struct(params, f"{where}.steps[{j}]")
        )
    return variant


def _attack(raw: Any, where: str) -> pb.AttackSpec:
    if not isinstance(raw, dict) or "attack" not in raw:
        raise SpecError(f"{where}: expected a mapping with 'attack'")
    epsilons = raw.get("epsilons", [])
    if not isinstance(epsilons, list):
        epsilons = [epsilons]
    attack = pb.AttackSpec(
        attack=str(raw["attack"]),
        norm=str(raw.get("norm", "")),
        epsilons=[parse_number(e, where=f"{where}.epsilons[{k}]") for k, e in enumerate(epsilons)],
    )
    sources = raw.get("transfer_sources") or []
    if not isinstance(sources, list) or not all(isinstance(v, str) for v in sources):
        raise SpecError(f"{where}.transfer_sources: expected a list of variant names")
    attack.transfer_sources.extend(sources)
    for mode in raw.get("modes") or []:
        if mode not in _MODES:
            raise SpecError(f"{where}.modes: unknown mode {mode!r}; known: {sorted(_MODES)}")
        attack.modes.append(_MODES[mode])
    params = {k: v for k, v in raw.items() if k not in _ATTACK_KEYS and k != "params"}
    params.update(raw.get("params") or {})
    for key, value in params.items():
        if isinstance(value, str) and "/" in value:
            params[key] = parse_number(value, where=f"{where}.{key}")
    attack.params.CopyFrom(_struct(params, where))
    return attack


def _message(raw: Any, message: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a mapping")
    try:
        return json_format.ParseDict(raw, message)
    except json_format.ParseError as exc:
        raise SpecError(f"{where}: {exc}") from exc
