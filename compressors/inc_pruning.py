"""INC 3.7.1 pruning of the bridged torch module, written back into the original ONNX graph.

INC's pruning API works on ``torch.nn.Module``s only. The model goes through
:func:`robustedge.bridge.convert` (ONNX Conv/Gemm/MatMul with initializer weights
become ``nn.Conv2d``/``nn.Linear``), INC's pruner is attached with
``neural_compressor.training.prepare_compression`` and driven by a short training
loop on the training split, and :func:`robustedge.bridge.write_back` stores the pruned
weights into a copy of the ORIGINAL ``ModelProto``: node structure, names and every
other initializer stay as uploaded.

Schedules (INC counts steps; it prunes at ``start_step`` ... ``end_step`` every
``pruning_frequency`` steps, and re-applies the masks after every optimizer step):

- one-shot magnitude: a single step that prunes to the target, no weight update;
- one-shot snip-momentum: its score is a momentum average of |weight x gradient|, so
  ``_SNIP_WARMUP`` gradient steps (no weight update) accumulate scores, then one prune;
- fine-tune (``steps > 0``): Adam on the training split; pruning ramps up over the
  first 60% of the steps (INC's exponential schedule) and the rest recovers accuracy
  with the masks held.

INC leaves the classifier head (the last Linear) unpruned by design; so that
``sparsity`` means the share of ALL prunable weights removed (what the facts
measure), INC's target is raised to cover for the layers it leaves out.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from .errors import CompressionError
from .facts import model_facts
from .inc_runtime import import_torch, inc_session

if TYPE_CHECKING:
    from .base import CompressionData
    from .prune import PruneConfig

logger = logging.getLogger(__name__)

_SNIP_WARMUP = 8  # gradient steps that fill snip-momentum scores before a one-shot prune
_RAMP_SHARE = 0.6  # share of fine-tune steps over which sparsity ramps up
_PRUNE_EVENTS = 8  # pruning events spread over the ramp
_MAX_INC_TARGET = 0.95


def _bridge() -> Any:
    try:
        from robustedge import bridge
    except ImportError as error:  # pragma: no cover - the bridge ships with robustedge
        raise CompressionError(f"the ONNX->torch bridge is unavailable: {error}") from error
    return bridge


def inc_pattern(pattern: str) -> str:
    """RobustEdge pattern -> INC pattern string (channel: per-layer blocks, see below)."""
    if pattern in ("unstructured", "channel"):
        return "1x1"
    return pattern  # "4x1", "2:4" are INC's own spellings


def _schedule(config: PruneConfig) -> tuple[int, int, int, int, bool]:
    """(start_step, end_step, frequency, total_steps, update_weights)."""
    needs_gradients = config.criterion == "snip_momentum"
    if config.steps == 0:
        warmup = _SNIP_WARMUP if needs_gradients else 0
        return warmup, warmup, 1, warmup + 1, False
    start = min(_SNIP_WARMUP, config.steps // 4) if needs_gradients else 0
    span = max(1, int((config.steps - start) * _RAMP_SHARE))
    frequency = max(1, span // _PRUNE_EVENTS)
    end = start + frequency * (span // frequency)
    return start, end, frequency, config.steps, True


def _covered_modules(callbacks: Any) -> list[str]:
    """Module names INC hooked (3.7.1 records them in each pruner's info)."""
    names: list[str] = []
    for callback in getattr(callbacks, "callbacks_list", []):
        for info in getattr(callback, "pruners_info", []):
            names += list(info.get("modules", []))
    return names


def _batches(data: CompressionData, batch_size: int, steps: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(data.train_x)
    return [rng.integers(0, n, size=min(batch_size, n)) for _ in range(steps)]


def _compensated_target(sparsity: float, covered: int, total: int, pattern: str) -> float:
    if re.match(r"^\d+:\d+$", pattern) or covered == 0:
        return sparsity
    return min(_MAX_INC_TARGET, sparsity * total / covered)


def prune_with_inc(
    model: onnx.ModelProto, config: PruneConfig, data: CompressionData
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Prunes the bridged module with INC and writes the weights back into ``model``."""
    torch = import_torch()
    bridge = _bridge()
    try:
        bridged = bridge.convert(model)
    except Exception as error:
        raise CompressionError(f"the bridge cannot convert this model: {error}") from error
    start, end, frequency, total_steps, update_weights = _schedule(config)
    needs_data = update_weights or config.criterion == "snip_momentum"
    if needs_data and len(data.train_x) == 0:
        raise CompressionError(
            f"{config.criterion} pruning with {config.steps} fine-tune steps needs training "
            "samples; none given"
        )
    module = bridged.module
    module.eval()  # frozen BatchNorm statistics and no dropout during a short fine-tune
    total_prunable = sum(
        layer_size for name, layer_size in _weight_sizes(model).items() if name in bridged.weights
    )
    started = time.perf_counter()
    adversarial: dict[str, Any] = {}
    with inc_session(data.work_dir, data.seed):
        from neural_compressor.config import WeightPruningConfig
        from neural_compressor.training import prepare_compression

        def make_manager(target: float, layer_configs: list[dict[str, Any]]) -> Any:
            pruning = WeightPruningConfig(
                pruning_configs=layer_configs,
                target_sparsity=target,
                pruning_type=config.criterion,
                pattern=inc_pattern(config.pattern),
                start_step=start,
                end_step=end,
                pruning_frequency=frequency,
                pruning_scope=config.scope,
                max_sparsity_ratio_per_op=0.98,
                pruning_op_types=["Conv", "Linear"],
                # Fresh lists: INC appends the classifier head to excluded_op_names, and
                # its defaults are shared mutable lists (they would leak between models).
                op_names=[],
                excluded_op_names=[],
            )
            return prepare_compression(module, pruning)

        try:
            assert config.sparsity is not None  # resolved by PruneConfig
            if config.pattern == "channel":
                layer_configs = _filter_configs(model, bridged, config)
                target = config.sparsity
                manager = make_manager(target, layer_configs)
                covered_modules = _covered_modules(manager.callbacks)
            else:
                # A first manager tells which layers INC covers; the target is then set
                # so that the share of ALL prunable weights removed matches ``sparsity``.
                probe = make_manager(config.sparsity, [{}])
                covered_modules = _covered_modules(probe.callbacks)
                covered = _covered_size(module, covered_modules)
                target = _compensated_target(
                    config.sparsity, covered, total_prunable, config.pattern
                )
                manager = probe if target == config.sparsity else make_manager(target, [{}])
            losses = _drive(
                torch,
                module,
                manager.callbacks,
                data,
                config,
                total_steps,
                update_weights,
                adversarial,
            )
        except CompressionError:
            raise
        except Exception as error:
            raise CompressionError(
                f"INC {config.pattern} {config.criterion} pruning failed: "
                f"{type(error).__name__}: {error}"
            ) from error
    if not covered_modules:
        raise CompressionError("INC found no Conv/Linear layer to prune in this model")
    try:
        pruned = bridge.write_back(model, bridged)
    except Exception as error:
        raise CompressionError(f"writing the pruned weights back failed: {error}") from error
    measured = model_facts(pruned, with_macs=False)
    facts: dict[str, Any] = {
        "inc_pattern": inc_pattern(config.pattern),
        "inc_target_sparsity": round(target, 6),
        "pruned_layers": covered_modules,
        "schedule": {
            "start_step": start,
            "end_step": end,
            "frequency": frequency,
            "steps": total_steps,
            "weights_updated": update_weights,
        },
        "measured_sparsity": measured["sparsity"],
        "seconds": round(time.perf_counter() - started, 3),
    }
    if losses:
        facts["loss_first"], facts["loss_last"] = round(losses[0], 4), round(losses[-1], 4)
    if adversarial:
        facts["adversarial"] = adversarial
    emptied = [name for name, value in measured["per_layer_sparsity"].items() if value >= 1.0]
    if emptied:
        raise CompressionError(f"pruning left layer(s) {', '.join(emptied)} with no weights")
    return pruned, facts


def _filter_configs(
    model: onnx.ModelProto, bridged: Any, config: PruneConfig
) -> list[dict[str, Any]]:
    """One INC pruner per prunable Conv whose block is one whole output filter.

    INC's own "1xchannel" block on a Conv is (one output, one kernel position, all input
    channels), not a filter: INC views the weight as [out, kh*kw*in]. A "1x(kh*kw*in)"
    block is a whole filter. Each Conv gets the filter fraction that the L1/L2 channel
    plan would remove (honouring ``budget``), so that the zeroed filters can then be
    removed physically; Convs whose channels cannot be removed (frozen groups, see
    :mod:`channel_surgery`) are left alone.
    """
    from .channel_surgery import plan_channels
    from .onnx_graph import initializers, to_array

    assert config.sparsity is not None and config.budget is not None
    plan, _ = plan_channels(
        model,
        config.sparsity,
        norm="l2",
        budget=config.budget,
        round_to=config.round_to,
        layer_fractions=config.layer_sparsity,
    )
    inits = initializers(model)
    layer_configs: list[dict[str, Any]] = []
    for index, kept in plan.keep.items():
        group = plan.groups[index]
        fraction = 1.0 - len(kept) / group.channels
        if fraction <= 0:
            continue
        for weight_name in group.producers:
            param = bridged.weights.get(weight_name)
            if param is None or not param.endswith(".weight"):
                continue
            shape = to_array(inits[weight_name]).shape
            block = int(np.prod(shape[1:]))
            layer_configs.append(
                {
                    "op_names": [re.escape(param[: -len(".weight")]) + "$"],
                    "pattern": f"1x{block}",
                    "target_sparsity": round(fraction, 6),
                    "pruning_scope": "local",
                    "pruning_op_types": ["Conv"],
                }
            )
    if not layer_configs:
        raise CompressionError("no Conv filters can be removed in this graph")
    return layer_configs


def _weight_sizes(model: onnx.ModelProto) -> dict[str, int]:
    from .onnx_graph import weight_layers

    return {layer.initializer: layer.values.size for layer in weight_layers(model)}


def _covered_size(module: Any, names: list[str]) -> int:
    modules = dict(module.named_modules())
    return sum(int(modules[name].weight.numel()) for name in names if name in modules)


def _drive(
    torch: Any,
    module: Any,
    callbacks: Any,
    data: CompressionData,
    config: PruneConfig,
    total_steps: int,
    update_weights: bool,
    adversarial_facts: dict[str, Any],
) -> list[float]:
    """Runs INC's callbacks around a training loop (or gradient-only steps).

    With ``config.adversarial_epsilon`` > 0 the loop trains on batches partly made of
    PGD examples; their settings and losses go into ``adversarial_facts``.
    """
    from .adversarial_training import mixer_for

    needs_gradients = update_weights or config.criterion == "snip_momentum"
    # Adversarial examples only make sense while weights are trained (steps > 0, which
    # PruneConfig requires of adversarial_epsilon).
    mixer = mixer_for(torch, config, data) if update_weights else None
    optimizer = torch.optim.Adam(module.parameters(), lr=config.learning_rate)
    batches = _batches(data, config.batch_size, total_steps, data.seed) if needs_gradients else []
    x_all = torch.from_numpy(np.ascontiguousarray(data.train_x, dtype=np.float32))
    y_all = torch.from_numpy(np.asarray(data.train_y, dtype=np.int64))
    losses: list[float] = []
    callbacks.on_train_begin()
    for step in range(total_steps):
        callbacks.on_step_begin(step)
        optimizer.zero_grad()
        if needs_gradients:
            index = torch.from_numpy(batches[step])
            if mixer is not None:
                # Crafted after on_step_begin: against the weights as INC just masked them.
                loss = mixer.loss(module, x_all[index], y_all[index])
            else:
                loss = torch.nn.functional.cross_entropy(module(x_all[index]), y_all[index])
            loss.backward()
            losses.append(float(loss.detach()))
        callbacks.on_before_optimizer_step()
        if update_weights:
            optimizer.step()
        callbacks.on_after_optimizer_step()
        callbacks.on_step_end()
    callbacks.on_train_end()
    if mixer is not None:
        adversarial_facts.update(mixer.facts())
    return losses


def fine_tune(
    model: onnx.ModelProto, config: PruneConfig, data: CompressionData
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Fine-tunes the weights through the bridge (Adam, ``config.steps`` steps), keeping zeros.

    Used after physical channel removal: the smaller graph is converted, trained on
    the training split, and written back. Weights that are exactly zero stay zero, so
    an earlier pruning is not undone. With ``config.adversarial_epsilon`` > 0 each batch
    is partly made of PGD examples (:mod:`.adversarial_training`).
    """
    torch = import_torch()
    bridge = _bridge()
    if len(data.train_x) == 0:
        raise CompressionError("fine-tuning needs training samples; none given")
    try:
        bridged = bridge.convert(model)
    except Exception as error:
        raise CompressionError(f"the bridge cannot convert this model: {error}") from error
    module = bridged.module
    module.eval()
    params = dict(module.named_parameters())
    masks = {
        name: (params[name].detach() != 0).to(params[name].dtype)
        for name in bridged.weights.values()
        if name in params and params[name].dim() > 1
    }
    from .adversarial_training import mixer_for

    mixer = mixer_for(torch, config, data)
    optimizer = torch.optim.Adam(module.parameters(), lr=config.learning_rate)
    x_all = torch.from_numpy(np.ascontiguousarray(data.train_x, dtype=np.float32))
    y_all = torch.from_numpy(np.asarray(data.train_y, dtype=np.int64))
    losses = []
    started = time.perf_counter()
    for batch in _batches(data, config.batch_size, config.steps, data.seed):
        index = torch.from_numpy(batch)
        optimizer.zero_grad()
        if mixer is not None:
            loss = mixer.loss(module, x_all[index], y_all[index])
        else:
            loss = torch.nn.functional.cross_entropy(module(x_all[index]), y_all[index])
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for name, mask in masks.items():
                params[name].mul_(mask)
        losses.append(float(loss.detach()))
    try:
        tuned = bridge.write_back(model, bridged)
    except Exception as error:
        raise CompressionError(f"writing the fine-tuned weights back failed: {error}") from error
    facts: dict[str, Any] = {
        "steps": config.steps,
        "loss_first": round(losses[0], 4) if losses else None,
        "loss_last": round(losses[-1], 4) if losses else None,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if mixer is not None:
        facts["adversarial"] = mixer.facts()
    return tuned, facts
