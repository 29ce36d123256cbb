"""Measured facts about a model variant: size, parameters, sparsity, unique weights, MACs.

Everything here is measured on the ONNX artifact that ships, not taken from a config:
sparsity is the fraction of weights that are exactly zero in the computation
(dequantized for quantized layers), over the prunable layers (Conv/Gemm/MatMul
weights, the layers pruning acts on). MACs are counted per sample from the tensor
shapes onnxruntime actually produces for a batch of one.
"""

from __future__ import annotations

import gzip
import logging
from typing import Any

import numpy as np
import onnx
from onnx import helper

from .onnx_graph import (
    MAC_OPS,
    initializers,
    input_feed_shape,
    to_array,
    weight_layers,
)

logger = logging.getLogger(__name__)

_CONV_LIKE = {"Conv", "ConvTranspose", "QLinearConv", "ConvInteger"}


def model_facts(model: onnx.ModelProto, *, with_macs: bool = True) -> dict[str, Any]:
    """Facts for a report: sizes, parameters, sparsity (global and per layer), unique weights, MACs.

    Keys: ``size_bytes``, ``gzip_bytes``, ``parameters`` (elements in all
    initializers), ``prunable_parameters`` and ``conv_parameters`` (weights of the
    prunable / convolution layers), ``nonzero_prunable_parameters``, ``sparsity``,
    ``per_layer_sparsity`` and ``unique_weights_per_layer`` (by weight initializer name),
    ``max_unique_weights``, ``macs`` (per sample; None when shapes cannot be measured).
    """
    blob = model.SerializeToString()
    layers = weight_layers(model)
    total = sum(int(np.prod(init.dims)) for init in model.graph.initializer)
    prunable = sum(layer.values.size for layer in layers)
    zeros = sum(int(layer.zero_mask.sum()) for layer in layers)
    facts: dict[str, Any] = {
        "size_bytes": len(blob),
        "gzip_bytes": len(gzip.compress(blob, compresslevel=6, mtime=0)),
        "parameters": total,
        "prunable_parameters": prunable,
        "conv_parameters": sum(
            layer.values.size for layer in layers if layer.op_type in _CONV_LIKE
        ),
        "nonzero_prunable_parameters": prunable - zeros,
        "sparsity": round(zeros / prunable, 6) if prunable else 0.0,
        "per_layer_sparsity": {
            layer.initializer: round(float(layer.zero_mask.mean()), 6) for layer in layers
        },
        "unique_weights_per_layer": {layer.initializer: layer.unique_values for layer in layers},
        "max_unique_weights": max((layer.unique_values for layer in layers), default=0),
        "quantized": any(layer.quantized for layer in layers),
    }
    if with_macs:
        facts["macs"] = count_macs(model)
    return facts


def tensor_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Every node output's shape for one all-zeros sample, measured with onnxruntime.

    Static shape inference stops at contrib ops (QLinearAdd and friends) that
    quantized graphs contain; running the graph once is exact for anything
    onnxruntime can run.
    """
    import onnxruntime as ort

    name, shape, elem_type = input_feed_shape(model)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    outputs = [out for node in probe.graph.node for out in node.output if out]
    del probe.graph.output[:]
    for out in outputs:
        probe.graph.output.append(helper.make_empty_tensor_value_info(out))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    feed = np.zeros(shape, dtype=helper.tensor_dtype_to_np_dtype(elem_type))
    results = session.run(outputs, {name: feed})
    shapes = {out: tuple(np.shape(value)) for out, value in zip(outputs, results, strict=True)}
    shapes[name] = tuple(shape)
    return shapes


def count_macs(model: onnx.ModelProto) -> int | None:
    """Multiply-accumulates per sample of the Conv/Gemm/MatMul layers (float or quantized)."""
    try:
        shapes = tensor_shapes(model)
    except Exception as error:  # any model ORT cannot run: MACs are simply unknown
        logger.info("MACs not counted: %s", error)
        return None
    inits = initializers(model)
    weights = {layer.node_output: layer.values.shape for layer in weight_layers(model)}
    total = 0
    for node in model.graph.node:
        if node.op_type not in MAC_OPS:
            continue
        out_shape = shapes.get(node.output[0])
        if out_shape is None:
            return None
        out_elements = int(np.prod(out_shape))
        w_shape = weights.get(node.output[0])
        if node.op_type in _CONV_LIKE and w_shape is not None:
            if node.op_type == "ConvTranspose":
                in_shape = shapes.get(node.input[0])
                if in_shape is None:
                    return None
                total += int(np.prod(in_shape)) * int(np.prod(w_shape[1:]))
            else:
                total += out_elements * int(np.prod(w_shape[1:]))
        elif w_shape is not None and out_shape:
            total += out_elements * int(np.prod(w_shape)) // max(int(out_shape[-1]), 1)
        else:
            # Activation x activation product: the reduced dimension is A's last one.
            a_name = node.input[0]
            a_shape = shapes.get(a_name) or (
                to_array(inits[a_name]).shape if a_name in inits else None
            )
            if not a_shape:
                return None
            total += out_elements * int(a_shape[-1])
    return total
