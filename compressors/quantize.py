"""Post-training quantization of the ONNX model with Intel Neural Compressor 3.7.1.

Paper trail: Jacob et al., "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference" (CVPR 2018) for the affine int8 scheme; INC's
ONNX Runtime adaptor implements it (3.7.1 is the last INC release that has it).

- ``static``: activations get fixed scales from calibration samples (``calib_x``, at
  most ``calibration_samples`` of them); the graph is written either as QDQ
  (QuantizeLinear/DequantizeLinear pairs around float ops, which onnxruntime fuses)
  or QOperator (QLinearConv, QLinearMatMul, ...). Weights are per output channel or
  per tensor.
- ``dynamic``: weights are int8, activation scales are computed at run time
  (DynamicQuantizeLinear + ConvInteger/MatMulInteger); no calibration data is needed.
- ``weight_only``: MatMul weights become 4- or 8-bit groups (onnxruntime's
  ``com.microsoft`` MatMulNBits) with round-to-nearest, GPTQ (Frantar et al., ICLR
  2023) or AWQ (Lin et al., MLSys 2024); activations stay float. INC supports this for
  ONNX MatMul only, so it fits MatMul-heavy (transformer/MLP) models, not CNNs.
- ``accuracy_tolerance`` turns on INC's accuracy-aware tuning: INC tries quantization
  recipes (falling back sensitive ops to float) until the accuracy on the held-out
  calibration samples is within the tolerance of the float model's, measured with
  onnxruntime, or ``max_trials`` is exhausted. With ``tuning_metric=robust`` that
  accuracy is robust accuracy: PGD-10 L-inf examples crafted through the bridge
  (straight-through gradients for the quantized ops) and scored in onnxruntime, so
  INC falls back the ops whose quantization costs robustness, not only clean accuracy.
- ``float_layers`` keeps chosen weight layers in float in every recipe (INC's
  ``op_name_dict`` with fp32 activation and weight), e.g. a first convolution that
  quantization noise hurts most; the result is checked to really keep them float.

Threat-model note: the quantized graph is what the robustness attacks target, so it
must load and run in plain onnxruntime; every result is checked for that here.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import onnx

from .base import CompressionData, Compressor, assert_runs_in_onnxruntime
from .config import option
from .errors import CompressionError, ConfigError
from .inc_runtime import inc_session, recent_inc_errors
from .registry import register

logger = logging.getLogger(__name__)

_ALREADY_QUANTIZED_OPS = {
    "MatMulNBits",
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
}


@dataclass
class QuantizeConfig:
    """Settings of the ``quantize`` compressor."""

    approach: str = option(
        "static",
        "static: activation scales calibrated on calibration samples; "
        "dynamic: activation scales computed at run time; weight_only: low-bit MatMul "
        "weights (MatMulNBits), activations stay float",
        choices=("static", "dynamic", "weight_only"),
    )
    format: str | None = option(
        None,
        "graph format: qdq (QuantizeLinear/DequantizeLinear pairs) or qoperator "
        "(QLinearConv, ...); default qdq for static, qoperator for dynamic; not used by "
        "weight_only",
        choices=("qdq", "qoperator"),
    )
    calibration_samples: int = option(
        100, "calibration samples used by static quantization", minimum=1, maximum=10000
    )
    per_channel: bool = option(
        True, "per-output-channel weight scales (false: one scale per tensor)"
    )
    accuracy_tolerance: float | None = option(
        None,
        "enable INC accuracy-aware tuning: largest accepted accuracy loss on held-out "
        "samples (null: quantize once without tuning)",
        minimum=0.0,
        maximum=1.0,
    )
    tolerance_type: str = option(
        "relative",
        "how accuracy_tolerance is measured: relative (fraction of the float accuracy) "
        "or absolute (accuracy points as a fraction)",
        choices=("relative", "absolute"),
    )
    max_trials: int = option(
        20, "accuracy-aware tuning: most quantization recipes INC tries", minimum=1, maximum=500
    )
    tuning_metric: str = option(
        "clean",
        "accuracy-aware tuning: what accuracy_tolerance is measured on: clean (accuracy on "
        "the held-out samples) or robust (accuracy under PGD-10 L-inf at tuning_epsilon, "
        "crafted through the bridge with straight-through gradients, scored in "
        "onnxruntime); robust keeps ops in float until robust accuracy is within tolerance",
        choices=("clean", "robust"),
    )
    tuning_epsilon: float | None = option(
        None,
        "tuning_metric robust: L-inf PGD radius in input units (default 0.1 x the width of "
        "the data's input range)",
        minimum=1e-6,
        maximum=1000.0,
    )
    # option() returns a dataclasses.field (ruff only knows field() by name).
    float_layers: list[str] = option(  # noqa: RUF009
        [],
        "static/dynamic: weight layers kept in float, named by weight initializer or by "
        "node name (Conv/Gemm/MatMul with a constant weight); checked after quantizing",
    )

    weight_bits: int = option(
        4,
        "weight_only: bits per weight; 4 is stored packed (MatMulNBits), 8 is simulated by "
        "INC (weights rounded to the 8-bit grid, kept as float MatMul)",
        choices=(4, 8),
    )
    group_size: int = option(
        32,
        "weight_only: input weights sharing one scale (-1: one per output column)",
        choices=(-1, 16, 32, 64, 128, 256),
    )
    weight_scheme: str = option(
        "sym", "weight_only: symmetric or asymmetric weights", choices=("sym", "asym")
    )
    algorithm: str = option(
        "rtn",
        "weight_only: rtn (round to nearest), gptq or awq (both use calibration samples)",
        choices=("rtn", "gptq", "awq"),
    )

    def resolve(self) -> None:
        if self.format is None and self.approach != "weight_only":
            self.format = "qdq" if self.approach == "static" else "qoperator"

    def check(self) -> None:
        if self.tuning_metric == "robust" and self.accuracy_tolerance is None:
            raise ConfigError(
                "tuning_metric",
                "robust applies to accuracy-aware tuning: set accuracy_tolerance as well",
            )
        if self.tuning_epsilon is not None and self.tuning_metric != "robust":
            raise ConfigError("tuning_epsilon", "applies only to tuning_metric robust")
        if len(set(self.float_layers)) != len(self.float_layers):
            raise ConfigError("float_layers", "names a layer more than once")
        if self.approach == "weight_only" and self.float_layers:
            raise ConfigError("float_layers", "applies to static/dynamic quantization only")
        if self.approach == "weight_only":
            if self.format is not None:
                raise ConfigError("format", "weight_only quantization has no format choice")
            if self.accuracy_tolerance is not None:
                raise ConfigError(
                    "accuracy_tolerance", "accuracy-aware tuning applies to static/dynamic only"
                )
        if self.approach == "dynamic" and self.format == "qdq":
            # INC 3.7.1's ONNX adaptor only writes dynamic quantization as QOperator.
            raise ConfigError("format", "dynamic quantization supports only qoperator")


class _CalibrationLoader:
    """The minimal dataloader INC's ONNX calibration iterates: (inputs, labels) batches."""

    def __init__(self, x: np.ndarray, y: np.ndarray, max_batch: int = 64) -> None:
        # INC rounds the sampling size up to whole batches (and says so); a batch size
        # dividing the sample count calibrates on exactly the samples asked for.
        n = max(len(x), 1)
        self.batch_size = max(b for b in range(1, min(n, max_batch) + 1) if n % b == 0)
        self.x, self.y = x, y

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, len(self.x), self.batch_size):
            stop = start + self.batch_size
            yield self.x[start:stop], self.y[start:stop]

    def __len__(self) -> int:
        return (len(self.x) + self.batch_size - 1) // self.batch_size


_MIN_TUNING_SAMPLES = 50


def _op_types(model: onnx.ModelProto) -> set[str]:
    return {node.op_type for node in model.graph.node}


def _was_quantized(model: onnx.ModelProto, config: QuantizeConfig) -> bool:
    """Whether INC's result really holds quantized weights (INC returns the float model
    unchanged when it finds nothing it can quantize)."""
    if _op_types(model) & _ALREADY_QUANTIZED_OPS:
        return True
    # INC simulates non-4-bit weight-only quantization in float, renaming the weights.
    marker = f"_Q{config.weight_bits}G"
    return config.approach == "weight_only" and any(
        marker in init.name for init in model.graph.initializer
    )


def _uses_calibration(config: QuantizeConfig) -> bool:
    if config.approach == "weight_only":
        return config.algorithm in ("gptq", "awq")
    return config.approach == "static"


def _tuning_split(data: CompressionData, calibration_used: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples that judge accuracy-aware tuning: those calibration did not use, if enough.

    Judging on the calibration samples themselves would flatter the quantized model;
    with fewer than ``_MIN_TUNING_SAMPLES`` left over, all held-out samples are used.
    """
    rest_x, rest_y = data.calib_x[calibration_used:], data.calib_y[calibration_used:]
    if len(rest_x) >= _MIN_TUNING_SAMPLES:
        return rest_x, rest_y
    return data.calib_x, data.calib_y


def onnx_accuracy(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray, input_name: str) -> float:
    """Top-1 accuracy of ``model`` on (x, y) with onnxruntime on CPU."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    correct = 0
    for start in range(0, len(x), 256):
        logits = session.run(None, {input_name: x[start : start + 256]})[0]
        correct += int((np.asarray(logits).argmax(axis=1) == y[start : start + 256]).sum())
    return correct / max(len(x), 1)


@register
class QuantizeCompressor(Compressor):
    """INC post-training int8 quantization (static with calibration, or dynamic)."""

    name = "quantize"
    description = (
        "Intel Neural Compressor 3.7.1 post-training quantization for onnxruntime: int8 "
        "static (calibrated, QDQ or QOperator, per-channel or per-tensor weights) or dynamic, "
        "with optional accuracy-aware tuning; weight-only 4/8-bit MatMul (RTN, GPTQ, AWQ)"
    )
    Config = QuantizeConfig

    # Settings that only mean something for some approaches: a report lists the
    # settings that shaped the variant, not every default of the other approaches.
    _ONLY_FOR: ClassVar[dict[str, tuple[str, ...]]] = {
        "weight_bits": ("weight_only",),
        "group_size": ("weight_only",),
        "weight_scheme": ("weight_only",),
        "algorithm": ("weight_only",),
        "format": ("static", "dynamic"),
        "calibration_samples": ("static",),
        "per_channel": ("static", "dynamic"),
        "accuracy_tolerance": ("static", "dynamic"),
        "tolerance_type": ("static", "dynamic"),
        "max_trials": ("static", "dynamic"),
        "tuning_metric": ("static", "dynamic"),
        "tuning_epsilon": ("static", "dynamic"),
        "float_layers": ("static", "dynamic"),
    }

    def config_dict(self, config: Any) -> dict[str, Any]:
        values = super().config_dict(config)
        if config.accuracy_tolerance is None:
            # Without accuracy-aware tuning its knobs are never read.
            for key in ("tolerance_type", "max_trials", "tuning_metric", "tuning_epsilon"):
                values.pop(key, None)
        if config.tuning_metric != "robust":
            values.pop("tuning_epsilon", None)
        return {
            key: value
            for key, value in values.items()
            if config.approach in self._ONLY_FOR.get(key, (config.approach,))
        }

    def apply(
        self, model: onnx.ModelProto, config: QuantizeConfig, data: CompressionData
    ) -> onnx.ModelProto:
        already = {n.op_type for n in model.graph.node} & _ALREADY_QUANTIZED_OPS
        if already:
            raise CompressionError(
                f"the model is already quantized ({', '.join(sorted(already))}); "
                "quantize must be the last quantizing step"
            )
        calib_x, calib_y = data.calib_x, data.calib_y
        if config.approach == "weight_only" and not any(
            node.op_type == "MatMul" for node in model.graph.node
        ):
            raise CompressionError(
                "weight-only quantization found no MatMul to quantize (INC's ONNX "
                "weight-only quantization covers MatMul weights only)"
            )
        if _uses_calibration(config):
            if len(calib_x) == 0:
                raise CompressionError(
                    f"{config.approach} quantization needs calibration samples; none given"
                )
            if len(calib_x) < config.calibration_samples:
                logger.warning(
                    "only %d calibration samples available (asked for %d)",
                    len(calib_x),
                    config.calibration_samples,
                )
            calib_x = calib_x[: config.calibration_samples]
            calib_y = calib_y[: config.calibration_samples]
        float_nodes: dict[str, list[str]] = {}
        if config.float_layers:
            model = _with_unique_node_names(model)
            float_nodes = _float_layer_nodes(model, config.float_layers)
        started = time.perf_counter()
        tuning: dict[str, Any] = {}
        quantized = self._run_inc(model, config, data, calib_x, calib_y, float_nodes, tuning)
        assert_runs_in_onnxruntime(quantized, data, "the quantized model")
        if float_nodes:
            _check_kept_float(model, quantized, float_nodes)
        self._last_facts: dict[str, Any] = {
            "quantize_seconds": round(time.perf_counter() - started, 3),
            "calibration_samples": len(calib_x) if _uses_calibration(config) else 0,
        }
        if float_nodes:
            self._last_facts["float_layers"] = float_nodes
        if tuning:
            self._last_facts["tuning"] = tuning
        return quantized

    def _run_inc(
        self,
        model: onnx.ModelProto,
        config: QuantizeConfig,
        data: CompressionData,
        calib_x: np.ndarray,
        calib_y: np.ndarray,
        float_nodes: dict[str, list[str]],
        tuning: dict[str, Any],
    ) -> onnx.ModelProto:
        """Runs INC; ``tuning`` receives the accuracy-aware tuning's facts."""
        with inc_session(data.work_dir, data.seed):
            from neural_compressor import quantization
            from neural_compressor.config import (
                AccuracyCriterion,
                PostTrainingQuantConfig,
                TuningCriterion,
            )

            granularity = "per_channel" if config.per_channel else "per_tensor"
            weight_granularity = {"weight": {"granularity": [granularity]}}
            kwargs: dict[str, Any] = {
                "approach": config.approach,
                "quant_format": "QDQ" if config.format == "qdq" else "QOperator",
                "op_type_dict": {op: weight_granularity for op in ("Conv", "Gemm", "MatMul")},
                "backend": "default",
                "device": "cpu",
            }
            if config.approach == "weight_only":
                kwargs["op_type_dict"] = {
                    ".*": {
                        "weight": {
                            "bits": config.weight_bits,
                            "group_size": config.group_size,
                            "scheme": config.weight_scheme,
                            "algorithm": [config.algorithm.upper()],
                        }
                    }
                }
                del kwargs["quant_format"]
            if _uses_calibration(config):
                kwargs["calibration_sampling_size"] = [len(calib_x)]
            if float_nodes:
                # op_name_dict keys are regular expressions INC full-matches against
                # node names; fp32 for both activation and weight keeps the op float
                # in every recipe the tuning tries. INC 3.7.1 first rewrites a Gemm as
                # "<name>_MatMul" + "<name>_Add" (its gemm_to_matmul recipe), so a Gemm's
                # pattern covers those two as well.
                fp32 = {"activation": {"dtype": ["fp32"]}, "weight": {"dtype": ["fp32"]}}
                kwargs["op_name_dict"] = {
                    re.escape(node) + "(_MatMul|_Add)?": fp32
                    for nodes in float_nodes.values()
                    for node in nodes
                }
            eval_func = None
            scores: list[float] = []
            failures: list[BaseException] = []
            if config.accuracy_tolerance is not None:
                held_out_x, held_out_y = _tuning_split(data, len(calib_x))
                if len(held_out_x) == 0:
                    raise CompressionError(
                        "accuracy-aware tuning needs held-out samples; none given"
                    )
                kwargs["accuracy_criterion"] = AccuracyCriterion(
                    criterion=config.tolerance_type, tolerable_loss=config.accuracy_tolerance
                )
                kwargs["tuning_criterion"] = TuningCriterion(max_trials=config.max_trials)
                score = _tuning_score(config, data, held_out_x, held_out_y, tuning)

                def eval_func(candidate: Any) -> float:
                    proto = getattr(candidate, "model", candidate)
                    try:
                        value = score(proto)
                    except Exception as error:
                        # INC swallows exceptions from eval_func and gives up quietly;
                        # the cause is kept and raised after fit returns.
                        failures.append(error)
                        raise
                    scores.append(value)
                    return value

            else:
                # No tuning loop: one quantization recipe, accepted as is.
                kwargs["tuning_criterion"] = TuningCriterion(max_trials=1)
            conf = PostTrainingQuantConfig(**kwargs)
            loader = _CalibrationLoader(calib_x, calib_y) if _uses_calibration(config) else None
            try:
                result = quantization.fit(model, conf, calib_dataloader=loader, eval_func=eval_func)
            except CompressionError:
                raise
            except Exception as error:
                raise CompressionError(
                    f"INC {config.approach} quantization failed: {type(error).__name__}: {error}"
                ) from error
        if failures:
            failure = failures[0]
            if isinstance(failure, CompressionError):
                raise failure
            raise CompressionError(
                f"scoring a tuning candidate failed: {type(failure).__name__}: {failure}"
            ) from failure
        if scores:
            # INC scores the float model first, then each candidate recipe.
            tuning["float_score"] = round(scores[0], 6)
            tuning["trials"] = len(scores) - 1
            tuning["candidate_scores"] = [round(v, 6) for v in scores[1:]]
        if result is None:
            if config.accuracy_tolerance is not None:
                raise CompressionError(
                    "INC found no quantized model within the accuracy tolerance "
                    f"({config.tolerance_type} {config.accuracy_tolerance}) in "
                    f"{config.max_trials} trials"
                )
            # INC's "Unexpected exception ..." record names the cause; its last record
            # only says that tuning gave up.
            errors = recent_inc_errors()
            causes = [e for e in errors if "exception" in e.lower()] or errors
            detail = f": {causes[0]}" if causes else ""
            raise CompressionError(f"INC {config.approach} quantization returned no model{detail}")
        proto = getattr(result, "model", result)
        if not isinstance(proto, onnx.ModelProto):
            raise CompressionError(f"INC returned an unexpected model type {type(proto).__name__}")
        if not _was_quantized(proto, config):
            why = (
                "float_layers keeps every layer INC would quantize in float"
                if float_nodes
                else "no op of this model is one INC quantizes"
            )
            raise CompressionError(
                f"INC {config.approach} quantization changed no operator ({why}; "
                f"ops: {', '.join(sorted(_op_types(model)))})"
            )
        out = onnx.ModelProto()
        out.CopyFrom(proto)
        if scores and config.accuracy_tolerance is not None:
            held_out_x, held_out_y = _tuning_split(data, len(calib_x))
            score = _tuning_score(config, data, held_out_x, held_out_y, {})
            tuning["quantized_score"] = round(score(out), 6)
        return out


def _tuning_score(
    config: QuantizeConfig,
    data: CompressionData,
    x: np.ndarray,
    y: np.ndarray,
    tuning: dict[str, Any],
) -> Any:
    """The function accuracy-aware tuning maximises (and its facts into ``tuning``)."""
    tuning.update(metric=config.tuning_metric, samples=len(x))
    if config.tuning_metric == "clean":
        return lambda proto: onnx_accuracy(proto, x, y, data.input_name)
    lo, hi = (float(v) for v in data.input_range)
    epsilon = config.tuning_epsilon if config.tuning_epsilon is not None else 0.1 * (hi - lo)
    tuning.update(epsilon=round(epsilon, 6), attack="pgd", attack_steps=_TUNING_PGD_STEPS)
    return lambda proto: onnx_robust_accuracy(
        proto, x, y, data.input_name, epsilon=epsilon, input_range=(lo, hi), seed=data.seed
    )


_TUNING_PGD_STEPS = 10


def onnx_robust_accuracy(
    model: onnx.ModelProto,
    x: np.ndarray,
    y: np.ndarray,
    input_name: str,
    *,
    epsilon: float,
    input_range: tuple[float, float],
    seed: int,
) -> float:
    """Accuracy under L-inf PGD-10 crafted through the bridge (straight-through gradients
    for quantized ops) and scored in onnxruntime, the artifact that ships."""
    import onnxruntime as ort

    try:
        from robustedge.attacks import AttackTarget, get_attack
        from robustedge.bridge import convert
    except ImportError as error:  # pragma: no cover - both ship with robustedge
        raise CompressionError(f"robust tuning needs robustedge's attacks: {error}") from error
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )

    def predict(batch: np.ndarray) -> np.ndarray:
        parts = [
            session.run(None, {input_name: batch[i : i + 256]})[0]
            for i in range(0, len(batch), 256)
        ]
        return np.concatenate([np.asarray(p) for p in parts])

    try:
        module = convert(model).module
    except Exception as error:
        raise CompressionError(
            f"robust tuning cannot convert a candidate through the bridge: {error}"
        ) from error
    target = AttackTarget(
        predict=predict,
        module=module,
        num_classes=int(predict(x[:1]).shape[1]),
        input_shape=tuple(x.shape[1:]),
    )
    run = get_attack("pgd").generate(
        target,
        x,
        y,
        epsilon=epsilon,
        norm="linf",
        params={"steps": _TUNING_PGD_STEPS},
        input_range=input_range,
        seed=seed,
    )
    return float((predict(run.x_adv).argmax(axis=1) == y).mean())


def _with_unique_node_names(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model``, or a copy whose unnamed or duplicate nodes got unique names.

    INC addresses ops by node name (op_name_dict); nameless or clashing nodes could not
    be kept in float one by one.
    """
    names = [node.name for node in model.graph.node]
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    if all(name and counts[name] == 1 for name in names):
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    taken = set(names)
    for index, node in enumerate(out.graph.node):
        if node.name and counts[node.name] == 1:
            continue
        candidate = f"{node.op_type}_{index}"
        while candidate in taken:
            candidate += "_"
        taken.add(candidate)
        node.name = candidate
    return out


def _float_layer_nodes(model: onnx.ModelProto, names: list[str]) -> dict[str, list[str]]:
    """Each float_layers name -> the node names of the weight layer(s) it means."""
    from .onnx_graph import FLOAT_WEIGHT_OPS, weight_layers

    layers = weight_layers(model)
    by_node = {layer.node_name: layer for layer in layers}
    users: dict[str, list[str]] = {}
    for node in model.graph.node:
        if node.op_type in FLOAT_WEIGHT_OPS:
            for layer in layers:
                if layer.initializer in node.input:
                    users.setdefault(layer.initializer, []).append(node.name)
    found: dict[str, list[str]] = {}
    for name in names:
        if name in users:
            found[name] = users[name]
        elif name in by_node:
            found[name] = [name]
        else:
            listed = ", ".join(f"{layer.initializer} ({layer.node_name})" for layer in layers)
            raise CompressionError(
                f"float_layers names {name!r}, which is neither a weight initializer nor "
                f"the node of a weight layer; weight layers: {listed or 'none'}"
            )
    return found


def _check_kept_float(
    model: onnx.ModelProto, quantized: onnx.ModelProto, float_nodes: dict[str, list[str]]
) -> None:
    """Fails unless every float_layers layer still computes with its float weight.

    A layer kept in float still has its float weight initializer, read only by float
    Conv/Gemm/MatMul nodes (INC may have split a Gemm into MatMul + Add and renamed
    it); a quantized one has an integer copy instead, behind DequantizeLinear (QDQ) or
    read by QLinearConv/QLinearMatMul/ConvInteger/MatMulInteger (QOperator, dynamic).
    """
    from .onnx_graph import FLOAT_WEIGHT_OPS, consumers, initializers

    nodes_before = {node.name: node for node in model.graph.node}
    float_inits = initializers(model)
    inits = initializers(quantized)
    readers = consumers(quantized)
    not_float: list[str] = []
    for name, nodes in float_nodes.items():
        for node_name in nodes:
            weights = [
                i
                for i in nodes_before[node_name].input
                if i in float_inits and float_inits[i].dims and len(float_inits[i].dims) >= 2
            ]
            kept = bool(weights)
            for weight in weights:
                init = inits.get(weight)
                reading = readers.get(weight, [])
                kept = (
                    kept
                    and init is not None
                    and init.data_type == onnx.TensorProto.FLOAT
                    and bool(reading)
                    and all(r.op_type in FLOAT_WEIGHT_OPS for r in reading)
                )
            if not kept:
                not_float.append(f"{name} ({node_name})")
    if not_float:
        raise CompressionError(
            f"INC quantized layer(s) asked to stay float: {', '.join(not_float)}"
        )
