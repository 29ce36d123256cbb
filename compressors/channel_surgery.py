"""Filter (channel) pruning that physically removes channels from an ONNX graph.

Masking weights to zero changes neither the file size nor the latency in
onnxruntime; removing a Conv's output channels, and the matching input channels of
everything that reads them, does both. This module finds which channels can be
removed and rewrites the initializers with numpy; the node structure stays as uploaded.

How channels are tracked. Walking the graph in topological order, every Conv output
starts a *channel group*: a set of tensors that share one channel axis. The group
follows the tensor through channel-preserving ops (activations, pooling,
BatchNormalization, per-channel Mul/Add constants, depthwise Conv) and ends at
consumers that can drop input channels (Conv input channels; Flatten/Reshape followed
by Gemm/MatMul, where each channel is a block of spatial positions). A residual Add of
two grouped tensors merges their groups, so every producer feeding the sum loses the
same channels and the sum keeps every channel any of them still needs. Anything the
walk does not understand (Concat, a graph output, a shared initializer, grouped
convolutions, ...) *freezes* the group: it keeps all its channels. Graph inputs are
never pruned.

Channel importance: the L1 or L2 norm of each output filter (Li et al., "Pruning
Filters for Efficient ConvNets", ICLR 2017) or its distance to the layer's geometric
median (FPGM, He et al., CVPR 2019), normalised per producer and summed over the
producers of a merged group.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from .errors import CompressionError
from .onnx_graph import attribute, initializers, replace_initializer, to_array, weight_layers

logger = logging.getLogger(__name__)

# Unary ops that keep the channel axis as it is.
_PASSTHROUGH = {
    "Relu",
    "LeakyRelu",
    "Elu",
    "Selu",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Tanh",
    "Softplus",
    "Clip",
    "Gelu",
    "Mish",
    "Dropout",
    "Identity",
    "MaxPool",
    "AveragePool",
    "LpPool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Abs",
    "Neg",
    "Exp",
    "Sqrt",
    "Cast",
}
_ELEMENTWISE_BINARY = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum"}
_FLATTENING = {"Flatten", "Reshape"}


@dataclass
class _Slice:
    """An initializer whose ``axis`` is indexed by the group's channels.

    ``block`` > 1: each channel owns ``block`` consecutive entries (flattened features).
    """

    initializer: str
    axis: int
    block: int = 1


@dataclass
class _Group:
    channels: int
    producers: list[str] = field(default_factory=list)  # Conv weight initializers (axis 0)
    slices: list[_Slice] = field(default_factory=list)
    group_attrs: list[int] = field(default_factory=list)  # node indices of depthwise Convs
    reshape_shapes: list[tuple[str, int]] = field(default_factory=list)  # (shape init, block)
    frozen: str | None = None  # why the group keeps all channels

    def freeze(self, reason: str) -> None:
        if self.frozen is None:
            self.frozen = reason


@dataclass
class ChannelPlan:
    """Which channels each prunable group keeps."""

    groups: list[_Group]
    keep: dict[int, np.ndarray]  # group index -> sorted kept channel indices

    def summary(self) -> list[dict[str, Any]]:
        out = []
        for index, group in enumerate(self.groups):
            kept = len(self.keep[index]) if index in self.keep else group.channels
            out.append(
                {
                    "producers": list(group.producers),
                    "channels_before": group.channels,
                    "channels_after": kept,
                    "frozen": group.frozen,
                    "kept": self.keep[index].tolist() if index in self.keep else None,
                }
            )
        return out


class _GroupTable:
    """Union-find over channel groups."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.groups: list[_Group] = []

    def new(self, channels: int) -> int:
        self.parent.append(len(self.parent))
        self.groups.append(_Group(channels))
        return len(self.parent) - 1

    def find(self, index: int) -> int:
        while self.parent[index] != index:
            self.parent[index] = self.parent[self.parent[index]]
            index = self.parent[index]
        return index

    def get(self, index: int) -> _Group:
        return self.groups[self.find(index)]

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        ga, gb = self.groups[ra], self.groups[rb]
        if ga.channels != gb.channels:
            ga.freeze("merged tensors with different channel counts")
        gb_fields = (gb.producers, gb.slices, gb.group_attrs, gb.reshape_shapes)
        ga.producers += gb_fields[0]
        ga.slices += gb_fields[1]
        ga.group_attrs += gb_fields[2]
        ga.reshape_shapes += gb_fields[3]
        if gb.frozen:
            ga.freeze(gb.frozen)
        self.parent[rb] = ra
        return ra

    def roots(self) -> list[int]:
        return sorted({self.find(i) for i in range(len(self.parent))})


def _per_channel_constant(array: np.ndarray, channels: int) -> int | None:
    """The axis of a constant that broadcasts per channel against NCHW, or None."""
    shape = array.shape
    if array.size == 1:
        return -1  # scalar: broadcasts, nothing to slice
    if array.size != channels:
        return None
    # [C,1,1] / [C,1] broadcast from the right against NCHW; [1,C,1,1] is explicit.
    if len(shape) in (2, 3) and shape[0] == channels:
        return 0
    if len(shape) == 4 and shape[1] == channels:
        return 1
    return None


def analyse(model: onnx.ModelProto) -> _GroupTable:
    """Builds the channel groups of ``model`` (see the module docstring)."""
    inits = initializers(model)
    init_uses = Counter(name for node in model.graph.node for name in node.input)
    table = _GroupTable()
    group_of: dict[str, int] = {}  # tensor -> group (channel axis 1)
    flat_of: dict[str, int] = {}  # flattened tensor -> group (channel blocks on axis 1)
    graph_outputs = {value.name for value in model.graph.output}

    def freeze_inputs(node: onnx.NodeProto, reason: str) -> None:
        for name in node.input:
            if name in group_of:
                table.get(group_of[name]).freeze(f"{reason} ({node.op_type} {node.name})")
            if name in flat_of:
                table.get(flat_of[name]).freeze(f"{reason} ({node.op_type} {node.name})")

    for node_index, node in enumerate(model.graph.node):
        op = node.op_type
        data_in = node.input[0] if node.input else ""
        if op == "Conv" and len(node.input) > 1 and node.input[1] in inits:
            weight_name = node.input[1]
            weight = to_array(inits[weight_name])
            groups_attr = int(attribute(node, "group", 1))  # type: ignore[call-overload]
            shared = init_uses[weight_name] > 1
            bias = node.input[2] if len(node.input) > 2 and node.input[2] else ""
            if bias and (bias not in inits or init_uses[bias] > 1):
                shared = True
            if groups_attr == 1:
                if data_in in group_of:
                    table.get(group_of[data_in]).slices.append(_Slice(weight_name, 1))
                    if shared:
                        table.get(group_of[data_in]).freeze("shared Conv weight")
                elif data_in in flat_of:
                    table.get(flat_of[data_in]).freeze("Conv on a flattened tensor")
                out_group = table.new(int(weight.shape[0]))
                group = table.get(out_group)
                group.producers.append(weight_name)
                group.slices.append(_Slice(weight_name, 0))
                if bias:
                    group.slices.append(_Slice(bias, 0))
                if shared:
                    group.freeze("shared Conv weight or bias")
                group_of[node.output[0]] = out_group
            elif (
                data_in in group_of
                and groups_attr == table.get(group_of[data_in]).channels
                and weight.shape[0] == groups_attr
                and not shared
            ):
                # Depthwise convolution (one filter per channel): channels pass through.
                gid = group_of[data_in]
                group = table.get(gid)
                group.slices.append(_Slice(weight_name, 0))
                if bias:
                    group.slices.append(_Slice(bias, 0))
                group.group_attrs.append(node_index)
                group_of[node.output[0]] = gid
            else:
                freeze_inputs(node, "grouped convolution")
            continue
        grouped_inputs = [name for name in node.input if name in group_of]
        flat_inputs = [name for name in node.input if name in flat_of]
        if not grouped_inputs and not flat_inputs:
            continue
        if op in _PASSTHROUGH and len(grouped_inputs) == 1 and data_in in group_of:
            extra = [name for name in node.input[1:] if name and name not in inits]
            if extra:
                freeze_inputs(node, "non-constant operand")
            else:
                group_of[node.output[0]] = group_of[data_in]
            continue
        if op == "BatchNormalization" and data_in in group_of:
            gid = group_of[data_in]
            params = list(node.input[1:5])
            if all(p in inits and init_uses[p] == 1 for p in params) and len(node.output) == 1:
                for p in params:
                    table.get(gid).slices.append(_Slice(p, 0))
                group_of[node.output[0]] = gid
            else:
                freeze_inputs(node, "BatchNormalization with shared or training outputs")
            continue
        if op == "PRelu" and data_in in group_of and len(node.input) == 2:
            slope = node.input[1]
            gid = group_of[data_in]
            if slope in inits and init_uses[slope] == 1:
                axis = _per_channel_constant(to_array(inits[slope]), table.get(gid).channels)
                if axis is not None:
                    if axis >= 0:
                        table.get(gid).slices.append(_Slice(slope, axis))
                    group_of[node.output[0]] = gid
                    continue
            freeze_inputs(node, "PRelu slope not per channel")
            continue
        if op in _ELEMENTWISE_BINARY and not flat_inputs:
            others = [name for name in node.input if name and name not in group_of]
            if all(name in inits for name in others):
                root = group_of[grouped_inputs[0]]
                for name in grouped_inputs[1:]:
                    root = table.union(root, group_of[name])  # residual sums share channels
                ok = True
                for name in others:
                    axis = _per_channel_constant(to_array(inits[name]), table.get(root).channels)
                    if axis is None or (axis >= 0 and init_uses[name] > 1):
                        ok = False
                    elif axis >= 0:
                        table.get(root).slices.append(_Slice(name, axis))
                if ok:
                    group_of[node.output[0]] = root
                    continue
            freeze_inputs(node, "elementwise op with a non-channel operand")
            continue
        if op in _FLATTENING and data_in in group_of and len(grouped_inputs) == 1:
            gid = group_of[data_in]
            if op == "Flatten" and int(attribute(node, "axis", 1)) == 1:  # type: ignore[call-overload]
                flat_of[node.output[0]] = gid
                continue
            if op == "Reshape" and len(node.input) > 1 and node.input[1] in inits:
                shape = to_array(inits[node.input[1]]).tolist()
                if len(shape) == 2 and init_uses[node.input[1]] == 1:
                    flat_of[node.output[0]] = gid
                    if shape[1] != -1:
                        table.get(gid).reshape_shapes.append((node.input[1], 0))
                    continue
            freeze_inputs(node, "reshape that does not flatten to [N, features]")
            continue
        if op in ("Gemm", "MatMul") and data_in in flat_of and len(flat_inputs) == 1:
            gid = flat_of[data_in]
            weight_name = node.input[1] if len(node.input) > 1 else ""
            group = table.get(gid)
            if weight_name in inits and init_uses[weight_name] == 1:
                weight = to_array(inits[weight_name])
                trans_b = op == "Gemm" and int(attribute(node, "transB", 0)) == 1  # type: ignore[call-overload]
                trans_a = op == "Gemm" and int(attribute(node, "transA", 0)) == 1  # type: ignore[call-overload]
                axis = 1 if trans_b else 0
                features = weight.shape[axis] if weight.ndim == 2 else 0
                if not trans_a and features and features % group.channels == 0:
                    block = features // group.channels
                    group.slices.append(_Slice(weight_name, axis, block))
                    group.reshape_shapes = [(s, block) for s, _ in group.reshape_shapes]
                    continue
            freeze_inputs(node, "fully connected layer that cannot drop input features")
            continue
        freeze_inputs(node, "consumer that needs every channel")
    for name in graph_outputs:
        if name in group_of:
            table.get(group_of[name]).freeze("graph output")
        if name in flat_of:
            table.get(flat_of[name]).freeze("graph output")
    return table


def _filter_scores(filters: np.ndarray, criterion: str) -> np.ndarray:
    """Importance of each filter (row): higher is kept first."""
    if criterion == "l1":
        return np.abs(filters).sum(axis=1)
    if criterion == "geometric_median":
        # FPGM (He et al., CVPR 2019): a filter close to all others (near the geometric
        # median of the layer's filters) is replaceable by them; its summed distance to
        # the others is its importance.
        squared = (filters**2).sum(axis=1)
        gram = filters @ filters.T
        distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * gram, 0.0))
        return distances.sum(axis=1)
    return np.sqrt((filters**2).sum(axis=1))


def _importance(weights: dict[str, np.ndarray], group: _Group, norm: str) -> np.ndarray:
    score = np.zeros(group.channels, dtype=np.float64)
    for name in group.producers:
        filters = weights[name].reshape(weights[name].shape[0], -1).astype(np.float64)
        per_channel = _filter_scores(filters, norm)
        mean = per_channel.mean()
        score += per_channel / mean if mean > 0 else per_channel
    return score


def _conv_weight_sizes(model: onnx.ModelProto) -> dict[str, int]:
    """Element counts of the Conv weights: the layers whose channels are pruned."""
    return {
        layer.initializer: layer.values.size
        for layer in weight_layers(model)
        if layer.op_type == "Conv"
    }


def _prunable_groups(model: onnx.ModelProto) -> tuple[list[_Group], list[int]]:
    """(every channel group, indices of those whose channels can be removed).

    Raises CompressionError naming the reasons when no group can lose channels.
    """
    table = analyse(model)
    groups = [table.groups[root] for root in table.roots()]
    prunable = [i for i, g in enumerate(groups) if g.frozen is None and g.producers]
    if not prunable:
        reasons = sorted({g.frozen or "" for g in groups if g.frozen})
        raise CompressionError(
            "no Conv output channels can be removed in this graph"
            + (f" ({'; '.join(reasons)})" if reasons else "")
        )
    return groups, prunable


def _conv_order(model: onnx.ModelProto) -> dict[str, int]:
    """Conv weight initializer -> position of its first Conv in the graph."""
    order: dict[str, int] = {}
    for index, node in enumerate(model.graph.node):
        if node.op_type == "Conv" and len(node.input) > 1:
            order.setdefault(node.input[1], index)
    return order


def prunable_channel_layers(model: onnx.ModelProto) -> list[str]:
    """The Conv weight initializers whose output channels can be removed, in graph order.

    One name per prunable channel group: its first producer in graph order. Producers
    merged by a residual sum share one group and must lose the same channels, so one
    fraction per group is all a caller can choose (``PruneConfig.layer_sparsity``
    accepts any producer of a group as its name). Empty when nothing can be pruned.
    """
    try:
        groups, prunable = _prunable_groups(model)
    except CompressionError:
        return []
    position = _conv_order(model)
    firsts = [min(groups[i].producers, key=lambda name: position.get(name, 0)) for i in prunable]
    return sorted(firsts, key=lambda name: position.get(name, 0))


def _group_fractions(
    model: onnx.ModelProto,
    groups: list[_Group],
    prunable: list[int],
    layer_fractions: Mapping[str, float],
    default: float,
) -> dict[int, float]:
    """The filter fraction of every prunable group: named in ``layer_fractions`` or
    ``default``. Unknown, unprunable or contradictory names raise CompressionError."""
    group_of = {name: i for i in prunable for name in groups[i].producers}
    frozen = {name: g.frozen for g in groups if g.frozen for name in g.producers}
    listed = ", ".join(prunable_channel_layers(model))
    fractions: dict[int, float] = {}
    named_by: dict[int, str] = {}
    for name, fraction in layer_fractions.items():
        if name in frozen:
            raise CompressionError(
                f"layer_sparsity names {name!r}, whose channels cannot be removed "
                f"({frozen[name]}); prunable layers: {listed}"
            )
        if name not in group_of:
            raise CompressionError(
                f"layer_sparsity names {name!r}, which is not a prunable Conv weight; "
                f"prunable layers: {listed}"
            )
        index = group_of[name]
        if index in fractions and fractions[index] != fraction:
            raise CompressionError(
                f"layer_sparsity gives {named_by[index]!r} {fractions[index]:g} and "
                f"{name!r} {fraction:g}, but they feed one residual sum and lose the same "
                "channels; give them one fraction (or name one of them)"
            )
        fractions[index], named_by[index] = fraction, name
    return {i: fractions.get(i, default) for i in prunable}


def plan_channels(
    model: onnx.ModelProto,
    sparsity: float,
    *,
    norm: str,
    budget: str,
    round_to: int = 1,
    layer_fractions: Mapping[str, float] | None = None,
) -> tuple[ChannelPlan, dict[str, Any]]:
    """Chooses the channels to keep.

    ``budget="filters"``: every prunable group loses ``round(sparsity * channels)``
    channels. ``budget="parameters"``: one channel fraction for all groups, found by
    bisection so that the Conv layers' weights shrink by ``sparsity`` overall (a Conv
    loses output and input channels, so this fraction is below ``sparsity``).
    ``layer_fractions`` (only with ``budget="filters"``) gives named groups their own
    filter fraction (keyed by any producer's weight initializer; 0 keeps a group whole);
    the others use ``sparsity``.
    Every group keeps at least one channel. ``round_to`` > 1 rounds every kept count to
    a multiple of it (groups with no more channels than ``round_to`` are left whole):
    onnxruntime's blocked (NCHWc) convolution kernels run channel counts that are
    multiples of 8 (AVX2) or 16 (AVX-512) much faster than odd ones.
    """
    if layer_fractions is not None and budget != "filters":
        raise ValueError("layer_fractions are filter fractions: they need budget='filters'")
    groups, prunable = _prunable_groups(model)
    inits = initializers(model)
    weights = {name: to_array(inits[name]) for g in groups for name in g.producers}
    order = {i: np.argsort(-_importance(weights, groups[i], norm), kind="stable") for i in prunable}
    sizes = _conv_weight_sizes(model)
    total = sum(sizes.values())
    # How each Conv weight initializer shrinks: the product of keep ratios of the
    # groups that slice it (a Conv loses output channels to one group and input
    # channels to another).
    slicers: dict[str, list[int]] = {}
    for i in prunable:
        for s in groups[i].slices:
            if s.initializer in sizes:
                slicers.setdefault(s.initializer, []).append(i)

    def keep_count(channels: int, fraction: float) -> int:
        keep = max(1, channels - round(fraction * channels))
        if round_to > 1:
            if channels <= round_to:
                return channels
            keep = min(channels, max(round_to, round(keep / round_to) * round_to))
        return keep

    def keep_counts(fraction: float) -> dict[int, int]:
        return {i: keep_count(groups[i].channels, fraction) for i in prunable}

    def removed_fraction(counts: dict[int, int]) -> float:
        after = 0.0
        for name, size in sizes.items():
            ratio = 1.0
            for i in slicers.get(name, []):
                ratio *= counts[i] / groups[i].channels
            after += size * ratio
        return 1.0 - after / total

    if layer_fractions is not None:
        per_group = _group_fractions(model, groups, prunable, layer_fractions, sparsity)
        counts = {i: keep_count(groups[i].channels, per_group[i]) for i in prunable}
    elif budget == "filters":
        counts = keep_counts(sparsity)
    else:
        low, high = 0.0, 1.0
        best = keep_counts(0.0)
        for _ in range(40):
            mid = (low + high) / 2
            trial = keep_counts(mid)
            if removed_fraction(trial) < sparsity:
                low = mid
            else:
                high = mid
            if abs(removed_fraction(trial) - sparsity) < abs(removed_fraction(best) - sparsity):
                best = trial
        counts = best
    if all(counts[i] == groups[i].channels for i in prunable):
        asked = "layer_sparsity" if layer_fractions is not None else f"sparsity {sparsity:g}"
        raise CompressionError(
            f"{asked} removes no channel here"
            + (f" once kept counts are rounded to multiples of {round_to}" if round_to > 1 else "")
            + "; ask for more sparsity"
        )
    keep = {i: np.sort(order[i][: counts[i]]) for i in prunable}
    plan = ChannelPlan(groups=groups, keep=keep)
    info = {
        "target_removed_fraction": sparsity,
        "removed_fraction": round(removed_fraction(counts), 6),
        "budget": budget,
        "criterion": norm,
        "round_to": round_to,
    }
    if layer_fractions is not None:
        # What each group really lost once counts were rounded, keyed like
        # prunable_channel_layers (the group's first producer in graph order).
        position = _conv_order(model)
        info["layer_filters_removed"] = {
            min(groups[i].producers, key=lambda name: position.get(name, 0)): round(
                1 - counts[i] / groups[i].channels, 6
            )
            for i in sorted(
                prunable, key=lambda i: min(position.get(n, 0) for n in groups[i].producers)
            )
        }
    return plan, info


def apply_plan(model: onnx.ModelProto, plan: ChannelPlan) -> onnx.ModelProto:
    """A copy of ``model`` with the plan's channels physically removed."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    inits = initializers(out)
    arrays: dict[str, np.ndarray] = {}
    for index, kept in plan.keep.items():
        group = plan.groups[index]
        if len(kept) == group.channels:
            continue
        for s in group.slices:
            array = arrays.get(s.initializer)
            if array is None:
                array = to_array(inits[s.initializer])
            if s.block > 1:
                indices = (kept[:, None] * s.block + np.arange(s.block)[None, :]).ravel()
            else:
                indices = kept
            arrays[s.initializer] = np.take(array, indices, axis=s.axis)
        for node_index in group.group_attrs:
            node = out.graph.node[node_index]
            for attr in node.attribute:
                if attr.name == "group":
                    attr.i = len(kept)
        for shape_name, block in group.reshape_shapes:
            shape = to_array(inits[shape_name]).copy()
            shape[1] = len(kept) * max(block, 1)
            arrays[shape_name] = shape
    for name, array in arrays.items():
        replace_initializer(out, name, np.ascontiguousarray(array))
    # Intermediate shape annotations now carry stale channel counts; they are optional.
    del out.graph.value_info[:]
    return out


def prune_channels(
    model: onnx.ModelProto,
    sparsity: float,
    *,
    norm: str = "l2",
    budget: str = "parameters",
    round_to: int = 1,
    layer_fractions: Mapping[str, float] | None = None,
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Removes the least important output channels; returns the model and a summary."""
    plan, info = plan_channels(
        model,
        sparsity,
        norm=norm,
        budget=budget,
        round_to=round_to,
        layer_fractions=layer_fractions,
    )
    pruned = apply_plan(model, plan)
    info["groups"] = plan.summary()
    return pruned, info


def remove_zero_channels(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Physically removes the output channels that mask-based filter pruning zeroed.

    Used after INC's filter pruning. A group with one producer loses exactly its
    all-zero filters. In a group merged by residual sums, INC chose filters per
    producer, so they rarely coincide; the group loses as many channels as its most
    pruned producer, taking first the channels zeroed in the most producers (ties:
    smallest summed L2 norm). The removed filters' biases go with them, as in
    standard filter pruning; every group keeps at least one channel.
    """
    table = analyse(model)
    inits = initializers(model)
    groups = [table.groups[root] for root in table.roots()]
    keep: dict[int, np.ndarray] = {}
    for index, group in enumerate(groups):
        if group.frozen is not None or not group.producers:
            continue
        zero_votes = np.zeros(group.channels, dtype=np.int64)
        norms = np.zeros(group.channels, dtype=np.float64)
        most_removed = 0
        for name in group.producers:
            filters = to_array(inits[name]).reshape(group.channels, -1).astype(np.float64)
            zero = np.abs(filters).sum(axis=1) == 0
            zero_votes += zero
            norms += np.sqrt((filters**2).sum(axis=1))
            most_removed = max(most_removed, int(zero.sum()))
        removed = min(most_removed, group.channels - 1)
        # lexsort: last key is primary -> most zero votes first, then smallest norm.
        order = np.lexsort((norms, -zero_votes))
        keep[index] = np.sort(order[removed:])
    plan = ChannelPlan(groups=groups, keep=keep)
    return apply_plan(model, plan), {"groups": plan.summary()}
