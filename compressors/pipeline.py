"""Variants as ordered lists of compression steps: validation and building.

A step is ``{"compressor": name, **settings}``. :func:`validate_steps` is what the
server runs at submit time (cheap, no INC/torch import): it resolves every step's
config, fills defaults, and refuses orders that cannot work (anything after a
quantization step except nothing). :func:`build_variant` runs the steps in order and
measures the result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from .base import CompressionData, assert_runs_in_onnxruntime
from .errors import CompressionError, ConfigError
from .facts import model_facts
from .registry import get_compressor

logger = logging.getLogger(__name__)

# Steps that turn weights into integers: after one, there are no float weights left
# for pruning, clustering or a second quantization to act on.
_QUANTIZING = {"quantize"}


@dataclass
class VariantBuild:
    """A built variant: the model, its resolved steps and measured facts."""

    model: onnx.ModelProto
    steps: list[dict[str, Any]]
    facts: dict[str, Any] = field(default_factory=dict)


def validate_steps(steps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Resolved steps (defaults filled) or ConfigError with field ``steps[i].<field>``."""
    if isinstance(steps, str | bytes) or not isinstance(steps, Sequence):
        raise ConfigError("steps", f"must be a list of steps, got {type(steps).__name__}")
    resolved: list[dict[str, Any]] = []
    quantized_at: int | None = None
    for index, step in enumerate(steps):
        prefix = f"steps[{index}]"
        if not isinstance(step, Mapping):
            raise ConfigError(prefix, f"must be a mapping, got {type(step).__name__}")
        name = step.get("compressor")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{prefix}.compressor", "is required (the compressor's name)")
        try:
            compressor = get_compressor(name)
        except ConfigError as error:
            raise ConfigError(f"{prefix}.compressor", error.reason) from None
        if quantized_at is not None:
            raise ConfigError(
                f"{prefix}.compressor",
                f"{name!r} cannot follow the quantization in steps[{quantized_at}]; "
                "quantize must be the last step",
            )
        params = {key: value for key, value in step.items() if key != "compressor"}
        try:
            config = compressor.parse_config(params)
        except ConfigError as error:
            raise error.with_prefix(prefix) from None
        resolved.append({"compressor": name, **compressor.config_dict(config)})
        if name in _QUANTIZING:
            quantized_at = index
    return resolved


def build_variant(
    model: onnx.ModelProto, steps: Sequence[Mapping[str, Any]], data: CompressionData
) -> VariantBuild:
    """Applies ``steps`` in order to a copy of ``model`` and measures the variant.

    Raises ConfigError for invalid steps and CompressionError (message prefixed with
    the failing step) when a step fails; the input model is never modified.
    ``facts`` holds :func:`model_facts` of the result, the same for the input under
    ``base`` (parameters/MACs before), per-step facts and ``build_seconds``.
    """
    resolved = validate_steps(steps)
    started = time.perf_counter()
    current = onnx.ModelProto()
    current.CopyFrom(model)
    step_facts: list[dict[str, Any]] = []
    for index, step in enumerate(resolved):
        name = step["compressor"]
        where = f"step {index} ({name})"
        compressor = get_compressor(name)
        config = compressor.parse_config({k: v for k, v in step.items() if k != "compressor"})
        step_dir = Path(data.work_dir) / f"step{index}_{name}"
        step_dir.mkdir(parents=True, exist_ok=True)
        step_data = CompressionData(
            calib_x=data.calib_x,
            calib_y=data.calib_y,
            train_x=data.train_x,
            train_y=data.train_y,
            input_name=data.input_name,
            seed=data.seed + index,
            work_dir=step_dir,
            input_range=data.input_range,
        )
        step_started = time.perf_counter()
        try:
            current = compressor.apply(current, config, step_data)
        except CompressionError as error:
            raise CompressionError(f"{where}: {error}") from error
        except Exception as error:
            logger.exception("%s crashed", where)
            raise CompressionError(f"{where}: {type(error).__name__}: {error}") from error
        assert_runs_in_onnxruntime(current, data, f"{where}: the result")
        step_facts.append(
            {
                "compressor": name,
                "seconds": round(time.perf_counter() - step_started, 3),
                **compressor.step_facts(),
            }
        )
    facts = model_facts(current)
    emptied = [name for name, value in facts["per_layer_sparsity"].items() if value >= 1.0]
    if emptied and resolved:
        raise CompressionError(
            f"the steps left layer(s) {', '.join(emptied)} with no nonzero weights"
        )
    base = model_facts(model)
    facts["base"] = {
        key: base[key]
        for key in ("size_bytes", "gzip_bytes", "parameters", "conv_parameters", "macs", "sparsity")
    }
    facts["size_ratio"] = round(facts["size_bytes"] / base["size_bytes"], 4)
    if facts.get("macs") and base.get("macs"):
        facts["macs_ratio"] = round(facts["macs"] / base["macs"], 4)
    facts["steps"] = step_facts
    facts["build_seconds"] = round(time.perf_counter() - started, 3)
    return VariantBuild(model=current, steps=resolved, facts=facts)
