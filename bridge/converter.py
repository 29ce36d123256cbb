"""``convert``: an ONNX classifier as a differentiable torch module (``BridgedModel``)."""

from __future__ import annotations

import logging
import os
import re
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import onnx
import torch
from torch import nn

from robustedge.bridge import qdq_fusion
from robustedge.bridge.dtypes import torch_dtype
from robustedge.bridge.errors import BridgeError, UnsupportedOpsError
from robustedge.bridge.graph_module import OnnxGraphModule, Step
from robustedge.bridge.node import NodeInfo, attribute_values, tensor_proto_to_numpy
from robustedge.bridge.ops_nn import (
    LayerBinding,
    make_conv_layer,
    make_gemm_layer,
    make_matmul_layer,
)
from robustedge.bridge.registry import (
    DEFAULT_DOMAIN,
    MAX_OPSET,
    MICROSOFT_DOMAIN,
    MIN_OPSET,
    OpSpec,
    _ensure_loaded,
    lookup,
    normalize_domain,
)

logger = logging.getLogger(__name__)

GradientMode = Literal["ste", "exact"]

# Operators whose output depends on more than their inputs: never folded at convert time.
_NOT_FOLDABLE = {
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
}
_SOFTMAX_OPS = {"Softmax", "LogSoftmax"}
_LAYER_FACTORIES = {"Conv": make_conv_layer, "Gemm": make_gemm_layer, "MatMul": make_matmul_layer}


@dataclass
class BridgedModel:
    """A converted classifier and what the rest of RobustEdge needs to know about it.

    ``module`` returns logits ``[N, C]`` (before the graph's final Softmax/LogSoftmax
    when ``pre_softmax``); ``outputs`` returns what onnxruntime returns for the first
    graph output. ``weights`` maps ONNX initializer names to the qualified names of
    the ``nn.Parameter`` holding them (``layers.<node>.weight``), and ``layouts`` says
    how each parameter relates to its initializer ("same", "transpose", "reshape").
    """

    module: OnnxGraphModule
    input_name: str
    output_name: str
    pre_softmax: bool
    gradient: str
    weights: dict[str, str]
    layouts: dict[str, str] = field(default_factory=dict)
    output_dtype: torch.dtype = torch.float32

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """The first graph output for ``x`` (numpy in, numpy out, no gradient)."""
        with torch.no_grad():
            tensor = torch.from_numpy(np.ascontiguousarray(x)).to(self.module.input_dtypes[0])
            (out,) = self.module.run({self.input_name: tensor}, [self.output_name])
        if out.dtype != self.output_dtype:
            # Quantized tensors flow as floats holding integers (see ops_quantized).
            out = out.to(self.output_dtype)
        return out.detach().cpu().numpy()


def load_model(model: onnx.ModelProto | str | os.PathLike[str]) -> onnx.ModelProto:
    """The model itself, or the one stored at a path (external data resolved)."""
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, str | os.PathLike):
        try:
            return onnx.load(os.fspath(model))
        except Exception as error:
            raise BridgeError(f"cannot read ONNX model {os.fspath(model)!r}: {error}") from error
    raise TypeError(f"expected an onnx.ModelProto or a path, got {type(model).__name__}")


def model_opsets(model: onnx.ModelProto) -> dict[str, int]:
    """Opset version per (normalized) domain; a missing default domain means the newest."""
    opsets = {normalize_domain(entry.domain): entry.version for entry in model.opset_import}
    opsets.setdefault(DEFAULT_DOMAIN, MAX_OPSET)
    return opsets


def find_unsupported(model: onnx.ModelProto) -> list[str]:
    """Every operator of the main graph without an implementation, as "domain::Op"."""
    _ensure_loaded()
    opsets = model_opsets(model)
    missing = set()
    for node in model.graph.node:
        domain = normalize_domain(node.domain)
        if lookup(domain, node.op_type, opsets.get(domain, 1)) is None:
            missing.add(f"{domain}::{node.op_type}")
    return sorted(missing)


def _topological_order(graph: onnx.GraphProto, available: set[str]) -> list[onnx.NodeProto]:
    # ONNX requires sorted nodes, but exporters occasionally emit them out of order.
    producers = {out: i for i, node in enumerate(graph.node) for out in node.output if out}
    waiting: Counter[int] = Counter()
    consumers: dict[int, list[int]] = {}
    for i, node in enumerate(graph.node):
        for name in set(node.input):
            if name and name not in available and name in producers:
                waiting[i] += 1
                consumers.setdefault(producers[name], []).append(i)
    ready = deque(i for i in range(len(graph.node)) if waiting[i] == 0)
    order = []
    while ready:
        i = ready.popleft()
        order.append(graph.node[i])
        for j in consumers.get(i, []):
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
    if len(order) != len(graph.node):
        raise BridgeError("the graph has a cycle or a node reading an undefined tensor")
    return order


def _layer_key(node: onnx.NodeProto, index: int, taken: set[str]) -> str:
    base = re.sub(r"\W", "_", node.name) if node.name else f"{node.op_type.lower()}_{index}"
    base = base.strip("_") or f"{node.op_type.lower()}_{index}"
    if base[0].isdigit():
        base = f"n_{base}"
    key, suffix = base, 1
    while key in taken:
        key, suffix = f"{base}_{suffix}", suffix + 1
    taken.add(key)
    return key


# Operators that may sit between the softmax and the graph output without changing
# which class wins: requantization of the probabilities (QDQ graphs), reshapes.
_AFTER_SOFTMAX = {"QuantizeLinear", "DequantizeLinear", "Identity", "Flatten", "Reshape", "Squeeze"}
LOGITS_TENSOR = "robustedge_bridge_logits"


def _logits_tensor(
    graph: onnx.GraphProto, producer: dict[str, onnx.NodeProto], opsets: dict[str, int]
) -> tuple[str, bool, onnx.NodeProto | None]:
    """The tensor attacks should differentiate: the graph output, or what fed its softmax.

    Returns (tensor name, pre_softmax, extra node to evaluate). The extra node exists
    for com.microsoft QLinearSoftmax, whose input is quantized: the logits are its
    dequantized input.
    """
    name = graph.output[0].name
    node = producer.get(name)
    while node is not None and node.op_type in _AFTER_SOFTMAX and node.input:
        node = producer.get(node.input[0])
    if node is None:
        return name, False, None
    domain = normalize_domain(node.domain)
    axis = next(
        (onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), None
    )
    if domain == MICROSOFT_DOMAIN and node.op_type == "QLinearSoftmax":
        if axis not in (None, -1, 1):
            return name, False, None
        dequantize = onnx.helper.make_node(
            "DequantizeLinear", list(node.input[:3]), [LOGITS_TENSOR], name=LOGITS_TENSOR
        )
        return LOGITS_TENSOR, True, dequantize
    if node.op_type not in _SOFTMAX_OPS or domain != DEFAULT_DOMAIN:
        return name, False, None
    opset = opsets[DEFAULT_DOMAIN]
    # Softmax over the class axis only: opset < 13 flattens from `axis` (default 1),
    # opset >= 13 normalizes along `axis` (default -1, the class axis of [N, C]).
    class_axis = (axis in (None, 1)) if opset < 13 else (axis in (None, -1, 1))
    if not class_axis:
        return name, False, None
    return node.input[0], True, None


def convert(
    model: onnx.ModelProto | str | os.PathLike[str],
    *,
    gradient: GradientMode = "ste",
    fuse_qdq: bool = True,
) -> BridgedModel:
    """Converts an ONNX classifier into a differentiable torch module.

    ``gradient`` selects the backward pass of quantizing operators ("ste": clamped
    straight-through estimator, "exact": zero). ``fuse_qdq`` first rewrites QDQ node
    groups into the integer operators onnxruntime runs for them (see ``qdq_fusion``),
    so that a QDQ model's forward pass matches onnxruntime's instead of a float
    simulation that can differ by a quantization step.

    Raises ``UnsupportedOpsError`` (naming every unsupported operator) before doing any
    work when the graph uses operators the bridge lacks, and ``BridgeError`` for other
    conversion failures.
    """
    if gradient not in ("ste", "exact"):
        raise ValueError(f"gradient must be 'ste' or 'exact', not {gradient!r}")
    proto = load_model(model)
    if fuse_qdq:
        proto, _ = qdq_fusion.fuse_qdq(proto)
    graph = proto.graph
    opsets = model_opsets(proto)
    if not MIN_OPSET <= opsets[DEFAULT_DOMAIN] <= MAX_OPSET:
        logger.warning(
            "model imports opset %d; the bridge is tested on opsets %d-%d",
            opsets[DEFAULT_DOMAIN],
            MIN_OPSET,
            MAX_OPSET,
        )
    unsupported = find_unsupported(proto)
    if unsupported:
        raise UnsupportedOpsError(unsupported)
    if not graph.output:
        raise BridgeError("the graph has no outputs")

    initializers = {init.name: init for init in graph.initializer}
    # Old model-zoo graphs list initializers as graph inputs too; those are constants.
    real_inputs = [value for value in graph.input if value.name not in initializers]
    if not real_inputs:
        raise BridgeError("the graph has no input that is not an initializer")
    input_dtypes = [torch_dtype(value.type.tensor_type.elem_type) for value in real_inputs]

    order = _topological_order(graph, {v.name for v in graph.input} | set(initializers))
    producer = {out: node for node in order for out in node.output if out}
    logits_name, pre_softmax, logits_node = _logits_tensor(graph, producer, opsets)
    if logits_node is not None:
        order.append(logits_node)

    uses = Counter(name for node in order for name in node.input if name)
    graph_outputs = {value.name for value in graph.output}

    constants: dict[str, torch.Tensor] = {
        name: torch.from_numpy(tensor_proto_to_numpy(init)) for name, init in initializers.items()
    }
    layers: dict[str, nn.Module] = {}
    weights: dict[str, str] = {}
    layouts: dict[str, str] = {}
    steps: list[Step] = []
    taken: set[str] = set()

    # Exporters sometimes route a weight through Identity (shared or renamed
    # parameters); the layer then owns the initializer behind it.
    aliases = {
        node.output[0]: node.input[0]
        for node in order
        if node.op_type == "Identity"
        and node.input[0] in initializers
        and uses[node.input[0]] == 1
        and node.input[0] not in graph_outputs
    }

    def owned_initializer(name: str) -> np.ndarray | None:
        # A layer may own an initializer only if nothing else reads it.
        source = aliases.get(name, name)
        if source not in initializers or uses[name] != 1 or name in graph_outputs:
            return None
        value = constants[source]
        return value.numpy() if value.dtype == torch.float32 else None

    for index, node in enumerate(order):
        domain = normalize_domain(node.domain)
        spec = lookup(domain, node.op_type, opsets.get(domain, 1))
        assert spec is not None  # find_unsupported checked every node
        info = NodeInfo(
            op_type=node.op_type,
            domain=domain,
            name=node.name or f"{node.op_type}_{index}",
            opset=opsets.get(domain, 1),
            gradient=gradient,
            attrs=attribute_values(node),
        )
        info.attrs["_n_outputs"] = len(node.output)
        inputs = list(node.input)
        if spec.prepare is not None:
            inputs = spec.prepare(info, inputs, constants)
        binding = _bind_layer(spec, info, inputs, owned_initializer)
        layer_key = None
        if binding is not None:
            layer_key = _layer_key(node, index, taken)
            layers[layer_key] = binding.layer
            for input_index, (param, layout) in binding.params.items():
                source = aliases.get(inputs[input_index], inputs[input_index])
                weights[source] = f"layers.{layer_key}.{param}"
                layouts[source] = layout
                constants.pop(source, None)
                inputs[input_index] = ""
        step = Step(
            info, spec.since_version, tuple(inputs), tuple(node.output), spec.parametric, layer_key
        )
        if binding is None and _fold(step, spec, constants):
            continue
        steps.append(step)

    # Keep only constants that something still reads.
    read = {name for step in steps for name in step.inputs} | graph_outputs | {logits_name}
    constants = {name: value for name, value in constants.items() if name in read}

    module = OnnxGraphModule(
        steps,
        constants,
        layers,
        [value.name for value in real_inputs],
        input_dtypes,
        logits_name,
    ).eval()
    if len(real_inputs) == 1:
        _smoke_test(module, real_inputs[0], logits_name)
    output_type = graph.output[0].type.tensor_type.elem_type
    output_dtype = torch_dtype(output_type) if output_type else torch.float32
    logger.info(
        "converted %d nodes into %d steps, %d torch layers (pre_softmax=%s, gradient=%s)",
        len(order),
        len(steps),
        len(layers),
        pre_softmax,
        gradient,
    )
    return BridgedModel(
        module=module,
        input_name=real_inputs[0].name,
        output_name=graph.output[0].name,
        pre_softmax=pre_softmax,
        gradient=gradient,
        weights=weights,
        layouts=layouts,
        output_dtype=output_dtype,
    )


def _smoke_test(module: OnnxGraphModule, value: onnx.ValueInfoProto, logits: str) -> None:
    """Runs the logits once on a zero batch, so that an operator whose attributes the
    bridge cannot honour fails here (as a BridgeError) rather than inside an attack.
    Skipped when a dimension other than the first (the batch) is unknown."""
    dims = value.type.tensor_type.shape.dim
    if not dims or any(not d.HasField("dim_value") for d in dims[1:]):
        return
    shape = [d.dim_value if d.HasField("dim_value") else 1 for d in dims]
    sample = torch.zeros(shape, dtype=module.input_dtypes[0])
    try:
        with torch.no_grad():
            module.run({value.name: sample}, [logits])
    except Exception as error:
        raise BridgeError(
            f"the converted graph fails on a zero input of shape {shape}: "
            f"{type(error).__name__}: {error}"
        ) from error


def _bind_layer(spec: OpSpec, info: NodeInfo, inputs: list[str], owned) -> LayerBinding | None:
    """A torch layer for Conv/Gemm/MatMul nodes whose weight is a private initializer."""
    factory = _LAYER_FACTORIES.get(info.op_type)
    if factory is None or not spec.parametric or len(inputs) < 2:
        return None
    weight = owned(inputs[1])
    if weight is None:
        return None
    if info.op_type == "MatMul" and weight.ndim != 2:
        return None
    if info.op_type == "Gemm" and weight.ndim != 2:
        return None
    bias = owned(inputs[2]) if len(inputs) > 2 and inputs[2] else None
    return factory(info, weight, bias)


def _fold(step: Step, spec: OpSpec, constants: dict[str, torch.Tensor]) -> bool:
    """Evaluates a node whose inputs are all constants once, at conversion time."""
    if step.node.op_type in _NOT_FOLDABLE or any(
        isinstance(value, onnx.GraphProto) for value in step.node.attrs.values()
    ):
        return False
    if not all(name == "" or name in constants for name in step.inputs):
        return False
    args = [constants[name] if name else None for name in step.inputs]
    try:
        with torch.no_grad():
            result = (
                spec.handler(step.node, args, None)
                if spec.parametric
                else spec.handler(step.node, args)
            )
    except Exception as error:  # evaluated again at run time, where errors surface
        logger.debug("could not fold %s: %s", step.node.name, error)
        return False
    if isinstance(result, torch.Tensor):
        result = (result,)
    for name, value in zip(step.outputs, result, strict=False):
        if name:
            constants[name] = value
    return True
